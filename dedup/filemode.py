"""File mode: deduplicate any CSV of people with the same engine as the warehouse step.

``match_file(input_csv, output_csv, id_column, fields)`` maps CSV columns to roles, normalises,
blocks, scores (model fitted on the file itself), clusters and writes ``<id_column>,cluster_id``
for every input row. Bad input is refused whole with a clear message, nothing half-written.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import pandas as pd

from dedup.blocking import candidate_pairs
from dedup.engine import Scorer, cluster_records
from dedup.model import DedupConfig, Model
from dedup.normalize import normalize_records
from kore.contracts.person_fields import PERSON_FIELDS

# the person fields a file can bring; a file names the ZIP column "zip"
ROLES = tuple("zip" if f == "zip5" else f for f in PERSON_FIELDS)


class DedupInputError(ValueError):
    """The input file cannot be deduplicated as given (message says why and where)."""


def read_input(path: Path, id_column: str, fields: dict[str, str]) -> pd.DataFrame:
    """Read and validate the CSV; every value as text."""
    unknown = sorted(set(fields) - set(ROLES))
    if unknown:
        raise DedupInputError(f"unknown role(s) {', '.join(unknown)}; known roles: {', '.join(ROLES)}")
    if not fields:
        raise DedupInputError("no fields given: map at least one role to a column (e.g. email=Email)")
    path = Path(path)
    if not path.exists():
        raise DedupInputError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DedupInputError(f"{path}: not UTF-8 (invalid byte at line {line}); re-save the file as UTF-8") from exc
    if not text.strip():
        raise DedupInputError(f"{path}: file is empty")
    # the csv module splits records itself (RFC 4180: \r\n, quoted newlines); str.splitlines() would
    # also split on U+2028, U+0085, \x0c ... inside a value and break the row apart
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, data = rows[0], [r for r in rows[1:] if r]
    if not data:
        raise DedupInputError(f"{path}: no data rows after the header")
    if id_column not in header:
        raise DedupInputError(f"{path}: id column {id_column!r} not in header ({', '.join(header)})")
    missing = sorted({c for c in fields.values() if c not in header})
    if missing:
        raise DedupInputError(f"{path}: column(s) {', '.join(missing)} not in header")
    for n, r in enumerate(data, start=2):
        if len(r) != len(header):
            raise DedupInputError(f"{path}: line {n} has {len(r)} fields, header has {len(header)}")
    df = pd.DataFrame(data, columns=header, dtype="string")
    ids = df[id_column]
    if ids.isna().any() or (ids.str.strip() == "").any():
        line = int((ids.isna() | (ids.str.strip() == "")).to_numpy().argmax()) + 2
        raise DedupInputError(f"{path}: empty id in column {id_column!r} at line {line}")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DedupInputError(f"{path}: duplicate id(s) in column {id_column!r}: {', '.join(dup.head(5))}")
    return df


def to_records(df: pd.DataFrame, id_column: str, fields: dict[str, str]) -> pd.DataFrame:
    """Input rows as the engine's records. A file has no Archtics name type, so it is inferred: a row
    with a company and no person name is a company ('C'), which the engine never merges with a
    person (else a company's row would merge with its employees' rows through the shared company and
    address)."""
    rec = pd.DataFrame({"record_id": df[id_column].astype(str), "source": "file"})
    for role, col in fields.items():
        rec["zip5" if role == "zip" else role] = df[col].replace("", pd.NA)
    if "company" in rec.columns:
        names = [c for c in ("first_name", "last_name", "full_name") if c in rec.columns]
        has_name = rec[names].notna().any(axis=1) if names else pd.Series(False, index=rec.index)
        rec["name_type"] = (rec["company"].notna() & ~has_name).map({True: "C", False: "I"})
    return normalize_records(rec)


def match_frame_scored(
    records: pd.DataFrame, cfg: DedupConfig | None = None
) -> tuple[pd.DataFrame, dict, pd.DataFrame, Model]:
    """Cluster normalised records; returns (record_id, cluster_id), counts, the scored pairs, the model."""
    cfg = cfg or DedupConfig()
    scorer = Scorer(records, cfg)
    li, ri, _ = candidate_pairs(scorer.records, cfg.max_block_size)
    levels = scorer.levels(li, ri)  # compared once: fitted on, then scored
    model = scorer.fit(li, ri, levels=levels)
    model, scores = scorer.score_calibrated(li, ri, model, levels=levels)
    clusters, _ = cluster_records(scorer.records, scores, pd.DataFrame(), cfg)
    counts = {
        "records": len(records),
        "pairs_scored": len(scores),
        "matches": int((scores["decision"] == "match").sum()),
        "possibles": int((scores["decision"] == "possible").sum()),
        "clusters": int(clusters["cluster_id"].nunique()),
    }
    return clusters[["record_id", "cluster_id"]], counts, scores, model


def match_frame(records: pd.DataFrame, cfg: DedupConfig | None = None) -> tuple[pd.DataFrame, dict]:
    """Cluster normalised records (record_id + roles); returns (record_id, cluster_id) and counts."""
    clusters, counts, _, _ = match_frame_scored(records, cfg)
    return clusters, counts


def match_file(
    input_csv: str | Path,
    output_csv: str | Path,
    id_column: str,
    fields: dict[str, str],
    config: DedupConfig | None = None,
) -> dict:
    """Deduplicate a CSV; writes id + cluster_id per input row (atomically) and returns counts."""
    df = read_input(Path(input_csv), id_column, fields)
    clusters, counts = match_frame(to_records(df, id_column, fields), config)
    out = pd.DataFrame({id_column: df[id_column]}).merge(
        clusters.rename(columns={"record_id": id_column}), on=id_column, how="left"
    )
    output_csv = Path(output_csv)
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output_csv.parent, suffix=".part")
    os.close(fd)
    out.to_csv(tmp, index=False)
    os.replace(tmp, output_csv)
    return counts
