"""The warehouse dedup step end to end on a real DuckDB warehouse (small hand-made records)."""

from __future__ import annotations

import pandas as pd
import pytest

from dedup import store
from dedup.explain import explain
from dedup.pipeline import run_dedup
from kore.config import get_settings
from kore.warehouse import connect
from tests.test_dedup_fixtures import all_records, arch


@pytest.fixture()
def settings(tmp_path):
    s = get_settings(tmp_path)
    with connect(s) as wh:
        wh.replace_table("dedup", "dedup_person_records", all_records())
    return s


def _table(s, name):
    with connect(s) as wh:
        return wh.query_df(f"select * from kore_dedup.{name}")


def _gabriel(s):
    g = _table(s, "golden_contacts")
    row = g[g["crm_contact_id"] == "crm-gab"].iloc[0]
    mp = _table(s, "account_contact_map").astype({"acct_id": str})
    prim = mp[(mp["crm_contact_key"] == row["contact_key"]) & (mp["is_primary"] == 1)]["acct_id"].tolist()
    return row, prim, mp


def test_first_found_reproduces_the_documented_overwrite(settings):
    run_dedup(settings, policy="first_found", progress=False)
    row, prim, mp = _gabriel(settings)
    assert prim == ["1001"]  # the outdated TryNowDo account was found first and became primary
    assert row["company"] == "TryNowDo Ltd" and row["email"] == "gtremblay@trynowdo.com"
    assert row["email_source"] == "archtics:1001"
    assert set(mp[mp["crm_contact_key"] == row["contact_key"]]["acct_id"]) == {"1001", "1002"}


def test_default_policy_prevents_the_overwrite(settings):
    run_dedup(settings, progress=False)
    row, prim, _ = _gabriel(settings)
    assert prim == ["1002"]  # most recently active account
    assert row["company"] == "Sporting Service Solutions"
    assert row["email"] == "gabriel.tremblay@sportingservice.com"
    assert not str(row["email_source"]).endswith("1001") and not str(row["company_source"]).endswith("1001")
    assert row["account_rule"] == "company"


def test_households_and_colleagues_stay_apart_and_one_crm_contact_per_cluster(settings):
    run_dedup(settings, progress=False)
    cl = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert cl["A:2001:1"] == cl["A:2004:1"]  # Bob = Robert, same email
    assert len({cl["A:2001:1"], cl["A:2002:1"], cl["A:2003:1"]}) == 3
    assert len({cl[f"A:{a}:1"] for a in (3001, 3002, 3003, 3004)}) == 4
    g = _table(settings, "golden_contacts")
    assert g["cluster_id"].is_unique and g["contact_key"].is_unique


def test_manual_decisions_survive_reruns(settings):
    run_dedup(settings, progress=False)
    store.add_decision(settings, "forbid_match", "A:2001:1", "A:2004:1")
    store.add_decision(settings, "force_match", "A:3003:1", "A:3004:1")
    store.add_decision(settings, "set_primary", acct_id="1001", contact_key=_gabriel(settings)[0]["contact_key"])
    for full in (False, True, False):
        run_dedup(settings, full=full, progress=False)
        cl = _table(settings, "clusters").set_index("record_id")["cluster_id"]
        assert cl["A:2001:1"] != cl["A:2004:1"]
        assert cl["A:3003:1"] == cl["A:3004:1"]
        row, prim, _ = _gabriel(settings)
        assert prim == ["1001"]
        # the manual primary is older than the CRM contact's last change: it must not overwrite it
        assert row["email"] == "gabriel.tremblay@sportingservice.com" and row["email_source"] == "crm:crm-gab"
        assert row["company"] == "Sporting Service Solutions Inc"
        mp = _table(settings, "account_contact_map").astype({"acct_id": str}).set_index("acct_id")
        assert mp.loc["1001", "decided_by"] == "person"
    ex = explain(settings, "A:2001:1", "A:2004:1")
    assert ex["decision"] == "match" and not ex["same_cluster"]
    assert ex["decisions"][-1]["kind"] == "forbid_match"


