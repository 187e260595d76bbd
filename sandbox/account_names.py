"""The names on each Archtics account (cust rows): the primary name, spouses, assistants, company
contacts, and the small differences that make one person's accounts look like different people.

:func:`build_name_rows` turns the accounts of :mod:`sandbox.population` into name rows in a fixed
sequence of steps (the random draws follow it, so the rows for a seed never change): which rows
exist and their ground-truth scenario, then the person's values, employer details, company rows,
company contacts and assistants, the duplicate-account variants, and the seed document's Gabriel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sandbox.people import NICKNAMES, PERSONAL_DOMAINS, Pools, email_address, transpose_digits, typo, work_email

# Duplicate-account variants (index = code used in the arrays).
VARIANTS = ["base", "second_employer", "typo_last", "typo_phone", "moved", "nickname", "changed_email"]


@dataclass
class NameRows:
    """One entry per cust row (a name on an account); values already varied per account."""

    acct: np.ndarray  # account index
    person: np.ndarray  # person index, -1 for a company name
    primary: np.ndarray  # bool
    name_type: np.ndarray  # 'I' / 'C'
    first: np.ndarray
    mi: np.ndarray
    last: np.ndarray
    company: np.ndarray
    street_no: np.ndarray
    street: np.ndarray
    unit: np.ndarray
    city: np.ndarray
    phone_day: np.ndarray  # 0 = none
    phone_eve: np.ndarray
    phone_cell: np.ndarray
    email: np.ndarray
    email2: np.ndarray
    scenario: np.ndarray
    company_idx: np.ndarray  # -1 unless a company row
    cust_name_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.acct)

    def slice(self, start: int, stop: int) -> NameRows:
        return NameRows(**{k: getattr(self, k)[start:stop] for k in self.__dataclass_fields__})


@dataclass
class Accounts:
    """The accounts the names are for (arrays by account position, sorted by creation time)."""

    kind: np.ndarray  # 'ind', 'company', 'rep', 'gabriel'
    owner: np.ndarray  # person index
    var: np.ndarray  # index into VARIANTS
    comp: np.ndarray  # company index or -1
    partner: np.ndarray  # by person: the other person of a household, or -1
    member_flag: np.ndarray  # by person: in a household
    assistants_pool: np.ndarray  # persons who may be an assistant on an account
    first_of_owner_ind: np.ndarray  # by individual account before the sort: the owner's first account
    order: np.ndarray  # the sort by creation time
    n_ind: int


def build_name_rows(rng: np.random.Generator, pools: Pools, p, a: Accounts) -> NameRows:
    """Primary name of every account plus secondary names (spouse, assistant, company contacts).

    ``p`` is the population's :class:`sandbox.population.Persons`."""
    scen = _scenarios(p, a)
    acct, person, primary, scenario = _row_index(rng, p, a, scen)
    rows = _person_values(p, a, acct, person, primary, scenario)
    ps = np.where(person >= 0, person, 0)
    _employer_details(rng, pools, p, rows, ps)
    _company_rows(pools, rows)
    _contacts_and_assistants(rng, pools, p, a, rows, ps)
    prim = np.flatnonzero(primary & (a.kind[acct] != "company"))
    _duplicate_variants(rng, pools, a, rows, prim)
    _gabriel(pools, a, rows, prim)
    return rows


def _scenarios(p, a: Accounts) -> np.ndarray:
    """The ground-truth scenario of each account's primary name."""
    kind, owner, var, comp = a.kind, a.owner, a.var, a.comp
    n_acct = len(kind)
    # scenario of each account's primary name (before the sort by creation time was applied)
    owner_multi = np.zeros(len(p), np.int64)
    np.add.at(owner_multi, owner[kind == "ind"], 1)
    is_ind, is_comp = kind == "ind", kind == "company"
    first_flag = np.zeros(n_acct, bool)
    first_flag[np.argsort(a.order)[: a.n_ind]] = a.first_of_owner_ind  # map back to sorted positions
    scen = np.full(n_acct, "single", dtype=object)
    scen[is_ind & a.member_flag[owner]] = "household"
    scen[is_ind & (owner_multi[owner] > 1) & first_flag] = "dup_original"
    dup = is_ind & ~first_flag
    scen[dup] = np.array(["dup_" + v for v in VARIANTS], dtype=object)[var[dup]]
    scen[is_comp] = "company"
    scen[kind == "rep"] = "rep"
    g = np.flatnonzero(kind == "gabriel")
    scen[g] = np.where(comp[g] == 1, "gabriel_old_employer", "gabriel_current")
    return scen


