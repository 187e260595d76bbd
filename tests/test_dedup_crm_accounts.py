"""CRM integrity end to end: dedup on a real DuckDB warehouse, then the push to the sandbox CRM over
HTTPS, judged by the CRM's own store: a matched CRM account is reused (not duplicated), a contact the
CRM had keeps its parent, a protected contact is untouched by a newer Archtics record, an outdated
Archtics account of a CRM contact never becomes a second contact; and the ranking policy."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.crm_integrity import count_integrity
from dedup import account_table, hold_pairs, store
from dedup.accounts import match_accounts
from dedup.pipeline import run_dedup
from kore.warehouse import connect
from reverse_etl import push
from sandbox.crm_api import CrmSandbox
from tests.test_crm_support import settings_for
from tests.test_dedup_fixtures import arch, crm

SSS, TND, ACME = (
    "0a000000-0000-4000-8000-000000000001",
    "0a000000-0000-4000-8000-000000000002",
    "0a000000-0000-4000-8000-000000000003",
)
GAB, VERA, PAUL = (f"0c000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))


def _account(crm_id, name, phone, street, city, zip5, modified="2026-05-01 10:00:00") -> dict:
    return dict(crm_id=crm_id, name=name, industry_id=None, phone=phone, street=street, city=city, state="QC",
                postal_code=zip5, country="CAN", owner_user_id=None, archtics_account_id=None,
                kore_external_key=None, modified_at=modified)  # fmt: skip


def _contact(crm_id, first, last, email, account_id, modified) -> dict:
    return dict(crm_id=crm_id, first_name=first, last_name=last, email=email, phone="514-555-0199",
                mobile_phone=None, street="400 Rue Sainte-Catherine", city="Montreal", state="QC",
                postal_code="10001", country="CAN", birth_date=None, account_id=account_id, owner_user_id=None,
                archtics_account_id=None, kore_external_key=None, created_at="2024-01-01 00:00:00",
                modified_at=modified)  # fmt: skip


ACCOUNTS = [
    _account(SSS, "Sporting Service Solutions Inc", "514-555-0100", "400 Rue Sainte-Catherine", "Montreal", "10001"),
    _account(TND, "TryNowDo Ltd", "450-555-0100", "12 Old Mill Road", "Laval", "20002"),
    _account(ACME, "Acme Corp", "312-555-0100", "1 Industry Way", "Chicago", "60601"),
]
CONTACTS = [
    _contact(GAB, "Gabriel", "Tremblay", "gabriel.tremblay@sportingservice.com", SSS, "2026-06-01 10:00:00"),
    _contact(VERA, "Vera", "Ip", "vera@sponsor.example", ACME, "2025-01-01 10:00:00"),
    _contact(PAUL, "Paul", "Roy", "paul.roy@example.org", TND, "2024-01-01 10:00:00"),
]


def _records() -> pd.DataFrame:
    """Person records as dedup.dedup_person_records gives them (normalised + display values)."""
    rows = [
        crm(GAB, first_name="gabriel", last_name="tremblay", email="gabriel.tremblay@sportingservice.com",
            phone="15145550199", company="sporting service solutions inc", street="400 rue sainte catherine",
            city="montreal", zip5="10001", updated_at="2026-06-01 10:00:00"),
        crm(VERA, first_name="vera", last_name="ip", email="vera@sponsor.example", phone="15145550199",
            company="acme corp", city="montreal", zip5="10001", updated_at="2025-01-01 10:00:00"),
        # Gabriel's outdated TryNowDo account: only his name in common with his CRM contact
        arch(1001, first_name="gabriel", last_name="tremblay", email="gtremblay@trynowdo.com",
             phone="14505550111", company="trynowdo ltd", company_display="TryNowDo Ltd", street="12 old mill rd",
             city="laval", zip5="20002", updated_at="2019-02-01 09:00:00", last_activity_at="2019-01-15 09:00:00"),
        # Vera's Archtics record is newer than her CRM contact and says something else
        arch(4001, first_name="vera", last_name="ip", first_name_display="Vera", last_name_display="Ip",
             email="vera@sponsor.example", phone="13125550000", street="9 new st", street_display="9 New St",
             city="chicago", zip5="60601", updated_at="2026-10-01 09:00:00"),
        # Paul: under TryNowDo in the CRM; his newer Archtics record says Acme (dedup would move him)
        crm(PAUL, first_name="paul", last_name="roy", email="paul.roy@example.org", phone="15145550177",
            company="trynowdo ltd", updated_at="2024-01-01 10:00:00"),
        arch(6001, first_name="paul", last_name="roy", first_name_display="Paul", last_name_display="Roy",
             email="paul.roy@example.org", phone="15145550177", company="acme corp", company_display="Acme Corp",
             updated_at="2026-08-01 09:00:00"),
        # a new person at Acme (the CRM has the account, not the contact)
        arch(3001, first_name="ann", last_name="lee", first_name_display="Ann", last_name_display="Lee",
             email="ann.lee@acme.example", phone="13125550111", company="acme corp", company_display="Acme Corporation",
             street="1 industry way", city="chicago", zip5="60601", updated_at="2026-09-01 09:00:00"),
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _synced(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype("string")


@pytest.fixture(params=["dynamics", "salesforce"])
def crm_env(request, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=5.0)
    settings.ensure_dirs()
    seed = settings.sandbox_dir / "crm_seed"
    seed.mkdir(parents=True, exist_ok=True)
    for name, rows in (("accounts", ACCOUNTS), ("contacts", CONTACTS)):
        (seed / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with connect(settings) as wh:  # what the CRM pull + dbt give dedup
        wh.replace_table("dedup", "dedup_person_records", _records())
        wh.replace_table("kore", "SyncedAccounts", _synced(ACCOUNTS))
        wh.replace_table("kore", "SyncedContacts", _synced(CONTACTS))
    with CrmSandbox(settings.sandbox_dir, request.param) as sb:
        yield settings, sb


def _fields(sb: CrmSandbox, crm_id: str) -> dict:
    rec = next(r for r in sb.records("Contact") if crm_id in r.values())
    # KORE's own key and the CRM's modification stamps aside: every field the sales team sees
    return {k: v for k, v in rec.items() if "external" not in k.lower() and "mod" not in k.lower()}


def test_push_reuses_accounts_keeps_parents_protects_and_holds(crm_env):
    settings, sb = crm_env
    store.protect(settings, VERA, "contact", "sponsor")
    vera_before = _fields(sb, VERA)
    run_dedup(settings, progress=False)
    with connect(settings) as wh:
        golden = wh.query_df("select * from kore_dedup.golden_contacts").set_index("crm_contact_id", drop=False)
        holds = wh.query_df("select * from kore_dedup.push_holds")
    assert golden.loc[GAB, "link_account"] == 0 and golden.loc[GAB, "account_match"] == "crm_parent"
    assert golden.loc[PAUL, "company"] == "Acme Corp" and golden.loc[PAUL, "crm_account_id"] == TND
    with connect(settings) as wh:
        review = wh.query_df("select * from kore_dedup.account_review")
    assert list(review["kind"]) == ["contact_move"] and review["crm_contact_id"].iloc[0] == PAUL
    ann = golden[golden["first_name"] == "Ann"].iloc[0]
    assert ann["account_match"] == "crm_match" and ann["crm_account_id"] == ACME
    # Gabriel's TryNowDo record became no second contact: it waits for a person (since issue 14 the
    # name-only blocking key makes it a scored possible match of his contact: held for review)
    assert list(holds["reason"]) in (["same_name"], ["review"]) and holds["partner_crm_contact_id"].iloc[0] == GAB

    result = push(settings, sb.url, sb.flavor, sb.credentials, entities=["Account", "Contact"])
    assert result["failed"] == 0
    counts = count_integrity(settings.workdir, sb.flavor)
    assert counts["accounts_duplicated"] == 0 and counts["accounts_created"] == 0
    assert counts["contacts_moved"] == 0 and counts["contacts_parent_added"] == 0
    assert counts["gabriel_contacts"] == 1 and counts["gabriel_parent"] == ["Sporting Service Solutions Inc"]
    assert counts["contacts_total"] == 4  # Gabriel, Vera, Paul and Ann (under the CRM's Acme account)
    assert _fields(sb, VERA) == vera_before  # protected: the newer Archtics record changed nothing


def _first_run(tmp_path, monkeypatch):
    """A warehouse with this module's records and CRM tables, after a first (full) dedup run."""
    settings = settings_for(tmp_path, monkeypatch)
    records = _records()
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", records)
        wh.replace_table("kore", "SyncedAccounts", _synced(ACCOUNTS))
        wh.replace_table("kore", "SyncedContacts", _synced(CONTACTS))
    run_dedup(settings, progress=False)
    return settings, records