def test_incremental_scores_only_the_change_and_keeps_ids(settings):
    first = run_dedup(settings, progress=False)
    before = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    again = run_dedup(settings, progress=False)
    assert again["mode"] == "incremental" and again["pairs_scored"] == 0
    # one new account for Gabriel arrives
    rows = pd.concat(
        [
            all_records(),
            pd.DataFrame(
                [
                    arch(
                        1003,
                        first_name="Gabriel",
                        last_name="Tremblay",
                        email="gabriel.tremblay@sportingservice.com",
                        phone="5145550199",
                        birth_date="1984-03-07",
                        updated_at="2026-10-01 00:00:00",
                    )
                ]
            ),
        ],
        ignore_index=True,
    )
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", rows)
    inc = run_dedup(settings, progress=False)
    assert inc["changed_records"] == 1
    assert 0 < inc["pairs_scored"] <= 3  # only pairs touching the new record
    assert inc["pairs_total"] >= first["pairs_total"]
    after = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert after["A:1003:1"] == before["A:1002:1"]  # joined the existing cluster, which kept its id
    assert (after.loc[before.index] == before).all()
    scores = _table(settings, "pair_scores")
    assert not scores.duplicated(["record_id_l", "record_id_r"]).any()


def test_possible_matches_go_to_review_and_verdicts_apply(settings):
    # same name, nothing else in common: too weak to merge, too strong to ignore
    extra = [
        arch(5001, first_name="Dana", last_name="Whitfield", city="Springfield", zip5="62701"),
        arch(5002, first_name="Dana", last_name="Whitfield", city="Anchorage", zip5="99501"),
    ]
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", pd.concat([all_records(), pd.DataFrame(extra)]))
    run_dedup(settings, progress=False)
    q = _table(settings, "review_queue")
    assert len(q) > 0
    assert set(zip(q["record_id_l"], q["record_id_r"], strict=True)) >= {("A:5001:1", "A:5002:1")}
    a, b = "A:5001:1", "A:5002:1"
    store.add_decision(settings, "review_accept", a, b)
    run_dedup(settings, progress=False)
    cl = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert cl[a] == cl[b]
    q2 = _table(settings, "review_queue")
    assert not ((q2["record_id_l"] == a) & (q2["record_id_r"] == b)).any()


def _partition(s) -> set[frozenset]:
    cl = _table(s, "clusters")
    return {frozenset(g["record_id"]) for _, g in cl.groupby("cluster_id")}


def test_incremental_equals_a_full_rerun_after_changes_and_removals(settings, tmp_path):
    run_dedup(settings, progress=False)
    rows = all_records()
    rows = rows[rows["record_id"] != "A:2004:1"]  # Bob leaves
    rows.loc[rows["record_id"] == "A:9003:1", ["email", "row_hash"]] = ["new.mail@x.org", "h2"]  # changes
    # becomes a Comp account (the view's row_hash covers is_excluded_account_type)
    rows.loc[rows["record_id"] == "A:3001:1", ["is_excluded_account_type", "row_hash"]] = [1, "h2"]
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", rows)
    inc = run_dedup(settings, progress=False)
    assert inc["mode"] == "incremental"
    assert (inc["changed_records"], inc["removed_records"]) == (1, 2)
    cl = _table(settings, "clusters")
    assert not cl["record_id"].isin(["A:2004:1", "A:3001:1"]).any()
    mp = _table(settings, "account_contact_map")
    assert not mp["acct_id"].astype(str).isin(["2004", "3001"]).any()
    assert mp["acct_id"].is_unique
    g = _table(settings, "golden_contacts")
    assert set(g["cluster_id"]) == set(cl["cluster_id"]) and g["contact_key"].is_unique
    incremental = _partition(settings)
    ids_before = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    full = run_dedup(settings, full=True, progress=False)
    assert full["mode"] == "full"
    assert _partition(settings) == incremental
    after = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert after.sort_index().to_dict() == ids_before.sort_index().to_dict()  # ids stable across modes


def test_candidate_view_is_used_when_present(settings):
    """With dedup.dedup_candidate_pairs present, only its pairs (+ rule/decision pairs) are scored."""
    recs = all_records()
    ids = sorted(recs["record_id"])
    gab = ["A:1001:1", "A:1002:1", "C:crm-gab"]
    pairs = pd.DataFrame(
        [(a, b, "test") for i, a in enumerate(ids) for b in ids[i + 1 :] if a in gab and b in gab],
        columns=["record_id_l", "record_id_r", "blocking_key"],
    )
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_candidate_pairs", pairs)
    counts = run_dedup(settings, progress=False)
    assert counts["pairs_scored"] == 3
    cl = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert cl["A:1001:1"] == cl["A:1002:1"] == cl["C:crm-gab"]
    assert cl["A:2001:1"] != cl["A:2004:1"]  # not a candidate pair in the view: never compared
    recs.loc[recs["record_id"] == "A:1001:1", ["email", "row_hash"]] = ["g@new.org", "h2"]
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", recs)
    inc = run_dedup(settings, progress=False)
    assert inc["mode"] == "incremental" and inc["pairs_scored"] == 2
