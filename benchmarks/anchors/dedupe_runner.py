"""dedupe 3: checks whether it can deduplicate without hand labelling (it cannot, by design).

dedupe's documented workflow is ``Dedupe(fields)`` -> ``prepare_training(data)`` -> label pairs
(``dedupe.console_label`` or ``mark_pairs``) -> ``train()`` -> ``partition()``. ``train()`` fits a
supervised logistic regression (``GridSearchCV(LogisticRegression, scoring="f1")``) on the labelled
pairs and learns blocking predicates from the labelled duplicates. There is no unsupervised mode.
Labelling from the benchmark's ground truth would hand dedupe the answers no other tool gets, and
a client deployment has nobody to label thousands of pairs per run, so dedupe is not comparable.

This runner makes that a measured fact rather than a claim: it sets up dedupe on (a sample of) the
records exactly as documented, calls ``train()`` with no labels, and reports what happens. Exit code
3 = not comparable (the benchmark reports the reason); clusters are only written if training works.
"""

from __future__ import annotations

import json
import sys

from _common import Timer, parse_args, person_fields, read_records

SAMPLE_RECORDS = 1_000
NOT_COMPARABLE = 3


def main() -> None:
    args = parse_args("dedupe 3: unsupervised feasibility check")
    import dedupe
    from dedupe import variables as v

    records = read_records(args.input).head(SAMPLE_RECORDS)
    names = person_fields(records)
    data = {
        r["record_id"]: {f: r[f] for f in names}
        for r in records.to_dict("records")  # dedupe takes a dict of dicts, None = missing
    }
    fields = [
        v.String("first_name", has_missing=True),
        v.String("last_name", has_missing=True),
        v.String("email", has_missing=True),
        v.Exact("phone", has_missing=True),
        v.String("street", has_missing=True),
        v.Exact("city", has_missing=True),
        v.Exact("zip5", has_missing=True),
        v.String("company", has_missing=True),
        v.Exact("birth_date", has_missing=True),
    ]
    with Timer() as t:
        deduper = dedupe.Dedupe(fields, num_cores=0, in_memory=True)
        deduper.prepare_training(data, sample_size=500)
        try:
            deduper.train()  # no labelled pairs: the documented workflow labels here
            error = None
        except Exception as exc:  # what dedupe raises is the evidence we report
            error = f"{type(exc).__name__}: {exc}"
    version = getattr(dedupe, "__version__", None)
    if version is None:
        from importlib.metadata import version as _v

        version = _v("dedupe")
    stats = {
        "tool": "dedupe",
        "version": version,
        "engine_seconds": round(t.seconds, 2),
        "sample_records": len(data),
        "train_without_labels": "failed" if error else "ran",
        "error": error,
        "status": "not_comparable",
        "reason": (
            "dedupe 3 has no unsupervised mode: train() fits a supervised classifier and learns "
            "blocking rules from hand-labelled pairs (active learning). Labelling from the ground "
            "truth would give it the answers; without labels train() "
            + (f"fails ({error})." if error else "runs but on no labelled data.")
        ),
    }
    args.stats.write_text(json.dumps(stats, indent=1))
    sys.exit(NOT_COMPARABLE)


if __name__ == "__main__":
    main()
