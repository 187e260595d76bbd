"""Second runs of the dedup step after a CRM push: the contacts KORE created come back from the CRM.

Real DuckDB warehouse, small hand-made records (shape of dedup.dedup_person_records).
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_clients import DynamicsClient
from dedup.pipeline import run_dedup
from kore.config import get_settings
from kore.warehouse import connect
from reverse_etl.payloads import contact_rows
from tests.test_dedup_fixtures import all_records, arch, crm

# An account whose primary name is a company and whose second name is a person who also holds an
# account of his own: the account's names sit in two clusters (company / Matthew Green).
COMPANY_ACCOUNT = [
    arch(7001, 1, 1, name_type="C", company="Ocean State Movers LLC", street="1 Dock Rd", city="Providence"),
    arch(
        7001,
        2,
        0,
        first_name="Matthew",
        last_name="Green",
        email="matt.green@oceanstate.com",
        phone="4015550111",
        street="22 Elm Street",
        city="Providence",
        state="ri",
        zip5="02903",
        updated_at="2022-09-08 13:29:09",
    ),
    arch(
        7002,
        first_name="Matthew",
        last_name="Green",
        email="matt.green@oceanstate.com",
        phone="4015550111",
        street="22 Elm Street",
        city="Providence",
        state="ri",
        zip5="02903",
        updated_at="2025-11-18 10:07:04",
    ),
]


def _records() -> pd.DataFrame:
    return pd.concat([all_records(), pd.DataFrame(COMPANY_ACCOUNT)], ignore_index=True)


@pytest.fixture()
def settings(tmp_path):
    s = get_settings(tmp_path)
    with connect(s) as wh:
        wh.replace_table("dedup", "dedup_person_records", _records())
    return s


def _table(s, name):
    with connect(s) as wh:
        return wh.query_df(f"select * from kore_dedup.{name}")


def _pushed_back(golden: pd.DataFrame) -> pd.DataFrame:
    """What the next CRM pull returns for every contact the push created (new CRM id, the golden
    values, kore_external_key = contact key, the primary Archtics account id) -- as the view shows them."""
    new = golden[golden["crm_contact_id"].isna()]
    rows = [
        crm(
            f"pushed-{i}",
            first_name=g["first_name"],
            last_name=g["last_name"],
            email=g["email"],
            phone=g["phone"],
            street=g["street"],
            city=g["city"],
            state=g["state"],
            zip5=g["zip5"],
            kore_external_key=g["contact_key"],
            crm_account_key=g["account_key"],
            archtics_account_id_on_crm=g["primary_acct_id"],
            updated_at="2026-11-23 03:27:27",
        )
        for i, g in enumerate(new.to_dict("records"))
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("second_run_full", [False, True])
def test_contacts_created_by_the_push_rejoin_their_clusters(settings, second_run_full):
    run_dedup(settings, progress=False)
    golden1 = _table(settings, "golden_contacts")
    map1 = _table(settings, "account_contact_map").astype({"acct_id": str})
    clusters1 = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert map1["acct_id"].is_unique
    back = _pushed_back(golden1)
    assert len(back) >= 10
    # a CRM user later edits one contact so that it no longer looks like its Archtics records:
    # its KORE key still says whose contact it is
    back.loc[0, ["first_name", "email", "phone", "archtics_account_id_on_crm"]] = [
        "Zed",
        "zed@elsewhere.org",
        "2125550000",
        None,
    ]
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", pd.concat([_records(), back], ignore_index=True))
    second = run_dedup(settings, full=second_run_full, progress=False)

    golden2 = _table(settings, "golden_contacts")
    map2 = _table(settings, "account_contact_map").astype({"acct_id": str})
    clusters2 = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    # no new contact, same keys, same cluster ids for every record of the first run
    assert set(golden2["contact_key"]) == set(golden1["contact_key"])
    assert len(golden2) == len(golden1) and golden2["contact_key"].is_unique
    assert second["contacts_new"] == 0
    assert clusters2.loc[clusters1.index].to_dict() == clusters1.to_dict()
    # each pushed contact sits in its key's cluster and is now that contact's CRM id
    key_of = golden2.set_index("cluster_id")["contact_key"]
    crm_of = golden2.set_index("contact_key")["crm_contact_id"]
    for b in back.to_dict("records"):
        assert key_of[clusters2[b["record_id"]]] == b["kore_external_key"]
        assert crm_of[b["kore_external_key"]] == b["crm_contact_id"]
    # one mapping row per account, to the same contact as before
    assert map2["acct_id"].is_unique
    assert map2.set_index("acct_id")["crm_contact_key"].sort_index().to_dict() == (
        map1.set_index("acct_id")["crm_contact_key"].sort_index().to_dict()
    )


def test_golden_contacts_carry_the_sources_spelling(settings):
    run_dedup(settings, progress=False)
    g = _table(settings, "golden_contacts")
    gab = g[g["crm_contact_id"] == "crm-gab"].iloc[0]
    assert (gab["first_name"], gab["last_name"]) == ("Gabe", "Tremblay")  # winning record: acct 1002
    assert (gab["street"], gab["city"], gab["company"]) == (
        "400 Rue Sainte Catherine",
        "Montreal",
        "Sporting Service Solutions",
    )
    green = g[g["primary_acct_id"].astype(str) == "7002"].iloc[0]
    assert (green["first_name"], green["last_name"], green["street"]) == ("Matthew", "Green", "22 Elm Street")
    assert green["state"] == "RI"  # upper-case code, as the CRM and marts.dim_contact expect
    assert green["email"] == "matt.green@oceanstate.com" and green["phone"] == "14015550111"
    # matching still works on normalised values: both Green records are one contact
    cl = _table(settings, "clusters").set_index("record_id")["cluster_id"]
    assert cl["A:7001:2"] == cl["A:7002:1"]


def test_company_only_cluster_gets_a_contact_named_after_the_company(settings):
    run_dedup(settings, progress=False)
    g = _table(settings, "golden_contacts")
    assert g["last_name"].notna().all()  # the CRM requires a last name on every contact
    mp = _table(settings, "account_contact_map").astype({"acct_id": str}).set_index("acct_id")
    org = g[g["contact_key"] == mp.loc["7001", "crm_contact_key"]].iloc[0]
    assert org["last_name"] == "Ocean State Movers LLC" and pd.isna(org["first_name"])
    assert org["account_rule"] == "company" and org["name_type"] == "C"
    # what the push sends: the CRM's required last name is there, under the company's account
    (row,) = contact_rows(
        [{k: (None if pd.isna(v) else v) for k, v in org.items()}], DynamicsClient("https://crm.invalid", {})
    )
    assert row.body["lastname"] == "Ocean State Movers LLC"
    assert row.parents == [("Account", org["account_key"])]


def test_account_with_names_in_two_clusters_stays_mapped_once(settings):
    """Only the person's cluster changes: account 7001 still stands for its primary (company) name."""
    run_dedup(settings, progress=False)
    before = _table(settings, "account_contact_map").astype({"acct_id": str}).set_index("acct_id")
    rows = _records()
    rows.loc[rows["record_id"] == "A:7002:1", ["email", "row_hash"]] = ["matthew.green@oceanstate.com", "h2"]
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", rows)
    inc = run_dedup(settings, progress=False)
    assert inc["mode"] == "incremental" and inc["changed_records"] == 1
    after = _table(settings, "account_contact_map").astype({"acct_id": str})
    assert after["acct_id"].is_unique
    assert after.set_index("acct_id")["crm_contact_key"].sort_index().to_dict() == (
        before["crm_contact_key"].sort_index().to_dict()
    )