def test_incremental_account_tables_equal_a_full_rebuild(tmp_path, monkeypatch):
    """An incremental dedup run rewrites only the accounts whose inputs changed, and its account
    tables equal a full run's: after the CRM edited a reused account (pulled), a person protected
    another and released Gabriel's hold (different people), and a new Archtics account arrived."""
    settings, records = _first_run(tmp_path, monkeypatch)

    def tables() -> dict[str, pd.DataFrame]:
        with connect(settings) as wh:
            out = {
                t: wh.query_df(f"select * from kore_dedup.{t}")
                for t in ("golden_accounts", "push_holds", "account_review")
            }
        return {t: df.drop(columns=[c for c in ("held_at", "queued_at") if c in df]).astype(str)
                .sort_values(list(df.columns[:2])).reset_index(drop=True) for t, df in out.items()}  # fmt: skip

    before = tables()
    assert len(before["push_holds"]) == 1  # Gabriel's TryNowDo record waits for a person
    acme = {**ACCOUNTS[2], "state": "IL", "modified_at": "2026-11-01 10:00:00"}  # a field matching does not read
    newcomer = arch(7001, first_name="zoe", last_name="park", first_name_display="Zoe", last_name_display="Park",
                    email="zoe.park@example.net", phone="15145550142", city="laval", zip5="20002")  # fmt: skip
    records = pd.concat([records, pd.DataFrame([newcomer])], ignore_index=True)
    # Paul's Archtics record changed elsewhere: his proposed move to Acme is queued again, once
    paul = records["record_id"] == "A:6001:1"
    records.loc[paul, ["last_activity_at", "row_hash"]] = ["2026-11-02 09:00:00", "h2"]
    with connect(settings) as wh:
        wh.replace_table("kore", "SyncedAccounts", _synced([*ACCOUNTS[:2], acme]))
        wh.replace_table("dedup", "dedup_person_records", records)
    store.protect(settings, TND, "account", "sponsor")
    store.add_decision(settings, "forbid_match", "A:1001:1", f"C:{GAB}")
    assert run_dedup(settings, progress=False)["mode"] == "incremental"
    incremental = tables()
    assert not incremental["golden_accounts"].equals(before["golden_accounts"]) and not len(incremental["push_holds"])
    assert list(incremental["account_review"]["kind"]) == ["contact_move"]
    run_dedup(settings, full=True, progress=False)
    full = tables()
    for t in full:
        assert incremental[t].equals(full[t]), t