def _row_index(
    rng: np.random.Generator, p, a: Accounts, scen: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which name rows exist: (account, person, primary, scenario), ordered by account, primary first."""
    kind, owner, partner, assistants_pool = a.kind, a.owner, a.partner, a.assistants_pool
    n_acct = len(kind)
    accts = np.arange(n_acct)
    is_ind, is_comp = kind == "ind", kind == "company"
    # primary rows
    rows_acct = [accts]
    rows_person = [np.where(is_comp, -1, owner)]
    rows_primary = [np.ones(n_acct, bool)]
    rows_scen = [scen]
    # spouse names: partner in the same household, on 35% of those accounts
    sp = np.flatnonzero(is_ind & (partner[owner] >= 0) & (rng.random(n_acct) < 0.35))
    rows_acct.append(sp)
    rows_person.append(partner[owner[sp]])
    rows_primary.append(np.zeros(len(sp), bool))
    rows_scen.append(np.full(len(sp), "spouse_name", dtype=object))
    # assistants on some employed owners' accounts
    asst = np.flatnonzero(is_ind & (p.employer[owner] >= 0) & (rng.random(n_acct) < 0.05))
    asst = asst[: len(assistants_pool)]
    rows_acct.append(asst)
    rows_person.append(assistants_pool[: len(asst)])
    rows_primary.append(np.zeros(len(asst), bool))
    rows_scen.append(np.full(len(asst), "assistant_name", dtype=object))
    # company accounts: contact name(s)
    ca = np.flatnonzero(is_comp)
    rows_acct.append(ca)
    rows_person.append(owner[ca])
    rows_primary.append(np.zeros(len(ca), bool))
    rows_scen.append(np.full(len(ca), "company_contact", dtype=object))

    acct = np.concatenate(rows_acct)
    person = np.concatenate(rows_person)
    primary = np.concatenate(rows_primary)
    scenario = np.concatenate(rows_scen)
    o = np.lexsort((~primary, acct))
    return acct[o], person[o], primary[o], scenario[o]


def _person_values(
    p, a: Accounts, acct: np.ndarray, person: np.ndarray, primary: np.ndarray, scenario: np.ndarray
) -> NameRows:
    """Every row starts as its person's current values (company rows: blank, filled in later)."""
    n = len(acct)
    ps = np.where(person >= 0, person, 0)
    company_row = person < 0
    cidx = np.where(company_row, a.comp[acct], -1)
    return NameRows(
        acct, person, primary, np.where(company_row, "C", "I").astype(object),
        first=p.first[ps].copy(), mi=p.mi[ps].copy(), last=p.last[ps].copy(), company=np.full(n, None, dtype=object),
        street_no=p.street_no[ps].copy(), street=p.street[ps].copy(), unit=p.unit[ps].copy(), city=p.city[ps].copy(),
        phone_day=np.zeros(n, np.int64), phone_eve=p.home_phone[ps].copy(), phone_cell=p.cell[ps].copy(),
        email=p.email[ps].copy(), email2=np.full(n, None, dtype=object), scenario=scenario, company_idx=cidx,
    )  # fmt: skip


def _employer_details(rng: np.random.Generator, pools: Pools, p, rows: NameRows, ps: np.ndarray) -> None:
    """Employed individuals: company name + work phone on some rows, a work e-mail as second e-mail."""
    company_row = rows.person < 0
    first, last = rows.first, rows.last
    n = len(rows)
    emp = p.employer[ps]
    show_emp = (~company_row) & (emp >= 0) & (rng.random(n) < 0.3)
    rows.company[show_emp] = pools.companies[emp[show_emp]]
    rows.phone_day[show_emp] = p.work_phone[ps][show_emp]
    has_e2 = (~company_row) & (rng.random(n) < 0.2) & (emp >= 0)
    rows.email2[has_e2] = [
        work_email(f, s, pools.company_domains[e])
        for f, s, e in zip(first[has_e2], last[has_e2], emp[has_e2], strict=True)
    ]


def _company_rows(pools: Pools, rows: NameRows) -> None:
    """Company rows: the company itself (its name, tickets@ address, office phone and address)."""
    cidx = rows.company_idx
    cr = np.flatnonzero(rows.person < 0)
    rows.first[cr], rows.last[cr], rows.mi[cr] = None, None, None
    rows.company[cr] = pools.companies[cidx[cr]]
    rows.email[cr] = ["tickets@" + pools.company_domains[c] for c in cidx[cr]]
    rows.phone_eve[cr] = 0
    rows.phone_cell[cr] = 0
    rows.phone_day[cr] = 2_000_000_000 + cidx[cr] * 7 % 7_000_000_000
    rows.street_no[cr] = 100 + cidx[cr] % 900
    rows.street[cr] = pools.streets[cidx[cr] % len(pools.streets)]
    rows.city[cr] = cidx[cr] % len(pools.cities)
    rows.unit[cr] = "Suite " + (cidx[cr] % 40 + 100).astype(str).astype(object)


def _contacts_and_assistants(
    rng: np.random.Generator, pools: Pools, p, a: Accounts, rows: NameRows, ps: np.ndarray
) -> None:
    """Company contacts and assistants get a work e-mail; spouses often have no e-mail of their own."""
    acct, scenario, first, last, email, company = (
        rows.acct,
        rows.scenario,
        rows.first,
        rows.last,
        rows.email,
        rows.company,
    )
    # company contacts: work e-mail at the company, company phone
    cc = np.flatnonzero(scenario == "company_contact")
    cc_comp = a.comp[acct[cc]]
    company[cc] = pools.companies[cc_comp]
    email[cc] = [
        work_email(f, s, pools.company_domains[c]) for f, s, c in zip(first[cc], last[cc], cc_comp, strict=True)
    ]
    rows.phone_day[cc] = p.work_phone[ps[cc]]
    # assistants: work e-mail at the owner's employer
    ac = np.flatnonzero(scenario == "assistant_name")
    a_emp = p.employer[a.owner[acct[ac]]]
    company[ac] = pools.companies[a_emp]
    email[ac] = [work_email(f, s, pools.company_domains[c]) for f, s, c in zip(first[ac], last[ac], a_emp, strict=True)]
    # spouses often have no e-mail of their own on the account
    sp_rows = np.flatnonzero(scenario == "spouse_name")
    email[sp_rows[rng.random(len(sp_rows)) < 0.6]] = None


def _duplicate_variants(rng: np.random.Generator, pools: Pools, a: Accounts, rows: NameRows, prim: np.ndarray) -> None:
    """Duplicate-account variants on primary rows: what differs from the person's other account."""
    acct, comp = rows.acct, a.comp
    first, last, company, email = rows.first, rows.last, rows.company, rows.email
    street_no, street, city, unit = rows.street_no, rows.street, rows.city, rows.unit
    phone_day, phone_eve, phone_cell = rows.phone_day, rows.phone_eve, rows.phone_cell
    v = a.var[acct[prim]]
    r = rng.integers(0, 1_000_000, len(prim))
    for i, code, rr in zip(prim[v > 0], v[v > 0], r[v > 0], strict=True):
        if code == 1:  # second employer: other company, work e-mail and phone
            c = comp[acct[i]]
            company[i] = pools.companies[c]
            email[i] = work_email(first[i], last[i], pools.company_domains[c])
            phone_day[i] = 2_000_000_000 + (rr * 7919) % 7_000_000_000
            if rr % 2:
                street_no[i], street[i], city[i] = (
                    100 + c % 900,
                    pools.streets[c % len(pools.streets)],
                    c % len(pools.cities),
                )
                unit[i] = None
        elif code == 2:
            last[i] = typo(last[i], int(rr))
        elif code == 3:
            phone_cell[i] = transpose_digits(int(phone_cell[i]), int(rr))
        elif code == 4:  # moved: the other account still has the old address
            street_no[i] = 1 + rr % 9_000
            street[i] = pools.streets[rr % len(pools.streets)]
            city[i] = (rr // 7) % len(pools.cities)
            unit[i] = None
            if rr % 3 == 0:
                phone_eve[i] = 0
        elif code == 5:
            first[i] = NICKNAMES[first[i]]
        elif code == 6:
            email[i] = email_address(first[i], last[i], int(rr) + 1, PERSONAL_DOMAINS[(rr + 3) % len(PERSONAL_DOMAINS)])


def _gabriel(pools: Pools, a: Accounts, rows: NameRows, prim: np.ndarray) -> None:
    """Gabriel: old account has TryNowDo details, current one Sporting Service Solutions details."""
    acct = rows.acct
    for i in prim[a.kind[acct[prim]] == "gabriel"]:
        c = a.comp[acct[i]]
        rows.company[i] = pools.companies[c]
        rows.email[i] = work_email("Gabriel", "Tremblay", pools.company_domains[c])
        if c == 1:
            rows.street_no[i], rows.street[i], rows.city[i], rows.unit[i] = 42, pools.streets[7], 11, "Suite 300"
            rows.phone_day[i], rows.phone_cell[i], rows.phone_eve[i] = 4_165_550_123, 4_165_550_188, 0
        else:
            rows.phone_day[i] = 5_145_550_111
