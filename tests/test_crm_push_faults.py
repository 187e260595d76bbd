"""CRM push under faults: throttling, server errors, timeouts, dropped connections, bad records.

Every valid row must end in the CRM exactly once (no duplicates from retried requests), every
invalid row must be recorded with its error, and children of a failed parent must wait.
"""

from __future__ import annotations

import pytest

from kore.contracts import crm_names
from reverse_etl import push
from sandbox.crm_api import CrmSandbox
from sandbox.crm_schema import resolve
from tests.test_crm_support import CONTACTS, kore_tables, settings_for, sync_state, write_tables

CHAIN = ["Account", "Contact", "Season", "Round", "Division", "PriceList", "Event2", "TouchpointGoal"]


def _user_id(sb: CrmSandbox) -> str:
    return sb.records("User")[0][resolve(sb.flavor, "User").id_field]


def _ext_keys(sb: CrmSandbox, entity: str) -> list[str]:
    spec = resolve(sb.flavor, crm_names.crm_entity_name(entity, sb.flavor))
    return [r.get(spec.ext_field) for r in sb.records(entity) if r.get(spec.ext_field)]


@pytest.mark.parametrize("flavor", ["dynamics", "salesforce"])
def test_faults_end_with_every_valid_row_synced_exactly_once(flavor, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=1.5)
    with CrmSandbox(settings.sandbox_dir, flavor) as sb:
        _run(settings, sb)


def _run(settings, sb):
    write_tables(settings, {}, CONTACTS)
    tables = kore_tables(3, _user_id(sb))
    tables["kore_roundbase"].loc[2, "name"] = "x" * 101  # Round-3: longer than the CRM allows
    write_tables(settings, tables)
    sb.add_faults(
        {
            "faults": [
                {"kind": "429", "times": 2, "retry_after": 1},
                {"kind": "500", "times": 2},
                {"kind": "slow", "times": 1, "seconds": 2.5},  # > client timeout: applied, then retried
                {"kind": "drop", "times": 1},
            ],
            "record_errors": {"Season-2": "custom validation rule says no"},
        }
    )
    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)
    assert sb.stats().get("faults", 0) >= 5
    state = sync_state(settings).set_index(["entity", "external_key"])
    assert state.loc[("Season", "Season-2"), "status"] == "failed"
    assert "custom validation rule" in state.loc[("Season", "Season-2"), "error"]
    # Round-3's name is longer than the CRM field: held before sending (not a failed request)
    assert state.loc[("Round", "Round-3"), "status"] == "held_too_long"
    assert ": 101 > 100" in state.loc[("Round", "Round-3"), "error"]
    assert "Round-3" not in _ext_keys(sb, "Round")
    # Children of a failed parent wait; they were never sent (the CRM would have refused them).
    assert state.loc[("Event2", "Event2-2"), "status"] == "waiting_parent"
    assert state.loc[("Event2", "Event2-3"), "status"] == "waiting_parent"
    assert "Event2-2" not in _ext_keys(sb, "Event2")
    assert state.loc[("Event2", "Event2-1"), "status"] == "synced"
    assert result["failed"] == 1 and result["held_too_long"] == 1
    # Every other row is in the CRM exactly once.
    for ent in CHAIN:
        keys = _ext_keys(sb, ent)
        assert len(keys) == len(set(keys)), f"duplicate {ent} records"
    synced = state[state["status"] == "synced"]
    for ent, key in synced.index:
        assert key in _ext_keys(sb, ent)

    # The problems are fixed: the next run sends exactly the failed and waiting rows.
    sb.clear_faults()
    write_tables(settings, kore_tables(3, _user_id(sb)))
    waiting = int((state["status"] == "waiting_parent").sum())
    again = push(settings, sb.url, sb.flavor, sb.credentials, entities=CHAIN)
    assert again["failed"] == 0 and again["waiting_parent"] == 0
    assert again["sent"] == 2 + waiting
    final = sync_state(settings)
    assert set(final["status"]) == {"synced"}
    assert int(final.loc[final.external_key == "Season-2", "attempts"].iloc[0]) == 0
    for ent in CHAIN[2:]:
        assert sorted(_ext_keys(sb, ent)) == [f"{ent}-{i}" for i in (1, 2, 3)]