def test_ranking_policy_prefers_the_current_season_ticket_holder(tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch)
    person = dict(
        first_name="mia", last_name="roy", email="mia@example.org", phone="15145550123", birth_date="1990-01-02"
    )
    rows = [
        arch(5001, **person, updated_at="2025-01-01 00:00:00", last_activity_at="2025-02-01 00:00:00"),
        arch(5002, **person, updated_at="2026-09-01 00:00:00", last_activity_at="2026-09-02 00:00:00"),
    ]
    # 5001 holds a plan this season; 5002 bought more single tickets lately and is more recently active
    facts = pd.DataFrame({"acct_id": [5001, 5002], "season_rank": [1, 1], "plan_rows": [1, 0], "ticket_rows": [5, 60]})
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", pd.DataFrame(rows))
        wh.replace_table("dedup", "dedup_account_facts", facts)

    def primary(policy: str) -> tuple[str, str]:
        run_dedup(settings, policy=policy, full=True, progress=False)
        with connect(settings) as wh:
            mp = wh.query_df("select acct_id, rule from kore_dedup.account_contact_map where is_primary = 1")
        assert len(mp) == 1
        return str(mp["acct_id"].iloc[0]), str(mp["rule"].iloc[0])

    assert primary("default") == ("5001", "current_season_holder")
    assert primary("most_recent")[0] == "5001"  # the account kept from the last run stays primary
    with connect(settings) as wh:
        wh.execute("drop table kore_dedup.account_contact_map")
    assert primary("most_recent") == ("5002", "recent_activity")
    assert primary("first_found")[0] == "5002"  # kept from the last run


