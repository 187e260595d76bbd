"""The sample Archtics export: format contract, determinism, cutoff, and the realism dedup relies on."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from kore.contracts.archtics import DATASETS
from sandbox.generator import generate
from sandbox.people import NICKNAMES

ACCOUNTS = 400
CUTOFF = "2026-10-01 12:00:01"

# From shared/domain/archtics-raw-schema.md (the source system's names; asserted independently).
DOC_COLUMNS = {
    "cust": "acct_id cust_name_id primary_code rec_status acct_type_desc name_type salutation name_first name_mi "
    "name_last name_title company_name street_addr_1 street_addr_2 city state zip country phone_day phone_eve "
    "phone_cell phone_fax email_addr email_addr2 birth_date gender acct_rep_num acct_rep_name points points_ytd "
    "points_itd since_date old_acct_id household_id solicit_email solicit_addr solicit_phone_day "
    "solicit_phone_eve solicit_phone_cell add_date add_user upd_date upd_user other_info_1 other_info_20",
    "cust_address": "acct_id cust_name_id cust_address_id address_type address_type_name primary_ind street_addr_1 "
    "street_addr_2 city state zip country county seasonal start_date end_date name_prefix name_first name_middle "
    "name_last name_suffix nick_name company_name full_name primary_code name_type",
    "cust_email": "acct_id cust_name_id email_id email_type email_type_name email_addr primary_ind email_sort status "
    "solicit_email",
    "cust_rep": "acct_id acct_rep_id acct_rep_type",
    "ticket": "acct_id event_id event_name plan_event_id plan_event_name section_id section_name row_id row_name "
    "seat_num last_seat num_seats ticket_status tran_type order_num order_line_item order_line_item_seq price_code "
    "price_code_desc ticket_type class_name full_price purchase_price block_purchase_price paid_amount owed_amount "
    "disc_code disc_amount surchg_amount comp_code comp_name promo_code sell_location sales_source_name acct_rep_id "
    "renewal_ind return_reason return_datetime delivery_method add_datetime add_user upd_datetime upd_user",
    "evnt": "event_id event_name event_name_long event_date event_time event_day team plan plan_type plan_abv "
    "season_id season_name total_events arena_name event_type major_category minor_category enabled add_date "
    "upd_date upd_user",
    "events_in_plan": "plan_group_id plan_event_id event_id season_id event_date",
    "season": "season_id name season_year arena_id manifest_id org_id add_datetime upd_datetime",
    "note": "note_id task_stage_seq_num upd_datetime text",
}


def read_gz_csv(path: Path) -> tuple[list[str], list[dict]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = [{k: (v if v != "" else None) for k, v in zip(header, line, strict=True)} for line in r]
    return header, rows


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("gen")
    summary = generate(ACCOUNTS, root / "export", seed=7, part_rows=1_000, show_progress=False)
    export = root / "export"
    manifest = json.loads((export / "manifest.json").read_text())
    data: dict[str, list[dict]] = defaultdict(list)
    for f in manifest["files"]:
        _, rows = read_gz_csv(export / f["path"])
        data[f["dataset"]] += rows
    live = {d: read_gz_csv(root / "sandbox" / "archtics_live" / f"{d}.csv.gz")[1] for d in DATASETS}
    with open(root / "sandbox" / "ground_truth.csv") as fh:
        gt = list(csv.DictReader(fh))
    contacts = [json.loads(x) for x in (root / "sandbox" / "crm_seed" / "contacts.jsonl").read_text().splitlines()]
    accounts = [json.loads(x) for x in (root / "sandbox" / "crm_seed" / "accounts.jsonl").read_text().splitlines()]
    return {
        "root": root,
        "summary": summary,
        "manifest": manifest,
        "data": data,
        "live": live,
        "gt": gt,
        "contacts": contacts,
        "crm_accounts": accounts,
    }


def test_manifest_matches_files(gen):
    export = gen["root"] / "export"
    m = gen["manifest"]
    assert m["format_version"] == 1 and m["source"] == "archtics" and m["cutoff"] == CUTOFF
    assert {f["dataset"] for f in m["files"]} == set(DATASETS)
    for f in m["files"]:
        raw = (export / f["path"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == f["sha256"], f["path"]
        assert len(raw) == f["bytes"]
        header, rows = read_gz_csv(export / f["path"])
        assert header == f["columns"], f["path"]
        assert len(rows) == f["rows"], f["path"]
    # several part files for the big datasets (part size 1,000 rows)
    ticket_parts = [f for f in m["files"] if f["dataset"] == "ticket"]
    assert len(ticket_parts) >= 3 and all(f["rows"] == 1_000 for f in ticket_parts[:-1])
    assert gen["summary"]["rows"]["ticket"] == sum(f["rows"] for f in ticket_parts)


def test_all_documented_columns_present(gen):
    for f in gen["manifest"]["files"]:
        missing = set(DOC_COLUMNS[f["dataset"]].split()) - set(f["columns"])
        assert not missing, (f["dataset"], missing)


def test_deterministic_for_a_seed(gen, tmp_path):
    again = tmp_path / "again"
    generate(ACCOUNTS, again / "export", seed=7, part_rows=1_000, show_progress=False)
    m2 = json.loads((again / "export" / "manifest.json").read_text())
    assert [(f["path"], f["sha256"]) for f in m2["files"]] == [
        (f["path"], f["sha256"]) for f in gen["manifest"]["files"]
    ]
    root = gen["root"] / "sandbox"
    for rel in [
        "ground_truth.csv",
        "crm_seed/contacts.jsonl",
        "archtics_live/cust.csv.gz",
        "archtics_live/ticket.csv.gz",
    ]:
        assert (again / "sandbox" / rel).read_bytes() == (root / rel).read_bytes(), rel
    # a different seed, re-generated into the same folder with bigger parts: no stray files remain
    generate(ACCOUNTS, again / "export", seed=8, part_rows=5_000, show_progress=False)
    m3 = json.loads((again / "export" / "manifest.json").read_text())
    assert m3["files"][0]["sha256"] != gen["manifest"]["files"][0]["sha256"]
    on_disk = {str(p.relative_to(again / "export")) for p in (again / "export").rglob("*.csv.gz")}
    assert on_disk == {f["path"] for f in m3["files"]}


def test_export_strictly_before_cutoff_and_live_at_or_after(gen):
    for name, ds in DATASETS.items():
        if ds.cursor:
            values = [r[ds.cursor] for r in gen["data"][name]]
            assert values and all(v < CUTOFF for v in values), name
            live = [r[ds.cursor] for r in gen["live"][name]]
            assert all(v >= CUTOFF for v in live), name
    # some live changes land exactly on the cutoff second (and are therefore not in the export)
    assert any(r["upd_date"] == CUTOFF for r in gen["live"]["cust"])
    assert any(r["upd_datetime"] == CUTOFF for r in gen["live"]["ticket"])


def test_accounts_and_business_keys(gen):
    cust = gen["data"]["cust"]
    accts = {r["acct_id"] for r in cust}
    assert len(accts) == ACCOUNTS
    primaries = defaultdict(int)
    for r in cust:
        primaries[r["acct_id"]] += r["primary_code"] == "Primary"
    assert set(primaries.values()) == {1}, "exactly one primary name per account"
    assert any(r["primary_code"] != "Primary" for r in cust), "secondary names exist"
    assert {"Individual", "Corporate", "Comp", "Internal"} <= {r["acct_type_desc"] for r in cust}
    assert any(r["name_type"] == "C" and r["company_name"] for r in cust)
    for name, ds in DATASETS.items():
        keys = [tuple(r[k] for k in ds.business_key) for r in gen["data"][name]]
        assert len(keys) == len(set(keys)), f"duplicate business keys in {name}"
    for child in ("cust_address", "cust_email", "cust_rep"):
        assert {r["acct_id"] for r in gen["data"][child]} <= accts


def test_tickets_realistic(gen):
    t = gen["data"]["ticket"]
    assert 6 * ACCOUNTS <= len(t) <= 14 * ACCOUNTS
    events = {r["event_id"]: r for r in gen["data"]["evnt"]}
    assert {r["event_id"] for r in t} <= set(events)
    assert {r["acct_id"] for r in t} <= {r["acct_id"] for r in gen["data"]["cust"]}
    plan_rows = [r for r in t if r["plan_event_id"] == r["event_id"]]
    assert plan_rows and all(events[r["event_id"]]["plan"] == "Y" for r in plan_rows)
    expanded = [r for r in t if r["plan_event_id"] and r["plan_event_id"] != r["event_id"]]
    assert expanded and all(events[r["event_id"]]["plan"] == "N" for r in expanded)
    returns = [r for r in t if r["ticket_status"] == "R"]
    assert returns and all(r["return_datetime"] for r in returns)
    active = {
        (r["acct_id"], r["event_id"], r["section_id"], r["row_id"], r["seat_num"])
        for r in t
        if r["ticket_status"] == "A"
    }
    assert all((r["acct_id"], r["event_id"], r["section_id"], r["row_id"], r["seat_num"]) in active for r in returns)
    for r in t:
        assert int(r["last_seat"]) - int(r["seat_num"]) + 1 == int(r["num_seats"])
    eip = gen["data"]["events_in_plan"]
    plans = {r["event_id"] for r in gen["data"]["evnt"] if r["plan"] == "Y"}
    assert {r["plan_event_id"] for r in eip} == plans


def _gt_by_record(gen) -> dict[str, dict]:
    return {g["record_id"]: g for g in gen["gt"]}


def _cust_by_record(gen, live: bool = False) -> dict[str, dict]:
    rows = gen["live"]["cust"] if live else gen["data"]["cust"]
    return {f"A:{r['acct_id']}:{r['cust_name_id']}": r for r in rows}


def test_ground_truth_covers_every_name(gen):
    gt = _gt_by_record(gen)
    cust = _cust_by_record(gen)
    export_gt = {k for k, g in gt.items() if g["source"] == "archtics" and g["origin"] == "export"}
    assert export_gt == set(cust)
    live_new = {k for k, g in gt.items() if g["origin"] == "live"}
    assert live_new and live_new <= set(_cust_by_record(gen, live=True))
    crm = {k for k, g in gt.items() if g["source"] == "crm"}
    assert crm == {f"C:{c['crm_id']}" for c in gen["contacts"]}
    scenarios = {g["scenario"] for g in gen["gt"]}
    for s in ["single", "household", "spouse_name", "company", "company_contact", "dup_original", "dup_second_employer",
              "dup_typo_last", "dup_typo_phone", "dup_moved", "dup_nickname", "dup_changed_email",
              "gabriel_old_employer", "gabriel_current", "crm_linked", "crm_outdated", "crm_only"]:  # fmt: skip
        assert s in scenarios, s


def _person_records(gen) -> dict[str, list[dict]]:
    cust = _cust_by_record(gen)
    out = defaultdict(list)
    for g in gen["gt"]:
        if g["record_id"] in cust:
            out[g["person_id"]].append({**cust[g["record_id"]], "_scenario": g["scenario"]})
    return out


def test_duplicates_look_like_the_variant(gen):
    people = _person_records(gen)
    checked = defaultdict(int)
    for recs in people.values():
        prim = [r for r in recs if r["primary_code"] == "Primary"]
        for r in prim:
            others = [o for o in prim if o is not r]
            if not others:
                continue
            s = r["_scenario"]
            if s == "dup_typo_last":
                assert any(Levenshtein.distance(r["name_last"], o["name_last"]) in (1, 2) for o in others)
                checked[s] += 1
            elif s == "dup_nickname":
                assert any(NICKNAMES.get(o["name_first"]) == r["name_first"] for o in others)
                checked[s] += 1
            elif s == "dup_typo_phone":
                digits = lambda p: "".join(c for c in (p or "") if c.isdigit())  # noqa: E731
                assert any(
                    sorted(digits(r["phone_cell"])) == sorted(digits(o["phone_cell"]))
                    and digits(r["phone_cell"]) != digits(o["phone_cell"])
                    for o in others
                )
                checked[s] += 1
            elif s == "dup_second_employer":
                assert r["company_name"] and all(r["company_name"] != o["company_name"] for o in others)
                assert r["email_addr"].split("@")[1] != others[0]["email_addr"].split("@")[1]
                checked[s] += 1
    assert set(checked) == {"dup_typo_last", "dup_nickname", "dup_typo_phone", "dup_second_employer"}


def test_households_are_different_people_at_one_address(gen):
    cust = _cust_by_record(gen)
    by_household = defaultdict(list)
    for g in gen["gt"]:
        r = cust.get(g["record_id"])
        if r and r["primary_code"] == "Primary" and g["household_id"]:
            by_household[g["household_id"]].append((g["person_id"], r))
    pairs = 0
    for members in by_household.values():
        persons = {p for p, _ in members}
        if len(persons) < 2:
            continue
        firsts = {}
        for p, r in members:
            firsts.setdefault(p, set()).add(r["name_first"])
        base = [r for p, r in members if r["street_addr_1"]]
        assert len({r["name_last"] for _, r in members}) <= 2  # one name (plus a typo'd duplicate at most)
        assert len({(r["street_addr_1"], r["zip"]) for r in base}) <= len(members)
        a, b = list(persons)[:2]
        assert not (firsts[a] & firsts[b]), "household members have different first names"
        pairs += 1
    assert pairs >= 5


def test_gabriel_tremblay_scenario(gen):
    gt = [g for g in gen["gt"] if g["scenario"].startswith(("gabriel", "crm_gabriel"))]
    assert len({g["person_id"] for g in gt}) == 1 and len(gt) == 3
    cust = _cust_by_record(gen)
    old = next(cust[g["record_id"]] for g in gt if g["scenario"] == "gabriel_old_employer")
    cur = next(cust[g["record_id"]] for g in gt if g["scenario"] == "gabriel_current")
    assert (old["name_first"], old["name_last"]) == ("Gabriel", "Tremblay") == (cur["name_first"], cur["name_last"])
    assert old["company_name"] == "TryNowDo Ltd" and cur["company_name"] == "Sporting Service Solutions Inc"
    assert int(old["acct_id"]) < int(cur["acct_id"]) and old["upd_date"] < cur["upd_date"]
    assert old["email_addr"] != cur["email_addr"] and old["street_addr_1"] != cur["street_addr_1"]
    contact = next(c for c in gen["contacts"] if f"C:{c['crm_id']}" in {g["record_id"] for g in gt})
    sss = next(a for a in gen["crm_accounts"] if a["name"] == "Sporting Service Solutions Inc")
    assert contact["account_id"] == sss["crm_id"] and contact["email"] == cur["email_addr"]
    assert any(a["name"] == "TryNowDo Ltd" for a in gen["crm_accounts"])


def test_crm_seed_mix(gen):
    contacts = gen["contacts"]
    persons_with_accounts = {g["person_id"] for g in gen["gt"] if g["source"] == "archtics"}
    assert 0.1 * ACCOUNTS <= len(contacts) <= 0.4 * ACCOUNTS
    accts = {r["acct_id"] for r in gen["data"]["cust"]}
    linked = [c for c in contacts if c["archtics_account_id"]]
    assert linked and all(c["archtics_account_id"] in accts for c in linked)
    gt = _gt_by_record(gen)
    only = [gt[f"C:{c['crm_id']}"] for c in contacts if gt[f"C:{c['crm_id']}"]["scenario"] == "crm_only"]
    assert only and all(g["person_id"] not in persons_with_accounts for g in only)
    for c in contacts:
        assert c["last_name"] and c["modified_at"] < CUTOFF


def test_live_changes(gen):
    live = gen["live"]
    notes = [r for r in live["note"] if (r["text"] or "").startswith("Merged account")]
    assert notes
    moved_to = {}
    for n in notes:
        _, _, old, _, new = n["text"].split()[:5]
        moved_to[old] = new
        assert n["acct_id"] == new
    old_rows = [r for r in live["cust"] if r["acct_id"] in moved_to]
    assert old_rows and all(r["rec_status"] == "I" for r in old_rows)
    exported_old = {
        (r["event_id"], r["section_id"], r["row_id"], r["seat_num"], r["ticket_status"])
        for r in gen["data"]["ticket"]
        if r["acct_id"] in moved_to
    }
    live_moved = {
        (r["event_id"], r["section_id"], r["row_id"], r["seat_num"], r["ticket_status"]): r["acct_id"]
        for r in live["ticket"]
    }
    assert exported_old and all(live_moved.get(k) in moved_to.values() for k in exported_old)
    assert any(r["ticket_status"] == "R" and r["return_datetime"] >= CUTOFF for r in live["ticket"])
    exported_accts = {r["acct_id"] for r in gen["data"]["cust"]}
    assert any(r["acct_id"] not in exported_accts for r in live["cust"]), "new accounts after the cutoff"
    keys = [tuple(r[k] for k in DATASETS["ticket"].business_key) for r in live["ticket"]]
    assert len(keys) == len(set(keys))
    # new purchases after the cutoff take seats nobody held in the export (no silent overwrite)
    exported_keys = {tuple(r[k] for k in DATASETS["ticket"].business_key) for r in gen["data"]["ticket"]}
    new_sales = [r for r in live["ticket"] if r["add_datetime"] >= CUTOFF and r["ticket_status"] == "A"]
    assert new_sales and not {tuple(r[k] for k in DATASETS["ticket"].business_key) for r in new_sales} & exported_keys
    # a changed child list is complete: every name of an account in live cust_email keeps its e-mails
    exp_emails = defaultdict(set)
    for r in gen["data"]["cust_email"]:
        exp_emails[r["acct_id"]].add(r["email_addr"])
    live_emails = defaultdict(set)
    for r in live["cust_email"]:
        live_emails[r["acct_id"]].add(r["email_addr"])
    changed = [a for a in live_emails if a in exp_emails]
    assert changed and all(exp_emails[a] <= live_emails[a] for a in changed)


def test_notes_tasks_and_old_merges(gen):
    notes = gen["data"]["note"]
    stages = defaultdict(list)
    for r in notes:
        stages[r["note_id"]].append(int(r["task_stage_seq_num"]))
    multi = [s for s in stages.values() if len(s) > 1]
    assert multi and all(sorted(s) == list(range(1, len(s) + 1)) for s in multi), "tasks with stages 1..n"
    accts = {r["acct_id"] for r in gen["data"]["cust"]}
    old_merges = [r for r in notes if (r["text"] or "").startswith("Merged account")]
    assert old_merges
    for r in old_merges:
        _, _, old, _, new = r["text"].split()[:5]
        assert old not in accts and new in accts and r["acct_id"] == new
    rep_lists = [r for r in gen["live"]["cust_rep"]]
    assert rep_lists and {r["acct_id"] for r in rep_lists} <= {r["acct_id"] for r in gen["live"]["cust"]}


def test_gzip_is_rfc4180_text(gen):
    export = gen["root"] / "export"
    f = next(f for f in gen["manifest"]["files"] if f["dataset"] == "note")
    text = gzip.decompress((export / f["path"]).read_bytes()).decode("utf-8")
    first = next(csv.reader(io.StringIO(text)))
    assert first == DATASETS["note"].columns
    assert '""' not in text.replace('""""', ""), "no empty quoted values (empty means null)"
