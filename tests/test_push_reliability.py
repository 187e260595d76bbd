"""The push never re-sends an unchanged row, holds values too long for the CRM (and `kore check`
flags them), lets children wait for a parent the CRM does not hold under KORE's key, and leaves a
run record also when it fails while setting up its client. Real HTTP on loopback (sandbox CRM)."""

from __future__ import annotations

import json

import pytest

from expectations.audits.context import AuditContext
from expectations.audits.crm_fields import values_fit_crm_fields
from expectations.frames import TableReader
from kore.warehouse import connect
from reverse_etl import push
from sandbox.crm_api import CrmSandbox
from sandbox.crm_schema import resolve
from tests.test_crm_support import CONTACTS, kore_tables, settings_for, sync_state, write_tables

PARTY = ["Account", "Contact"]
WITH_CHILDREN = [*PARTY, "Season", "TouchpointGoal", "Touchpoint2"]  # Touchpoint2 row i -> contact K<i>


def _user_id(sb: CrmSandbox) -> str:
    return sb.records("User")[0][resolve(sb.flavor, "User").id_field]


@pytest.fixture(params=["dynamics", "salesforce"])
def env(request, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=3.0, crm_flavor=request.param)
    with CrmSandbox(settings.sandbox_dir, request.param) as sb:
        write_tables(settings, kore_tables(3, _user_id(sb)), CONTACTS)
        yield settings, sb


def test_rows_the_crm_gave_ids_to_are_not_sent_again(env):
    """Run 1 creates the contacts; the pull brings their CRM ids back and dedup sets
    ``crm_contact_id``. That is addressing, not content: run 2 sends nothing."""
    settings, sb = env
    first = push(settings, sb.url, sb.flavor, sb.credentials, entities=PARTY)
    assert first["created"] == 6 and first["failed"] == 0
    ids = sync_state(settings).set_index("external_key")["crm_id"]
    golden = [dict(c, crm_contact_id=ids[c["contact_key"]]) for c in CONTACTS]
    write_tables(settings, {}, golden)
    second = push(settings, sb.url, sb.flavor, sb.credentials, entities=PARTY)
    assert second["sent"] == 0 and second["unchanged"] == 6, second
    # a contact dedup matched to ANOTHER record is sent to that record
    golden[0]["crm_contact_id"] = ids["K2"]
    write_tables(settings, {}, golden)
    assert push(settings, sb.url, sb.flavor, sb.credentials, entities=PARTY)["sent"] == 1


def _audit(settings):
    with connect(settings) as wh:
        return values_fit_crm_fields(AuditContext(settings, TableReader(settings, wh)))


def test_too_long_last_name_is_flagged_held_and_its_children_wait(env):
    settings, sb = env
    contact = resolve(sb.flavor, "Contact")
    existing = sb.records("Contact")[0][contact.id_field]
    golden = [dict(c) for c in CONTACTS]
    golden[0]["last_name"] = "L" * 57  # the CRM allows 50
    golden[1]["crm_contact_id"] = existing  # K2: a contact the CRM had before KORE ...
    golden[1]["first_name"] = "F" * 51  # ... whose update would fail: the CRM has no KORE key on it
    write_tables(settings, {}, golden)

    check = _audit(settings)  # flagged before the push, by key and field, never the value
    assert check.status == "failed" and check.failing_rows == 2
    assert {(e["key"], e["field"], e["length"]) for e in check.examples} == {
        ("K1", "last_name", 57),
        ("K2", "first_name", 51),
    }
    assert "L" * 57 not in json.dumps(check.examples)

    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=WITH_CHILDREN)
    assert result["failed"] == 0, result  # nothing refused by the CRM: nothing over-long was sent
    assert result["held_too_long"] == 2
    state = sync_state(settings).set_index(["entity", "external_key"])
    assert state.loc[("Contact", "K1"), "status"] == "held_too_long"
    assert ": 57 > 50" in state.loc[("Contact", "K1"), "error"]
    assert state.loc[("Touchpoint2", "Touchpoint2-1"), "status"] == "waiting_parent"
    assert state.loc[("Touchpoint2", "Touchpoint2-2"), "status"] == "waiting_parent"  # not "Foreign key not found"
    assert state.loc[("Touchpoint2", "Touchpoint2-3"), "status"] == "synced"
    assert "K1" not in {r.get(contact.ext_field) for r in sb.records("Contact")}

    write_tables(settings, {}, CONTACTS)  # the source is fixed: the contacts and their children go
    fixed = push(settings, sb.url, sb.flavor, sb.credentials, entities=WITH_CHILDREN)
    assert fixed["failed"] == 0 and fixed["waiting_parent"] == 0 and fixed["held_too_long"] == 0
    assert _audit(settings).status == "passed"


def test_a_push_that_fails_setting_up_its_client_is_in_the_run_history(tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=2.0)
    settings.ensure_dirs()
    creds = {"tenant_id": "t", "client_id": "c", "client_secret": "s"}
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, the record is written
        push(settings, "http://127.0.0.1:9", "dynamics", creds)
    runs = [json.loads(x) for x in (settings.logs_dir / "runs.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in runs] == ["crm_push"]
    assert runs[0]["outcome"].startswith("failed")
