"""Retractions over real HTTPS on loopback, both flavours: a returned ticket and an excluded Account
Type are withdrawn (inactive, never deleted) on the next push; a contact deleted in the CRM is
detected by the pull and not re-created; the configured policy and the guard hold."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from typer.testing import CliRunner

from dedup.cli import app as dedup_app
from dlt_pipelines.crm import pull
from kore.contracts import crm_names, record_state
from kore.warehouse import connect
from reverse_etl import push
from reverse_etl.retractions import plan, policy
from sandbox.crm_api import CrmSandbox
from sandbox.crm_schema import resolve
from tests.test_crm_support import CONTACTS, kore_tables, settings_for, sync_state, write_tables

TICKETS = "TicketPurchaseKoreps"


@pytest.fixture(params=["dynamics", "salesforce"])
def env(request, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=3.0)
    with CrmSandbox(settings.sandbox_dir, request.param) as sb:
        user = sb.records("User")[0][resolve(sb.flavor, "User").id_field]
        tables = kore_tables(3, user)
        write_tables(settings, tables, CONTACTS)
        yield settings, sb, tables


def _by_key(sb: CrmSandbox, entity: str) -> dict[str, dict]:
    spec = resolve(sb.flavor, crm_names.crm_entity_name(entity, sb.flavor))
    return {r[spec.ext_field]: r for r in sb.records(entity) if r.get(spec.ext_field)}


def _inactive(sb: CrmSandbox, entity: str) -> set[str]:
    return {k for k, r in _by_key(sb, entity).items() if record_state.is_inactive(sb.flavor, r)}


def test_returned_ticket_is_inactive_after_the_next_push_and_active_when_back(env):
    settings, sb, tables = env
    assert push(settings, sb.url, sb.flavor, sb.credentials)["failed"] == 0
    model = "syncedticketpurchases"
    full = tables[model]
    write_tables(settings, {model: full[full.external_key != f"{TICKETS}-2"]})  # ticket 2 returned
    res = push(settings, sb.url, sb.flavor, sb.credentials)
    assert res["entities"][TICKETS]["retracted"] == 1 and res["retract_failed"] == 0
    assert _inactive(sb, TICKETS) == {f"{TICKETS}-2"}  # withdrawn, not deleted
    assert len(_by_key(sb, TICKETS)) == 3
    state = sync_state(settings).set_index(["entity", "external_key"])
    assert state.loc[(TICKETS, f"{TICKETS}-2"), "status"] == "retracted"
    again = push(settings, sb.url, sb.flavor, sb.credentials)
    assert again["retracted"] == 0 and again["sent"] == 0  # withdrawn once
    write_tables(settings, {model: full})  # bought again
    back = push(settings, sb.url, sb.flavor, sb.credentials)
    assert back["entities"][TICKETS]["sent"] == 1 and _inactive(sb, TICKETS) == set()


def _baseline_of_seed(settings, sb: CrmSandbox) -> None:
    """What the first CRM pull writes: the CRM's own contacts/accounts (created_by_kore = 0)."""
    pull(settings, sb.url, sb.flavor, sb.credentials)


def test_excluded_account_type_is_withdrawn_but_a_preexisting_contact_is_not(env):
    settings, sb, _ = env
    _baseline_of_seed(settings, sb)
    spec = resolve(sb.flavor, "Contact")
    existing = sb.records("Contact")[0][spec.id_field]
    golden = [dict(c, is_excluded_account_type=0) for c in CONTACTS]
    golden[0]["crm_contact_id"] = existing  # K1 matched a contact the CRM had before KORE
    write_tables(settings, {}, golden)
    assert push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])["failed"] == 0
    golden[0]["is_excluded_account_type"] = 1
    golden[2]["is_excluded_account_type"] = 1  # K3 (KORE-created) newly excluded
    write_tables(settings, {}, golden)
    res = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    assert res["retract_failed"] == 0
    assert _inactive(sb, "Contact") == {"K3"}  # K1 was the CRM's own: KORE only stops writing to it
    assert _inactive(sb, "Account") == {"AHH1", "APN3"}  # both accounts were created by KORE
    assert "K3" in _by_key(sb, "Contact")  # deactivated, never deleted
    assert not record_state.is_inactive(
        sb.flavor, next(r for r in sb.records("Contact") if r[spec.id_field] == existing)
    )


def test_contact_deleted_in_the_crm_is_not_recreated_and_goes_to_review(env):
    settings, sb, _ = env
    golden = [dict(c) for c in CONTACTS]
    write_tables(settings, {}, golden)
    with connect(settings) as wh:
        wh.replace_table("kore_dedup", "account_contact_map",
                         pd.DataFrame({"acct_id": ["200", "201"], "crm_contact_key": ["K2", "K2"]}))  # fmt: skip
    push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    spec = resolve(sb.flavor, "Contact")
    pull(settings, sb.url, sb.flavor, sb.credentials)  # the warehouse knows K2's record
    assert sb.store.delete(spec, _by_key(sb, "Contact")["K2"][spec.id_field])  # a salesperson deletes it
    out = pull(settings, sb.url, sb.flavor, sb.credentials)
    assert out["removed_in_crm"] == 1
    golden[1]["phone"] = "15559999"  # Archtics changed: the push would send K2 again
    write_tables(settings, {}, golden)
    res = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    assert res["entities"]["Contact"]["withheld"] == 1
    assert "K2" not in _by_key(sb, "Contact")  # not re-created
    with connect(settings) as wh:
        review = wh.query_rows("select external_key, acct_id from ops.crm_review_requests order by acct_id")
    assert review == [("K2", "200"), ("K2", "201")]
    listed = CliRunner().invoke(
        dedup_app, ["review", "list", "--workdir", str(settings.workdir)], env={"COLUMNS": "200"}
    )
    assert listed.exit_code == 0, listed.output
    assert "removed in the CRM (2)" in listed.output and "200" in listed.output and "201" in listed.output
    state = sync_state(settings).set_index(["entity", "external_key"])
    assert state.loc[("Contact", "K2"), "status"] == "removed_in_crm"


def test_policy_keep_and_the_guard(env):
    settings, sb, _ = env
    kept = replace(settings, retractions=((TICKETS, "keep"),))
    assert policy(kept, TICKETS) == "keep" and policy(kept, "Season") == "deactivate"
    # the candidates (rows in the CRM whose key left the source) of an entity with 40 synced rows
    state = {(TICKETS, f"T{i}"): {"status": "synced", "crm_id": f"id{i}", "row_hash": "h"} for i in range(40)}
    one_gone = {k: v for k, v in state.items() if k[1] == "T39"}
    assert [r.key for r in plan(TICKETS, one_gone, "deactivate", None, synced=40).rows] == ["T39"]
    assert plan(TICKETS, state, "deactivate", None, synced=40).held.startswith("guard")  # 40 of 40 gone
    assert plan(TICKETS, state, "keep", None, synced=40).rows == []
    assert plan("Contact", {}, "deactivate", None).held == "no CRM baseline"
