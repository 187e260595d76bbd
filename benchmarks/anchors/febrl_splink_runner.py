"""Splink 5 (DuckDB) on a FEBRL names+address CSV, following Splink's documented FEBRL workflow.

Configuration from Splink's FEBRL examples / tutorials (names and address columns only, never tuned
on the ground truth): blocking rules on first + last name, surname + postcode, given name + postcode,
street + postcode, suburb + surname; comparisons ``NameComparison`` (given name, surname),
``LevenshteinAtThresholds`` street number / postcode, ``JaroWinklerAtThresholds`` address lines and
suburb, ``ExactMatch`` state; ``estimate_probability_two_random_records_match`` from deterministic
rules (recall 0.7 as in the quickstart), u by random sampling, m by EM in two sessions (blocked on
given name + surname, then on postcode), ``predict`` and clustering at match probability 0.95.
"""

from __future__ import annotations

import logging

from _common import Timer, parse_args, read_records, write_outputs

CLUSTER_THRESHOLD = 0.95


def main() -> None:
    args = parse_args("Splink 5 dedup of a FEBRL records.csv")
    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    records = read_records(args.input)
    with Timer() as t:
        db_api = DuckDBAPI()
        sdf = db_api.register(records, dataset_display_name="records")
        settings = SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="record_id",
            blocking_rules_to_generate_predictions=[
                block_on("given_name", "surname"),
                block_on("surname", "postcode"),
                block_on("given_name", "postcode"),
                block_on("address_1", "postcode"),
                block_on("suburb", "surname"),
            ],
            comparisons=[
                cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
                cl.NameComparison("surname").configure(term_frequency_adjustments=True),
                cl.LevenshteinAtThresholds("street_number", [1]),
                cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
                cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
                cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
                cl.LevenshteinAtThresholds("postcode", [1, 2]),
                cl.ExactMatch("state"),
            ],
        )
        linker = Linker(sdf, settings, log_level=None)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("given_name", "surname", "postcode"), block_on("address_1", "surname")], recall=0.7
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
        pred = linker.inference.predict(threshold_match_weight=-10)
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, CLUSTER_THRESHOLD)
        clusters = clustered.as_pandas_dataframe()[["record_id", "cluster_id"]].astype(str)
    write_outputs(clusters, args, t.seconds, {"tool": "splink", "version": splink.__version__})


if __name__ == "__main__":
    main()
