"""recordlinkage 0.16 on a FEBRL names+address CSV: its documented unsupervised workflow (ECM).

Index: union of ``Block`` on given name + surname, surname + postcode, given name + postcode,
address_1 + postcode, suburb + surname (the same kinds of keys as Splink's run). Compare: as in the
recordlinkage FEBRL examples, Jaro-Winkler >= 0.85 for names, address lines and suburb, exact for
street number, postcode and state. Classify: ``ECMClassifier`` (binary features, EM). Clusters:
connected components of the predicted links.
"""

from __future__ import annotations

import pandas as pd
from _common import Timer, components, parse_args, read_records, write_outputs

BLOCKS = (
    ("given_name", "surname"),
    ("surname", "postcode"),
    ("given_name", "postcode"),
    ("address_1", "postcode"),
    ("suburb", "surname"),
)


def main() -> None:
    args = parse_args("recordlinkage dedup of a FEBRL records.csv")
    import recordlinkage as rl

    records = read_records(args.input)
    with Timer() as t:
        df = records.set_index("record_id")
        pairs = None
        for cols in BLOCKS:
            idx = rl.Index()
            idx.block(list(cols))
            got = idx.index(df)
            pairs = got if pairs is None else pairs.union(got)
        cmp = rl.Compare()
        for c in ("given_name", "surname", "address_1", "address_2", "suburb"):
            cmp.string(c, c, method="jarowinkler", threshold=0.85, label=c)
        for c in ("street_number", "postcode", "state"):
            cmp.exact(c, c, label=c)
        features = cmp.compute(pairs, df)
        links = rl.ECMClassifier(binarize=None).fit_predict(features)
        left = pd.Series(links.get_level_values(0).astype(str))
        right = pd.Series(links.get_level_values(1).astype(str))
        clusters = components(records["record_id"].astype(str), left, right)
    write_outputs(clusters, args, t.seconds, {"tool": "recordlinkage_ecm", "pairs_scored": int(len(pairs))})


if __name__ == "__main__":
    main()
