"""`kore dedup` sub-commands on a small real warehouse: run, explain, decisions, review, evaluate."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from dedup.cli import app
from kore.config import get_settings
from kore.warehouse import connect
from tests.test_dedup_fixtures import all_records

runner = CliRunner()


def _invoke(*args):
    res = runner.invoke(app, [*args])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def test_cli_round_trip(tmp_path):
    s = get_settings(tmp_path)
    with connect(s) as wh:
        wh.replace_table("dedup", "dedup_person_records", all_records())
    wd = ["--workdir", str(tmp_path)]
    assert "records" in _invoke("run", *wd, "--policy", "first_found")
    out = _invoke("explain", "A:2001:1", "A:2002:1", *wd)
    assert "no match" in out and "household" in out and "match probability" in out
    out = _invoke("explain", "2001", "2004", *wd)  # account ids resolve to their primary names
    assert out.count("match") >= 1 and "same cluster" in out
    _invoke("forbid-match", "A:2001:1", "A:2004:1", *wd)
    _invoke("set-primary", "1002", *wd)
    _invoke("run", *wd)
    with connect(s) as wh:
        mp = wh.query_df("select * from kore_dedup.account_contact_map")
        cl = wh.query_df("select * from kore_dedup.clusters").set_index("record_id")["cluster_id"]
    assert cl["A:2001:1"] != cl["A:2004:1"]
    row = mp[mp["acct_id"] == 1002].iloc[0]
    assert (row["is_primary"], row["rule"], row["decided_by"]) == (1, "manual_primary", "person")
    bad = runner.invoke(app, ["set-primary", "1002", "--contact", "KCnope", *wd])
    assert bad.exit_code != 0
    assert "review queue" in _invoke("review", "list", *wd)
    unknown = runner.invoke(app, ["explain", "A:1:1", "nope", *wd])
    assert unknown.exit_code != 0


def test_cli_evaluate_against_ground_truth(tmp_path):
    s = get_settings(tmp_path)
    with connect(s) as wh:
        wh.replace_table("dedup", "dedup_person_records", all_records())
    wd = ["--workdir", str(tmp_path)]
    _invoke("run", *wd)
    truth = all_records()[["record_id"]].assign(person_id=lambda d: d["record_id"])
    truth.loc[truth["record_id"].isin(["A:1001:1", "A:1002:1", "C:crm-gab"]), "person_id"] = "gabriel"
    truth.loc[truth["record_id"].isin(["A:2001:1", "A:2004:1"]), "person_id"] = "bob"
    s.sandbox_dir.mkdir(parents=True, exist_ok=True)
    truth.to_csv(s.sandbox_dir / "ground_truth.csv", index=False)
    res = json.loads(runner.invoke(app, ["evaluate", *wd, "--json"]).output)
    assert (res["precision"], res["recall"], res["persons_split"]) == (1.0, 1.0, 0)
    assert res["blocking_recall"] == 1.0  # no candidate view: the pairs the run scored
    truth.loc[truth["record_id"] == "A:2002:1", "person_id"] = "bob"  # Mary is Bob? then we missed it
    truth.to_csv(s.sandbox_dir / "ground_truth.csv", index=False)
    res = json.loads(runner.invoke(app, ["evaluate", *wd, "--json"]).output)
    assert res["recall"] < 1.0 and res["precision"] == 1.0
    assert len(pd.read_csv(s.sandbox_dir / "ground_truth.csv")) == len(truth)
