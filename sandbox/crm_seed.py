"""Preexisting CRM data for the sandbox CRM: the contacts and accounts a client already had.

Written to ``<sandbox_dir>/crm_seed/`` as JSON lines, one file per CRM entity, one JSON object per
record, keys = the KORE column names of ``dbt_project/seeds/crm_field_map.csv`` (the sandbox CRM
maps them to Dynamics or Salesforce field names). Values are strings or null; timestamps
``YYYY-MM-DD HH:MM:SS`` (UTC), dates ``YYYY-MM-DD``; ``crm_id`` is a UUID string (the CRM server
may re-shape it for its flavour, e.g. an 18-character Salesforce id, but must keep it stable).

| file | entity | keys |
|---|---|---|
| users.jsonl | User | crm_id, full_name, email, modified_at |
| countries.jsonl | Country | crm_id, name, iso_code, modified_at |
| states.jsonl | StateOrProvince | crm_id, name, abbreviation, country_id, modified_at |
| industries.jsonl | Industry | crm_id, name, modified_at |
| accounts.jsonl | Account | crm_id, name, industry_id, phone, street, city, state, postal_code, country, owner_user_id, archtics_account_id, kore_external_key, modified_at |
| contacts.jsonl | Contact | crm_id, first_name, last_name, email, phone, mobile_phone, street, city, state, postal_code, country, birth_date, account_id, owner_user_id, archtics_account_id, kore_external_key, created_at, modified_at |

Contacts cover about ``crm_share`` of the persons: some already carry an Archtics account id
(a previous sync), some have outdated details (old e-mail, old address), some have no Archtics
account at all, and the seed document's Gabriel Tremblay is current at Sporting Service Solutions Inc
(linked to that CRM account) while an older Archtics account of his still says TryNowDo Ltd.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sandbox.people import INDUSTRIES, PERSONAL_DOMAINS, STATES, email_address, format_phone, work_email
from sandbox.population import Population

DAY = 86_400


@dataclass
class CrmSeed:
    counts: dict[str, int] = field(default_factory=dict)
    ground_truth: list[tuple] = field(default_factory=list)


def _ts(seconds: int) -> str:
    return np.datetime_as_string(np.datetime64(int(seconds), "s")).replace("T", " ")


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _write_jsonl(path: Path, rows: list[dict]) -> int:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(rows)


def write_crm_seed(pop: Population, out: Path, rng: np.random.Generator, cutoff: int, share: float) -> CrmSeed:
    """Write the seed files; the records are made in a fixed order (the random draws follow it)."""
    out.mkdir(parents=True, exist_ok=True)
    d = _SeedRecords(pop, rng, cutoff)
    d.users = _users(d)
    usa, can, states = _countries_and_states(d)
    d.industries = [{"crm_id": _uuid(rng), "name": n, "modified_at": d.modified()} for n in INDUSTRIES]
    persons, person_accts, crm_only = _contact_persons(pop, rng, share)
    _known_accounts(d)
    seed = CrmSeed()
    contacts = []
    for person in persons:
        contact, scen = _contact(d, person, person_accts, crm_only)
        contacts.append(contact)
        h = pop.persons.household[person]
        seed.ground_truth.append((f"C:{contact['crm_id']}", "crm", f"P{person}", f"H{h}", scen, "crm_seed"))
    seed.counts = {
        "users": _write_jsonl(out / "users.jsonl", d.users),
        "countries": _write_jsonl(out / "countries.jsonl", [usa, can]),
        "states": _write_jsonl(out / "states.jsonl", states),
        "industries": _write_jsonl(out / "industries.jsonl", d.industries),
        "accounts": _write_jsonl(out / "accounts.jsonl", list(d.accounts.values())),
        "contacts": _write_jsonl(out / "contacts.jsonl", contacts),
    }
    return seed


class _SeedRecords:
    """The CRM records while they are made: users, industries, and the accounts by company index."""

    def __init__(self, pop: Population, rng: np.random.Generator, cutoff: int):
        self.pop, self.rng, self.cutoff = pop, rng, cutoff
        self.users: list[dict] = []
        self.industries: list[dict] = []
        self.accounts: dict[int, dict] = {}

    def modified(self) -> str:
        """A modified_at 30 days to 3 years before the cutoff."""
        rng = self.rng
        return _ts(self.cutoff - int(rng.integers(30, 3 * 365)) * DAY - int(rng.integers(0, DAY)))

    def owner_user(self) -> str | None:
        users = self.users
        return users[int(self.rng.integers(0, len(users)))]["crm_id"] if users and self.rng.random() < 0.8 else None

    def account(self, c: int, archtics_id: str | None = None) -> dict:
        """The CRM account of company ``c`` (made on first use), linked to an Archtics account if given."""
        accounts, pools, industries = self.accounts, self.pop.pools, self.industries
        if c not in accounts:
            ci = c % len(pools.cities)
            accounts[c] = {
                "crm_id": _uuid(self.rng),
                "name": pools.companies[c],
                "industry_id": industries[c % len(industries)]["crm_id"],
                "phone": format_phone(2_000_000_000 + c * 7 % 7_000_000_000, 1),
                "street": f"{100 + c % 900} {pools.streets[c % len(pools.streets)]}",
                "city": pools.cities[ci],
                "state": pools.city_state[ci],
                "postal_code": f"{pools.city_zip[ci]:05d}",
                "country": "USA",
                "owner_user_id": self.owner_user(),
                "archtics_account_id": archtics_id,
                "kore_external_key": None,
                "modified_at": self.modified(),
            }
        elif archtics_id and not accounts[c]["archtics_account_id"]:
            accounts[c]["archtics_account_id"] = archtics_id
        return accounts[c]


def _users(d: _SeedRecords) -> list[dict]:
    """CRM users: the first twelve Archtics sales reps."""
    pop, p = d.pop, d.pop.persons
    users = []
    for r in pop.rep_accounts[:12]:
        o = pop.acct_owner[r]
        u = (p.first[o][0] + p.last[o]).lower().replace(" ", "").replace("'", "")
        users.append(
            {
                "crm_id": _uuid(d.rng),
                "full_name": f"{p.first[o]} {p.last[o]}",
                "email": f"{u}@korecitykings.com",
                "modified_at": d.modified(),
            }
        )
    return users


def _countries_and_states(d: _SeedRecords) -> tuple[dict, dict, list[dict]]:
    """The United States and Canada, and their states and provinces."""
    rng, mod = d.rng, d.modified
    usa = {"crm_id": _uuid(rng), "name": "United States", "iso_code": "USA", "modified_at": mod()}
    can = {"crm_id": _uuid(rng), "name": "Canada", "iso_code": "CAN", "modified_at": mod()}
    states = [
        {"crm_id": _uuid(rng), "name": n, "abbreviation": a, "country_id": usa["crm_id"], "modified_at": mod()}
        for a, n in STATES
    ]
    states += [
        {"crm_id": _uuid(rng), "name": n, "abbreviation": a, "country_id": can["crm_id"], "modified_at": mod()}
        for a, n in [("ON", "Ontario"), ("QC", "Quebec"), ("BC", "British Columbia"), ("AB", "Alberta")]
    ]
    return usa, can, states


def _contact_persons(
    pop: Population, rng: np.random.Generator, share: float
) -> tuple[list[int], dict[int, list[int]], set[int]]:
    """The persons the CRM knows: ``share`` of those with accounts, some CRM-only ones, and Gabriel.

    Also returns each person's account ids (first = oldest) and the CRM-only persons."""
    ind = np.flatnonzero(np.isin(pop.acct_kind, ["ind", "gabriel"]))
    person_accts: dict[int, list[int]] = {}
    for a in ind:
        person_accts.setdefault(int(pop.acct_owner[a]), []).append(int(pop.acct_id[a]))
    with_acct = np.array(sorted(person_accts), dtype=np.int64)
    k = max(5, int(len(with_acct) * share))
    chosen = rng.choice(with_acct, min(k, len(with_acct)), replace=False)
    crm_only = pop.crm_only_persons[: max(3, k // 8)]
    persons = [int(x) for x in chosen if x != pop.gabriel_person] + [int(x) for x in crm_only] + [pop.gabriel_person]
    return persons, person_accts, {int(x) for x in crm_only}


def _known_accounts(d: _SeedRecords) -> None:
    """Gabriel's two companies, and about a third of the company Archtics accounts (some with the id)."""
    pop = d.pop
    d.account(0)  # Sporting Service Solutions Inc
    d.account(1)  # TryNowDo Ltd: the outdated Archtics account would pull Gabriel here
    comp_accts = np.flatnonzero(pop.acct_kind == "company")
    for a in comp_accts[d.rng.random(len(comp_accts)) < 0.3]:
        d.account(int(pop.acct_company[a]), str(pop.acct_id[a]) if d.rng.random() < 0.5 else None)


def _contact(d: _SeedRecords, person: int, person_accts: dict[int, list[int]], crm_only: set[int]) -> tuple[dict, str]:
    """One person's CRM contact and its ground-truth scenario."""
    rng, cutoff, p, pools = d.rng, d.cutoff, d.pop.persons, d.pop.pools
    r = rng.random()
    if person == d.pop.gabriel_person:
        scen = "crm_gabriel_current"
    elif person in crm_only:
        scen = "crm_only"
    elif r < 0.35:
        scen = "crm_linked"
    elif r < 0.6:
        scen = "crm_outdated"
    else:
        scen = "crm_current"
    first, last = p.first[person], p.last[person]
    street = f"{p.street_no[person]} {p.street[person]}"
    ci = int(p.city[person])
    email, phone = p.email[person], p.home_phone[person]
    emp = int(p.employer[person])
    acct = None
    if emp >= 0 and rng.random() < 0.7:
        acct = d.account(emp)["crm_id"]
        if rng.random() < 0.5:
            email = work_email(first, last, pools.company_domains[emp])
    if scen == "crm_outdated":
        email, street, ci, phone = _outdated(d, first, last, email, street, ci, phone)
    if scen == "crm_gabriel_current":
        acct = d.accounts[0]["crm_id"]
        email = work_email("Gabriel", "Tremblay", pools.company_domains[0])
        phone = 5_145_550_111
    created = cutoff - int(rng.integers(200, 3_000)) * DAY
    contact = {
        "crm_id": _uuid(rng),
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": format_phone(int(phone), 0) if phone else None,
        "mobile_phone": format_phone(int(p.cell[person]), 1) if rng.random() < 0.6 else None,
        "street": street,
        "city": pools.cities[ci],
        "state": pools.city_state[ci],
        "postal_code": f"{pools.city_zip[ci] + p.street_no[person] % 50:05d}",
        "country": "USA",
        "birth_date": str(np.datetime64(int(p.birth[person]), "D")) if p.birth[person] >= 0 else None,
        "account_id": acct,
        "owner_user_id": d.owner_user(),
        "archtics_account_id": str(person_accts[person][0]) if scen == "crm_linked" else None,
        "kore_external_key": None,
        "created_at": _ts(created),
        "modified_at": _ts(created + int(rng.integers(0, cutoff - 1 - created))),
    }
    return contact, scen


def _outdated(d: _SeedRecords, first: str, last: str, email, street: str, ci: int, phone) -> tuple:
    """An outdated contact: an old e-mail, an old address or an old phone (email, street, city, phone)."""
    rng, pools = d.rng, d.pop.pools
    kind = rng.integers(0, 3)
    if kind == 0:
        email = email_address(
            first,
            last,
            int(rng.integers(0, 999)),
            PERSONAL_DOMAINS[int(rng.integers(0, len(PERSONAL_DOMAINS)))],
        )
    elif kind == 1:
        street = f"{int(rng.integers(1, 9000))} {pools.streets[int(rng.integers(0, len(pools.streets)))]}"
        ci = int(rng.integers(0, len(pools.cities)))
    else:
        phone = int(rng.integers(2_000_000_000, 9_899_999_999))
    return email, street, ci, phone
