"""The CRM integrity counts (kore.contracts.integrity): each goes non-zero on a crafted bad case and
stays zero on the good one; the warehouse audits read them from the tables the pull and push write."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup import store
from expectations.runner import run_checks
from kore.contracts import integrity
from kore.warehouse import connect
from tests.test_crm_support import settings_for

BASELINE = pd.DataFrame(
    [
        # entity, crm_id, parent_id, name, fields_hash, created_by_kore
        ("Account", "a1", None, "TryNowDo, Ltd.", "h", 0),
        ("Account", "a2", None, "Sporting Service Solutions Inc", "h", 0),
        ("Contact", "c1", "a2", "Gabriel Tremblay", "hc1", 0),
        ("Contact", "c2", None, "Ann Lee", "hc2", 0),
    ],
    columns=["entity", "crm_id", "parent_id", "name", "fields_hash", "created_by_kore"],
)


def _accounts(*extra: tuple) -> pd.DataFrame:
    rows = [("a1", "TryNowDo, Ltd.", None, 0), ("a2", "Sporting Service Solutions Inc", "ACO9", 0), *extra]
    return pd.DataFrame(rows, columns=["crm_id", "name", "kore_external_key", "inactive"])


def test_duplicated_accounts():
    assert integrity.duplicated_accounts(BASELINE, _accounts(("k1", "Other Co", "ACO1", 0)))[0] == 0
    # reused a2 (KORE key written onto it) is fine; a second "trynowdo ltd" made by KORE is not
    bad = _accounts(("k2", "TRYNOWDO LTD", "ACO2", 0))
    n, ex = integrity.duplicated_accounts(BASELINE, bad)
    assert n == 1 and ex == [{"crm_id": "k2", "kore_external_key": "ACO2"}]
    assert integrity.duplicated_accounts(BASELINE, _accounts(("k2", "TryNowDo Ltd", "ACO2", 1)))[0] == 0  # withdrawn


def test_moved_contacts_unless_approved():
    good = pd.DataFrame({"crm_id": ["c1", "c2", "k9"], "parent_id": ["a2", None, "k1"]})
    assert integrity.moved_contacts(BASELINE, good, set())[0] == 0
    bad = pd.DataFrame({"crm_id": ["c1", "c2"], "parent_id": ["k1", "k1"]})  # c2 had no account: attached
    assert integrity.moved_contacts(BASELINE, bad, set())[0] == 1
    assert integrity.moved_contacts(BASELINE, bad, {"c1"})[0] == 0  # a person approved it
    assert integrity.moved_contacts(BASELINE, bad.assign(parent_id=[None, None]), set())[0] == 1  # detached


def test_protected_fields_changed_only_when_kore_wrote():
    now = pd.DataFrame({"entity": ["Contact", "Contact"], "crm_id": ["c1", "c2"], "fields_hash": ["new", "hc2"]})
    assert integrity.protected_changed(BASELINE, now, {"c1", "c2"}, written={"c1"})[0] == 1
    assert integrity.protected_changed(BASELINE, now, {"c1", "c2"}, written=set())[0] == 0  # a CRM user's edit
    assert integrity.protected_changed(BASELINE, now, {"c2"}, written={"c1", "c2"})[0] == 0


def test_retracted_rows_active():
    r = pd.DataFrame({"entity": ["T", "T", "T"], "external_key": ["t1", "t2", "t3"], "crm_id": ["x1", "x2", "x3"]})
    assert integrity.retracted_active(r, inactive_ids={"x1", "x2"}, present_ids={"x1", "x2"})[0] == 0
    assert integrity.retracted_active(r, inactive_ids={"x1"}, present_ids={"x1", "x2", "x3"})[0] == 2


def test_people_with_several_contacts():
    truth = pd.DataFrame(
        {"record_id": ["A:10:1", "A:10:2", "A:11:3", "C:c1"], "person_id": ["P1", "P2", "P1", "P1"]}
    )  # account 10: P1 holds it, P2 is a second name on it; account 11 is P1's too; c1 is P1's CRM contact
    mapping = pd.DataFrame({"acct_id": ["10", "11"], "crm_contact_key": ["K1", "K1"]})
    one = pd.DataFrame({"crm_id": ["k1"], "kore_external_key": ["K1"]})
    assert integrity.people_with_several_contacts(one, BASELINE, mapping, truth)[0] == 0
    mapping2 = pd.DataFrame({"acct_id": ["10", "11"], "crm_contact_key": ["K1", "K2"]})
    two = pd.DataFrame({"crm_id": ["k1", "k2"], "kore_external_key": ["K1", "K2"]})
    n, ex = integrity.people_with_several_contacts(two, BASELINE, mapping2, truth)
    assert n == 1 and ex == [{"person_id": "P1", "contacts": 2}]
    # Gabriel's case: his CRM contact c1 plus a contact KORE created from his other account
    with_crm = pd.DataFrame({"crm_id": ["c1", "k2"], "kore_external_key": [None, "K2"]})
    assert integrity.people_with_several_contacts(with_crm, BASELINE, mapping2.iloc[1:], truth)[0] == 1
    mapping3 = pd.DataFrame({"acct_id": ["11"], "crm_contact_key": ["KC1"]})  # mapped to c1 itself
    c1_only = pd.DataFrame({"crm_id": ["c1"], "kore_external_key": ["KC1"]})
    assert integrity.people_with_several_contacts(c1_only, BASELINE, mapping3, truth)[0] == 0


def test_warehouse_audits_count_from_baseline_and_raw_crm(tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch)
    base = BASELINE.assign(crm_flavor="dynamics", kore_external_key=None, first_seen_at=pd.Timestamp("2026-01-01"))
    raw_acc = pd.DataFrame({"accountid": ["a1", "a2", "k2"], "name": ["TryNowDo, Ltd.", "X", "TryNowDo Ltd"],
                            "kore_externalkey": [None, None, "ACO2"]})  # fmt: skip
    raw_con = pd.DataFrame({"contactid": ["c1", "c2"], "_parentcustomerid_value": ["k2", None],
                            "kore_externalkey": [None, None], "lastname": ["Tremblay", "Lee"]})  # fmt: skip
    state = pd.DataFrame({"crm_flavor": ["dynamics"] * 2, "entity": ["T", "T"], "external_key": ["t1", "t2"],
                          "crm_id": ["x1", "x2"], "status": ["retracted", "retract_failed"]})  # fmt: skip
    settings.ensure_dirs()
    with connect(settings) as wh:
        wh.replace_table("ops", "crm_baseline", base)
        wh.replace_table("raw_crm", "dynamics_account", raw_acc)
        wh.replace_table("raw_crm", "dynamics_contact", raw_con)
        wh.replace_table("ops", "crm_sync_state", state)
    report = run_checks(settings, layer="kore", plugins=[], write_results=False, show_progress=False)
    got = {r.check: (r.status, r.failing_rows) for r in report.results if r.check.startswith("crm_integrity")}
    assert got == {
        "crm_integrity_duplicated_accounts": ("failed", 1),
        "crm_integrity_moved_contacts": ("failed", 1),
        "crm_integrity_protected_fields_changed": ("skipped", 0),  # no protected list: not configured
        "crm_integrity_retracted_rows_active": ("failed", 1),
    }
    with connect(settings) as wh:  # the good case: nothing duplicated, nobody moved, every withdrawal done
        wh.replace_table("raw_crm", "dynamics_account", raw_acc.iloc[:2])
        wh.replace_table("raw_crm", "dynamics_contact", raw_con.assign(_parentcustomerid_value=["a2", None]))
        wh.replace_table("ops", "crm_sync_state", state.assign(status="retracted"))
    store.protect(settings, "c1", "contact", note="VIP")  # the list as `kore dedup protect` writes it
    report = run_checks(settings, layer="kore", plugins=[], write_results=False, show_progress=False)
    got = {r.check: (r.status, r.failing_rows) for r in report.results if r.check.startswith("crm_integrity")}
    assert all(v == ("passed", 0) for v in got.values()), got
    # KORE wrote to a protected contact, protected by its KORE key: the push's state gives its CRM id
    store.unprotect(settings, {"c1"})
    store.protect(settings, "KC1", "contact")
    wrote = pd.DataFrame({"crm_flavor": ["dynamics"], "entity": ["Contact"], "external_key": ["KC1"],
                          "crm_id": ["c1"], "status": ["synced"]})  # fmt: skip
    with connect(settings) as wh:
        wh.replace_table("ops", "crm_sync_state", pd.concat([state.assign(status="retracted"), wrote]))
    report = run_checks(settings, layer="kore", plugins=[], write_results=False, show_progress=False)
    got = {r.check: (r.status, r.failing_rows) for r in report.results if r.check.startswith("crm_integrity")}
    assert got["crm_integrity_protected_fields_changed"] == ("failed", 1)


@pytest.mark.parametrize("flavor", ["dynamics", "salesforce"])
def test_sandbox_plugin_counts_in_the_crms_own_records(flavor, tmp_path, monkeypatch):
    """The [crm] counts read the sandbox CRM after a push: zero before, and a push that makes a second
    account of a pre-existing organisation and moves a pre-existing contact to it is counted."""
    from dlt_pipelines.crm import pull
    from reverse_etl import push
    from sandbox.checks import audits as sandbox_audits
    from sandbox.crm_api import CrmSandbox
    from sandbox.crm_schema import resolve
    from tests.test_crm_support import CONTACTS, write_tables

    settings = settings_for(tmp_path, monkeypatch, crm_timeout=3.0, crm_flavor=flavor)
    with CrmSandbox(settings.sandbox_dir, flavor) as sb:
        pull(settings, sb.url, flavor, sb.credentials)  # the baseline: the CRM's own records

        def counts() -> dict[str, int]:
            rep = run_checks(settings, layer="kore", crm_url=sb.url, crm_credentials=sb.credentials,
                             plugins=[sandbox_audits], write_results=False, show_progress=False)  # fmt: skip
            return {r.check: r.failing_rows for r in rep.results if r.check.endswith("[crm]")}

        before = counts()
        assert before["crm_integrity_duplicated_accounts[crm]"] == 0
        assert before["crm_integrity_moved_contacts[crm]"] == 0
        cspec, aspec = resolve(flavor, "Contact"), resolve(flavor, "Account")
        parent_field = "_parentcustomerid_value" if flavor == "dynamics" else "AccountId"
        contact = next(c for c in sb.records("Contact") if c.get(parent_field))
        account = next(a for a in sb.records("Account") if a[aspec.id_field] == contact[parent_field])
        name = account["name" if flavor == "dynamics" else "Name"]
        golden = [dict(CONTACTS[1], crm_contact_id=contact[cspec.id_field], company=name, account_key="ACO1")]
        write_tables(settings, {}, golden)
        assert push(settings, sb.url, flavor, sb.credentials, entities=["Account", "Contact"])["failed"] == 0
        after = counts()
        assert after["crm_integrity_duplicated_accounts[crm]"] == 1  # a second account of that organisation
        assert after["crm_integrity_moved_contacts[crm]"] == 1  # and the CRM's contact moved to it


_VALUES = st.one_of(st.none(), st.just(float("nan")), st.text(alphabet=" ab|é\t", max_size=5))


@given(st.lists(st.fixed_dictionaries({k: _VALUES for k in integrity.HASHED[:6]}), max_size=8))
def test_fields_hashes_equal_the_row_hash(rows):
    """The column-wise hash (the pull's baseline, the integrity audits) is the per-row contract's:
    null, NaN and blank are one empty value, text is trimmed, an absent column is empty."""
    df = pd.DataFrame(rows, columns=list(integrity.HASHED[:6]), dtype=object)
    assert list(integrity.fields_hashes(df)) == [integrity.fields_hash(r) for r in rows]
