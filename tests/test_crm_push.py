"""CRM push over real HTTPS on loopback, both flavours: order, prerequisites, idempotence, faults."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pandas as pd
import pytest

from crm_clients import make_client
from kore.contracts import crm_names
from kore.contracts.account_types import excluded_account_types
from kore.registry import by_name, kore_to_crm
from kore.warehouse import connect
from reverse_etl import push
from reverse_etl.payloads import kore_row
from sandbox.crm_api import CrmSandbox
from sandbox.crm_schema import resolve
from tests.test_crm_support import CONTACTS, kore_tables, settings_for, sync_state, write_tables

FLAVORS = ["dynamics", "salesforce"]
ALL_KORE = [e.entity for e in kore_to_crm("dynamics")]


def _writes(sb: CrmSandbox) -> int:
    st = sb.stats()
    return st.get("POST batch", 0) + st.get("PATCH collections", 0) + st.get("PATCH upsert", 0)


def _user_id(sb: CrmSandbox) -> str:
    return sb.records("User")[0][resolve(sb.flavor, "User").id_field]


def _ext_keys(sb: CrmSandbox, entity: str) -> list[str]:
    spec = resolve(sb.flavor, crm_names.crm_entity_name(entity, sb.flavor))
    return [r.get(spec.ext_field) for r in sb.records(entity) if r.get(spec.ext_field)]


@pytest.fixture(params=FLAVORS)
def env(request, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=3.0)
    with CrmSandbox(settings.sandbox_dir, request.param) as sb:
        write_tables(settings, kore_tables(3, _user_id(sb)), CONTACTS)
        yield settings, sb


def test_full_push_in_order_then_rerun_sends_nothing(env):
    settings, sb = env
    result = push(settings, sb.url, sb.flavor, sb.credentials)
    assert result["failed"] == 0 and result["waiting_parent"] == 0
    assert result["rows"] == 3 * len(ALL_KORE) + 3 + 3  # 40 KORE entities, 3 accounts, 3 contacts
    assert len(ALL_KORE) == 40
    # One request per entity: 3 rows fit one collection / one $batch.
    assert _writes(sb) == len(ALL_KORE) + 2
    state = sync_state(settings)
    assert set(state["status"]) == {"synced"} and state["crm_id"].notna().all()
    # Every lookup in the CRM points at the parent's record (the sandbox resolved it by external key).
    for ent in kore_to_crm(sb.flavor):
        spec = resolve(sb.flavor, crm_names.crm_entity_name(ent, sb.flavor))
        recs = {r[spec.ext_field]: r for r in sb.records(ent.entity)}
        assert sorted(recs) == [f"{ent.entity}-{i}" for i in (1, 2, 3)]
        for lk in crm_names.lookups(ent):
            if lk.target == "User":
                continue
            stored = spec.lookup_for_write(
                crm_names.dyn_lookup(lk.target) if sb.flavor == "dynamics" else crm_names.sf_relationship(lk.target)
            ).stored_as
            parent_key = kore_tables(3)[ent.model_name].set_index("external_key").loc[f"{ent.entity}-1", lk.column]
            parent_state = state[(state.entity == lk.target) & (state.external_key == parent_key)]
            assert recs[f"{ent.entity}-1"][stored] == parent_state["crm_id"].iloc[0]

    before = _writes(sb)
    again = push(settings, sb.url, sb.flavor, sb.credentials)
    assert again["sent"] == 0 and again["unchanged"] == result["rows"]
    assert _writes(sb) == before


CHAIN = ["Season", "Round", "Division", "PriceList", "Event2"]  # Event2 needs the other four


def test_changed_row_is_sent_once(env):
    settings, sb = env
    push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)
    with connect(settings) as wh:
        wh.execute(
            "update kore.kore_seasonbase set name = 'Season renamed', row_hash = 'changed' where external_key = 'Season-2'"
        )
    before = _writes(sb)
    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)
    assert result["sent"] == 1 and result["updated"] == 1 and result["created"] == 0
    assert _writes(sb) == before + 1
    spec = resolve(sb.flavor, crm_names.crm_entity_name("Season", sb.flavor))
    names = {
        r[spec.ext_field]: r[crm_names.DYN_NAME if sb.flavor == "dynamics" else crm_names.SF_NAME]
        for r in sb.records("Season")
    }
    assert names["Season-2"] == "Season renamed" and len(names) == 3
    assert push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)["sent"] == 0


def test_child_waits_for_parent_and_orphans_are_refused(env):
    settings, sb = env
    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Event2"])
    assert result["entities"]["Event2"]["waiting_parent"] == 3 and result["sent"] == 0
    assert _writes(sb) == 0 and _ext_keys(sb, "Event2") == []
    reasons = set(sync_state(settings)["error"])
    assert any("Season" in r and "not in the CRM" in r for r in reasons)

    # The sandbox refuses an orphan outright, so sending a child first would fail the push.
    client = make_client(sb.flavor, sb.url, sb.credentials, settings.crm_timeout)
    row = kore_row(by_name("Event2"), kore_tables(3)["kore_eventbase"].iloc[0].to_dict(), client)
    out = client.upsert(client.target(by_name("Event2")), [row]).outcomes
    assert out[row.key].status == "failed" and "not found" in out[row.key].error

    full = push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)
    assert full["failed"] == 0 and full["waiting_parent"] == 0
    assert sorted(_ext_keys(sb, "Event2")) == ["Event2-1", "Event2-2", "Event2-3"]


def test_dry_run_sends_nothing(env):
    settings, sb = env
    sb.reset_stats()
    plan = push(settings, sb.url, sb.flavor, sb.credentials, dry_run=True)
    assert sb.stats() == {}  # not even a token request
    assert plan["rows"] == 3 * 42
    assert plan["entities"]["Season"]["created"] == 3 and plan["entities"]["Event2"]["waiting_parent"] == 0
    assert plan["created"] == plan["rows"]
    with connect(settings) as wh:
        assert not wh.table_exists("ops", "crm_sync_state")
    real = push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)
    assert real["created"] == sum(plan["entities"][e]["created"] for e in CHAIN)
    after = push(settings, sb.url, sb.flavor, sb.credentials, dry_run=True, entities=CHAIN)
    assert after["unchanged"] == 3 * len(CHAIN) and after["created"] == 0


def test_excluded_account_types_and_preexisting_contacts(env):
    settings, sb = env
    contact_spec = resolve(sb.flavor, "Contact")
    existing = sb.records("Contact")[0][contact_spec.id_field]
    n_before = len(sb.records("Contact"))
    golden = [dict(c, is_excluded_account_type=0) for c in CONTACTS]
    golden[0]["crm_contact_id"] = existing  # dedup matched K1 to a contact the CRM already had
    golden.append(dict(CONTACTS[2], contact_key="K9", account_key="APN9", is_excluded_account_type=1))
    write_tables(settings, {}, golden)
    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    assert result["failed"] == 0 and result["excluded"] == 2  # K9 as a contact and as an account
    contacts = sb.records("Contact")
    assert len(contacts) == n_before + 2  # K2, K3 created; K1 updated the existing record
    by_key = {c.get(contact_spec.ext_field): c for c in contacts}
    assert by_key["K1"][contact_spec.id_field] == existing
    assert by_key["K1"]["telephone1" if sb.flavor == "dynamics" else "Phone"] == "+15550001"  # E.164 shown with +
    assert "K9" not in by_key and "APN9" not in _ext_keys(sb, "Account")
    counts = Counter(c.get(contact_spec.ext_field) for c in contacts if c.get(contact_spec.ext_field))
    assert max(counts.values()) == 1
    state = sync_state(settings)
    assert pd.Series(["K1", "K2", "K3"]).isin(state.external_key).all()


def test_account_types_are_excluded_ignoring_case_and_spaces(env):
    """The push applies the one Account-Type rule (kore.contracts.account_types): a row typed with
    other case or spaces is excluded exactly where dbt's flag (``lower(trim(acct_type_desc))``) would
    be set, even when the row carries no flag."""
    settings, sb = env
    settings = replace(settings, excluded_account_types=("Comp", " Internal"))
    golden = [dict(c) for c in CONTACTS]
    for g, acct_type in zip(golden, (" comp ", "INTERNAL", "Full Season"), strict=True):
        g["acct_type_desc"] = acct_type
    write_tables(settings, {}, golden)
    excluded = list(excluded_account_types(settings))
    with connect(settings) as wh:  # what the dbt macro kore_is_excluded_account_type computes
        flagged = wh.query_rows(
            "select contact_key, account_key from kore_dedup.golden_contacts "
            f"where lower(trim(acct_type_desc)) in ({', '.join('?' for _ in excluded)})",
            excluded,
        )
    assert sorted(flagged) == [("K1", "AHH1"), ("K2", "ACO2")]
    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    assert result["failed"] == 0 and result["excluded"] == 4  # K1, K2 as contacts and as accounts
    assert result["entities"]["Contact"]["sent"] == 1 and result["entities"]["Account"]["sent"] == 1
    contacts, accounts = _ext_keys(sb, "Contact"), _ext_keys(sb, "Account")
    assert "K3" in contacts and "APN3" in accounts
    for contact_key, account_key in flagged:
        assert contact_key not in contacts and account_key not in accounts


def test_kore_entities_are_pushed_in_batches_and_a_shared_key_once(env, monkeypatch):
    """A KORE entity is read, planned and sent ``BATCH_ROWS`` rows at a time (millions of ticket rows
    would not fit in memory at once). With batches of two rows every row still arrives, each
    entity's counts are whole, two rows sharing an external key are sent once (the last), and a
    rerun sends nothing."""
    from reverse_etl import sources

    settings, sb = env
    monkeypatch.setattr(sources, "BATCH_ROWS", 2)
    tables = kore_tables(5, _user_id(sb))
    season = tables["kore_seasonbase"]
    latest = season.iloc[[0]].assign(name="Season 1 (latest)", row_hash="changed")
    tables["kore_seasonbase"] = pd.concat([season, latest], ignore_index=True)
    write_tables(settings, tables, CONTACTS)

    result = push(settings, sb.url, sb.flavor, sb.credentials)
    assert result["failed"] == 0 and result["waiting_parent"] == 0
    assert result["rows"] == 5 * len(ALL_KORE) + 3 + 3 and result["entities"]["Season"]["invalid"] == 1
    for ent in kore_to_crm(sb.flavor):
        assert sorted(_ext_keys(sb, ent.entity)) == [f"{ent.entity}-{i}" for i in range(1, 6)], ent.entity
    spec = resolve(sb.flavor, crm_names.crm_entity_name(by_name("Season"), sb.flavor))
    [first] = [r for r in sb.records("Season") if r.get(spec.ext_field) == "Season-1"]
    assert "Season 1 (latest)" in first.values()
    assert set(sync_state(settings)["status"]) == {"synced"}
    # five rows in batches of two: three requests an entity (one batch fits one request); Season's
    # shared key is sent in a fourth batch of its own
    sent_in = {e: r["requests"] for e, r in result["entities"].items() if e in ALL_KORE}
    assert sent_in == {**dict.fromkeys(ALL_KORE, 3), "Season": 4}

    before = _writes(sb)
    again = push(settings, sb.url, sb.flavor, sb.credentials)
    assert again["sent"] == 0 and again["unchanged"] == result["rows"] and _writes(sb) == before
    with connect(settings) as wh:  # the batches' scratch tables (keys looked up, current keys) are gone
        assert wh.query_rows("select table_name from information_schema.tables where table_schema = 'ops' "
                             "and table_name like '\\_%' escape '\\'") == []  # fmt: skip


def test_contacts_and_accounts_are_pushed_in_batches_with_holds_and_exclusions(env, monkeypatch):
    """Golden contacts and golden accounts are read ``BATCH_ROWS`` at a time too (a million golden
    contacts read at once as rows took ~5 GB). With batches of two: every contact and account
    arrives, the contact held for review (``push_holds``) and the excluded Account Type are left out
    and counted whichever batch they sit in, the source names the held count, and a rerun sends
    nothing."""
    from reverse_etl import sources

    settings, sb = env
    monkeypatch.setattr(sources, "BATCH_ROWS", 2)
    golden = [dict(c, contact_key=f"K{i}", account_key=f"A{i}", is_excluded_account_type=int(i == 4))
              for i, c in enumerate([*CONTACTS, *CONTACTS], start=1)]  # fmt: skip
    accounts = pd.DataFrame({"account_key": [f"A{i}" for i in range(1, 7)], "name": [f"Acct {i}" for i in range(1, 7)],
                             "crm_account_id": None, "update_fields": 1, "is_excluded_account_type": [0, 0, 0, 1, 0, 0]})  # fmt: skip
    write_tables(settings, {}, golden)
    with connect(settings) as wh:
        wh.replace_table("kore_dedup", "golden_accounts", accounts)
        wh.replace_table("kore_dedup", "push_holds", pd.DataFrame({"contact_key": ["K5"]}))

    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    contact, account = result["entities"]["Contact"], result["entities"]["Account"]
    assert result["failed"] == 0 and result["waiting_parent"] == 0
    assert (contact["rows"], contact["excluded"], contact["requests"]) == (4, 2, 3)  # K4 excluded, K5 held
    assert (account["rows"], account["excluded"], account["requests"]) == (5, 1, 3)
    assert sorted(_ext_keys(sb, "Contact")) == ["K1", "K2", "K3", "K6"]
    assert sorted(_ext_keys(sb, "Account")) == ["A1", "A2", "A3", "A5", "A6"]
    assert contact["source"] == "kore_dedup.golden_contacts (1 held for review)"
    before = _writes(sb)
    again = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    assert again["sent"] == 0 and _writes(sb) == before


def test_a_push_killed_during_an_entity_keeps_the_batches_it_sent(env, monkeypatch):
    """The sync state is written batch by batch (a million accounts' state does not fit in memory):
    a push that dies while sending an entity's second batch has recorded the first batch, and the
    rerun sends only the rest."""
    import importlib

    from reverse_etl import sources

    push_module = importlib.import_module("reverse_etl.push")
    settings, sb = env
    monkeypatch.setattr(sources, "BATCH_ROWS", 2)
    write_tables(settings, kore_tables(5, _user_id(sb)), CONTACTS)
    real_send, batches = push_module._send, []

    def dies_in_the_second_batch(run, entity, send, *args):
        batches.append(entity.entity)
        if len(batches) == 2:
            raise RuntimeError("killed")
        real_send(run, entity, send, *args)

    monkeypatch.setattr(push_module, "_send", dies_in_the_second_batch)
    with pytest.raises(RuntimeError, match="killed"):
        push(settings, sb.url, sb.flavor, sb.credentials, entities=["Season"])
    state = sync_state(settings)
    assert len(state) == 2 and set(state["status"]) == {"synced"}  # the first batch of two
    assert sorted(_ext_keys(sb, "Season")) == sorted(state["external_key"])

    monkeypatch.setattr(push_module, "_send", real_send)
    again = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Season"])["entities"]["Season"]
    assert (again["sent"], again["unchanged"], again["failed"]) == (3, 2, 0)
    assert sorted(_ext_keys(sb, "Season")) == [f"Season-{i}" for i in range(1, 6)]


def test_rows_are_json_values_of_every_column_type():
    """``records`` turns whole columns into JSON values (a million push rows): every value is what
    ``jsonable`` makes of it, type included (1 and 1.0 are different JSON), for each column type the
    warehouse hands back."""
    import datetime as dt
    import decimal

    import numpy as np

    from reverse_etl.payloads import jsonable, records

    df = pd.DataFrame({
        "nullable_int": pd.array([1, None, 3], dtype="Int64"), "float32": np.array([1.5, np.nan, 2], dtype="float32"),
        "flag": [True, False, True], "nullable_flag": pd.array([True, None, False], dtype="boolean"),
        "small": np.array([1, 2, 3], dtype="uint8"), "int": [1, 2, 3], "float": [1.0, np.nan, np.inf],
        "decimal": [decimal.Decimal("1.10"), None, decimal.Decimal("3")], "date": [dt.date(2024, 1, 2), None, None],
        "ts": pd.to_datetime(["2024-01-01 10:00", None, "2024-01-01 10:00:00.000123"], format="mixed"),
        "ts_utc": pd.to_datetime(["2024-01-01 10:00", None, "2024-01-01 10:00:00.5"], format="mixed", utc=True),
        "text": pd.array(["a", None, "c"], dtype="string"), "arrow_text": pd.array(["a", None, "c"], dtype="string[pyarrow]"),
        "mixed": ["x", np.int64(4), np.nan],
        "object_text": ["a", None, "c"],
        "ts_ns": pd.to_datetime(["2024-01-01 10:00:00.000000001", None, "2024-01-01 10:00"], format="mixed"),
    })  # fmt: skip
    got = records(df)
    for row, values in zip(got, df.itertuples(index=False, name=None), strict=True):  # value by value
        assert list(row) == list(df.columns)
        for (col, value), raw in zip(row.items(), values, strict=True):
            want = jsonable(raw)
            assert type(value) is type(want) and (value == want or (value != value and want != want)), (col, value)
    assert got[1]["nullable_int"] is None and got[0]["nullable_int"] == 1 and type(got[0]["float"]) is float