def _golden(key, rule, company, **kw) -> dict:
    row = dict(contact_key=key, account_key=key.replace("K", "A"), account_rule=rule, company=company,
               last_name="Lee", phone=None, street=None, zip5=None, city=None, primary_acct_id=None)  # fmt: skip
    row.update(kw)
    return row


def test_account_matching_decisions_and_evidence():
    crm_accounts = pd.DataFrame(
        [
            dict(
                crm_id="c1",
                name="Acme Corp.",
                phone="312-555-0100",
                street="1 Industry Way",
                postal_code="60601",
                city="Chicago",
            ),
            dict(
                crm_id="c2",
                name="Lee Household",
                phone=None,
                street="5 Elm Street",
                postal_code="30301",
                city="Atlanta",
            ),
            dict(crm_id="c3", name="Globex Inc", phone=None, street=None, postal_code=None, city=None),
            dict(
                crm_id="c4",
                name="Initech",
                archtics_account_id="777",
                phone=None,
                street=None,
                postal_code=None,
                city=None,
            ),
        ]
    )
    golden = pd.DataFrame(
        [
            _golden("K1", "company", "ACME Corporation", phone="13125550100"),  # same name after suffixes + phone
            _golden("K2", "household", None, street="5 elm st", zip5="30301"),  # household: name + address
            _golden("K3", "household", None, street="9 other rd", zip5="30301"),  # household without address: no
            _golden("K4", "company", "Globexx"),  # similar name only: a person decides
            _golden("K5", "company", "Something Else", primary_acct_id="777"),  # the CRM carries its Archtics id
        ]
    )
    m = match_accounts(golden, crm_accounts).set_index("account_key")
    assert (m.loc["A1", "decision"], m.loc["A1", "crm_account_id"]) == ("match", "c1")
    assert "phone" in m.loc["A1", "account_evidence"] and "name" in m.loc["A1", "account_evidence"]
    assert (m.loc["A2", "decision"], m.loc["A2", "crm_account_id"]) == ("match", "c2")
    assert m.loc["A3", "decision"] == "none"
    assert m.loc["A4", "decision"] == "possible" and m.loc["A4", "account_evidence"].startswith("name~")
    assert (m.loc["A5", "decision"], m.loc["A5", "account_evidence"]) == ("match", "archtics_id")
    verdicts = pd.DataFrame({"account_key": ["A4"], "crm_account_id": ["c3"], "accept": [1]})
    assert match_accounts(golden, crm_accounts, verdicts).set_index("account_key").loc["A4", "decision"] == "match"


def test_a_common_name_is_held_only_with_the_crm_contacts_email_or_phone(tmp_path, monkeypatch):
    """Four clusters named John Smith: namesakes, so the name alone holds nobody; the new contact
    that also has the CRM contact's e-mail (an outdated address, a new phone) waits for a person."""
    settings = settings_for(tmp_path, monkeypatch)
    rows = [  # record, source, e-mail, phone, cluster, CRM contact id
        ("C:1", "crm", "john.smith@live.com", None, "K1", "crm-1"),
        ("A:1", "archtics", "john.smith@live.com", "15550001", "K2", None),
        ("A:2", "archtics", "jsmith@work.example", "15550002", "K3", None),
        ("A:3", "archtics", None, "15550003", "K4", None),
    ]
    records = pd.DataFrame(
        [dict(record_id=r, source=s, first_name="john", last_name="smith", email=e, phone=p) for r, s, e, p, *_ in rows]
    )
    with connect(settings) as wh:
        wh.replace_table(store.SCHEMA, "records_norm", records)
        wh.replace_table(
            store.SCHEMA,
            "clusters",
            pd.DataFrame({"record_id": [r[0] for r in rows], "cluster_id": [r[4] for r in rows]}),
        )
        wh.replace_table(store.SCHEMA, "golden_contacts", pd.DataFrame(
            {"cluster_id": [r[4] for r in rows], "contact_key": [f"KC{r[4]}" for r in rows], "crm_contact_id": [r[5] for r in rows]}
        ).astype("string"))  # fmt: skip
        pairs = hold_pairs.named_pairs(wh).query("reason == 'same_name'")
    assert list(zip(pairs["record_id_l"], pairs["record_id_r"], strict=True)) == [("A:1", "C:1")]


