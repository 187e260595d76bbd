"""Small hand-made person records for the dedup tests (shape of dedup.dedup_person_records); no tests here."""

from __future__ import annotations

import pandas as pd


def arch(acct, name_id=1, primary=1, **kw) -> dict:
    row = {
        "record_id": f"A:{acct}:{name_id}",
        "source": "archtics",
        "acct_id": str(acct),
        "cust_name_id": str(name_id),
        "is_primary_name": primary,
        "name_type": "I",
        "is_excluded_account_type": 0,
        "row_hash": "h1",
    }
    row.update(kw)
    return row


def crm(cid, **kw) -> dict:
    row = {
        "record_id": f"C:{cid}",
        "source": "crm",
        "crm_contact_id": cid,
        "is_excluded_account_type": 0,
        "row_hash": "h1",
    }
    row.update(kw)
    return row


def gabriel_records() -> list[dict]:
    """Gabriel Tremblay: a CRM contact at Sporting Service Solutions (changed 2026-06), an outdated
    Archtics account from TryNowDo (acct 1001, found first) and a current one at SSS (acct 1002)."""
    return [
        crm(
            "crm-gab",
            first_name="Gabriel",
            last_name="Tremblay",
            email="gabriel.tremblay@sportingservice.com",
            phone="+1 514 555 0199",
            company="Sporting Service Solutions Inc",
            street="400 Rue Sainte-Catherine",
            city="Montreal",
            zip5="10001",
            updated_at="2026-06-01 10:00:00",
        ),
        arch(
            1001,
            first_name="Gabriel",
            last_name="Tremblay",
            email="gtremblay@trynowdo.com",
            phone="5145550199",
            company="TryNowDo Ltd",
            street="12 Old Mill Road",
            city="Laval",
            zip5="20002",
            birth_date="1984-03-07",
            updated_at="2019-02-01 09:00:00",
            last_activity_at="2019-01-15 09:00:00",
        ),
        arch(
            1002,
            first_name="Gabe",
            last_name="Tremblay",
            email="gabriel.tremblay@sportingservice.com",
            phone="5145550199",
            company="Sporting Service Solutions",
            street="400 Rue Sainte Catherine",
            city="Montreal",
            zip5="10001",
            birth_date="1984-03-07",
            updated_at="2026-09-01 09:00:00",
            last_activity_at="2026-09-20 09:00:00",
        ),
    ]


def household_records() -> list[dict]:
    """The Smiths: same street, surname, phone; different first names -> different people."""
    common = {
        "last_name": "Smith",
        "street": "7 Elm Street",
        "city": "Springfield",
        "zip5": "62701",
        "phone": "2175550100",
        "updated_at": "2025-01-01 00:00:00",
    }
    return [
        arch(2001, first_name="Robert", email="bob.smith@mail.com", birth_date="1970-05-05", **common),
        arch(2002, first_name="Mary", email="mary.smith@mail.com", birth_date="1972-08-09", **common),
        arch(2003, first_name="Emma", birth_date="2001-01-02", **common),
        arch(2004, first_name="Bob", email="bob.smith@mail.com", **common),  # Bob = Robert
    ]


def colleague_records() -> list[dict]:
    """Two people at Acme Corp sharing company, street and switchboard phone."""
    common = {
        "company": "Acme Corp",
        "street": "1 Industrial Way",
        "city": "Denver",
        "zip5": "80202",
        "phone": "3035550000",
        "updated_at": "2025-01-01 00:00:00",
    }
    return [
        arch(3001, first_name="Alice", last_name="Nguyen", email="alice@acme.com", **common),
        arch(3002, first_name="Carlos", last_name="Diaz", email="carlos@acme.com", **common),
        arch(3003, first_name="John", last_name="Brown", email="jbrown@acme.com", **common),
        arch(3004, first_name="John", last_name="Miller", email="jmiller@acme.com", **common),
    ]


def filler_records(n: int = 40) -> list[dict]:
    """Unrelated people so u-probabilities have something to learn from."""
    firsts = ["Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Zoe", "Owen", "Ivy"]
    lasts = ["Garcia", "Kowalski", "Okafor", "Lindqvist", "Haddad", "Moreau", "Tanaka", "Silva"]
    out = []
    for i in range(n):
        f, last = firsts[i % len(firsts)], lasts[(i * 3) % len(lasts)]
        out.append(
            arch(
                9000 + i,
                first_name=f,
                last_name=last,
                email=f"{f.lower()}.{last.lower()}{i}@example.org",
                phone=f"212555{1000 + i}",
                street=f"{i + 10} Main St",
                city="Boston",
                zip5=f"{2100 + i:05d}",
                birth_date=f"19{60 + i % 40}-0{1 + i % 9}-1{i % 9}",
                updated_at="2024-01-01 00:00:00",
            )
        )
    return out


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def all_records() -> pd.DataFrame:
    return frame(gabriel_records() + household_records() + colleague_records() + filler_records())