def test_two_new_contacts_with_one_name_and_one_email_push_one_and_hold_the_other(tmp_path, monkeypatch):
    """The CRMs' own duplicate rules flag two contacts with one e-mail: KORE creates one of them and
    holds the other for review. Namesakes without a shared e-mail or phone, and a possible match of
    two new contacts from the review queue, hold nobody."""
    settings = settings_for(tmp_path, monkeypatch)
    rows = [  # record, e-mail, phone, cluster
        ("A:1", "brianparker@yahoo.com", "15550001", "K1"),
        ("A:2", "brianparker@yahoo.com", "15550002", "K2"),
        ("A:3", "brianparker@yahoo.com", None, "K2"),  # a second record of K2: still one pair
        ("A:4", "bparker@work.example", "15550004", "K3"),
        ("A:5", None, "15550004", "K4"),  # K3's phone: a pair too
    ]
    records = pd.DataFrame(
        [
            dict(record_id=r, source="archtics", first_name="brian", last_name="parker", email=e, phone=p)
            for r, e, p, _ in rows
        ]
    )
    clusters = pd.DataFrame({"record_id": [r[0] for r in rows], "cluster_id": [r[3] for r in rows]})
    golden = pd.DataFrame({"cluster_id": ["K1", "K2", "K3", "K4"], "contact_key": ["KC1", "KC2", "KC3", "KC4"],
                           "crm_contact_id": [None] * 4}).astype("string")  # fmt: skip
    with connect(settings) as wh:
        wh.replace_table(store.SCHEMA, "records_norm", records)
        wh.replace_table(store.SCHEMA, "clusters", clusters)
        wh.replace_table(store.SCHEMA, "golden_contacts", golden)
        pairs = hold_pairs.named_pairs(wh).query("reason == 'same_email'").drop(columns="reason")
    assert sorted(zip(pairs["key_l"], pairs["key_r"], strict=True)) == [("KC1", "KC2"), ("KC3", "KC4")]
    review = pd.DataFrame({"record_id_l": ["A:1"], "record_id_r": ["A:4"], "key_l": ["KC1"], "crm_l": [None],
                           "key_r": ["KC3"], "crm_r": [None], "reason": ["review"]})  # fmt: skip
    holds = account_table.push_holds(pd.concat([review, pairs.assign(reason="same_email")]), "now")
    assert sorted(holds["contact_key"]) == ["KC2", "KC4"] and set(holds["reason"]) == {"same_email"}
    a, b = pairs.loc[pairs["key_r"] == "KC2", ["record_id_l", "record_id_r"]].iloc[0]
    released = account_table.push_holds(pairs.assign(reason="same_email"), "now", {tuple(sorted((a, b)))})
    assert list(released["contact_key"]) == ["KC4"]


def test_similar_account_names_are_found_chunk_by_chunk_and_once_per_distinct_name():
    """The fuzzy account-name candidates do not depend on the chunk size (memory at 1M accounts is
    bounded by it); each distinct name is compared once; empty names pair with nothing."""
    from dedup.accounts import similar_names

    left = pd.Series(
        ["sporting service solutions", "sportng service solutions", "smith", "smith", "", None, "trynowdo"]
    )
    right = pd.Series(["sporting service solution", "smith", "acme", "", None])
    want = {
        ("sporting service solutions", "sporting service solution"),
        ("sportng service solutions", "sporting service solution"),
        ("smith", "smith"),
    }
    for chunk in (1, 2, 1000):
        got = similar_names(left, right, chunk=chunk)
        assert set(zip(got["name_l"], got["name_r"], strict=True)) == want and len(got) == len(want)


def test_an_incremental_run_recomputes_the_same_name_pairs_of_the_names_it_touched(tmp_path, monkeypatch):
    """The same-name hold pairs an incremental run keeps (``hold_name_pairs``: only the names its
    change touched are recomputed) equal the pairs computed from scratch over the same tables: a
    namesake of a CRM contact arrives (a pair appears) and Gabriel's outdated record is renamed (his
    pair goes)."""
    settings, records = _first_run(tmp_path, monkeypatch)

    def kept_and_fresh() -> tuple[pd.DataFrame, pd.DataFrame]:
        with connect(settings) as wh:
            kept, fresh = wh.query_df("select * from kore_dedup.hold_name_pairs"), hold_pairs.named_pairs(wh)
        return tuple(  # type: ignore[return-value]
            df.astype(str).sort_values(["record_id_l", "record_id_r"]).reset_index(drop=True) for df in (kept, fresh)
        )

    kept, _ = kept_and_fresh()
    assert list(kept["record_id_l"]) == ["A:1001:1"]  # Gabriel's TryNowDo record and his contact
    namesake = arch(7002, first_name="paul", last_name="roy", first_name_display="Paul", last_name_display="Roy",
                    email="proy@elsewhere.example", phone="17785550100", city="vancouver", zip5="90009")  # fmt: skip
    renamed = records["record_id"] == "A:1001:1"  # the view gives a changed row a new row_hash
    records.loc[renamed, ["first_name", "first_name_display", "row_hash"]] = ["marc", "Marc", "renamed"]
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", pd.concat([records, pd.DataFrame([namesake])]))
    assert run_dedup(settings, progress=False)["mode"] == "incremental"
    kept, fresh = kept_and_fresh()
    assert kept.equals(fresh)
    assert list(kept["record_id_l"]) == ["A:7002:1"] and list(kept["first_name"]) == ["paul"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text("abn ", min_size=1, max_size=24), min_size=0, max_size=30),
    st.lists(st.text("abn ", min_size=1, max_size=24), min_size=0, max_size=21),
    st.integers(1, 9),
)
def test_similar_names_are_every_pair_at_the_fuzzy_ratio(left, right, chunk) -> None:
    """Whatever the numbers and lengths of the names (each chunk is compared with the names whose
    length can reach the ratio, padded to 8 columns and searched in words) and the chunking, the pairs
    are exactly the distinct non-empty names at token-sort ratio >= FUZZY_NAME."""
    from rapidfuzz import fuzz

    from dedup.accounts import FUZZY_NAME, similar_names

    got = similar_names(pd.Series(left, dtype=object), pd.Series(right, dtype=object), chunk=chunk)
    want = {(a, b) for a in set(left) - {""} for b in set(right) - {""} if fuzz.token_sort_ratio(a, b) >= FUZZY_NAME}
    assert set(zip(got["name_l"], got["name_r"], strict=True)) == want
    assert len(got) == len(want)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text("abcdefgh ", min_size=8, max_size=60), min_size=1, max_size=12), st.data())
def test_similar_names_of_another_length_are_found(names, data) -> None:
    """A CRM name a few letters shorter or longer than a candidate's (up to what the ratio allows:
    "sporting service solutions" / "sporting service solution") is found whatever the lengths of the
    other names beside it and the chunking: the length band each chunk is compared within loses none."""
    from rapidfuzz import fuzz

    from dedup.accounts import FUZZY_NAME, similar_names

    right = []
    for name in names:  # each name with up to a tenth of its letters dropped, and one with letters added
        drop = set(data.draw(st.lists(st.integers(0, len(name) - 1), max_size=len(name) // 10)))
        right.append("".join(c for i, c in enumerate(name) if i not in drop))
        right.append(name + "x" * data.draw(st.integers(0, len(name) // 9)))
    chunk = data.draw(st.integers(1, 4))
    got = similar_names(pd.Series(names, dtype=object), pd.Series(right, dtype=object), chunk=chunk)
    want = {(a, b) for a in set(names) - {""} for b in set(right) - {""} if fuzz.token_sort_ratio(a, b) >= FUZZY_NAME}
    assert set(zip(got["name_l"], got["name_r"], strict=True)) == want
    assert len(got) == len(want)
