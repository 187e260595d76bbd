"""The people behind the sample Archtics data: persons, their accounts and the names on each account.

Everything here is numpy arrays indexed by position (person index, account index, name-row index),
so a million accounts build in seconds. The realism lives in how accounts relate to persons:

* one person, several accounts: a second employer (other company + work e-mail), a typo'd
  re-registration (one-letter typo in the last name, transposed phone digits), a move (old
  address), a nickname (Robert/Bob), a changed e-mail;
* several names on one account: a spouse or an assistant (``primary_code`` 'Secondary');
* households: same last name and address, *different* first names, different people (must not merge);
* companies (``name_type`` 'C') with contact names, reps (Internal accounts), Account Types;
* the seed document's example: Gabriel Tremblay, current at Sporting Service Solutions Inc, with an
  older Archtics account from TryNowDo Ltd carrying outdated details.

The ground truth (which name rows are the same person / household) is kept next to the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sandbox.people import NICKNAMES, PERSONAL_DOMAINS, Pools, transpose_digits, typo

DAY = 86_400
EPOCH_2008 = 1_199_145_600  # 2008-01-01 00:00:00 UTC: first account creation in the sample

# Duplicate-account variants (index = code used in the arrays).
VARIANTS = ["base", "second_employer", "typo_last", "typo_phone", "moved", "nickname", "changed_email"]
VARIANT_P = [0.0, 0.24, 0.16, 0.12, 0.18, 0.14, 0.16]
ACCOUNT_TYPES_IND = ["Individual", "Season Ticket Holder", "Comp", "Broker", "Group"]
ACCOUNT_TYPES_IND_P = [0.80, 0.12, 0.03, 0.02, 0.03]


@dataclass
class Persons:
    """One entry per real person (arrays of equal length)."""

    gender: np.ndarray
    first: np.ndarray
    mi: np.ndarray
    last: np.ndarray
    birth: np.ndarray  # days since 1970-01-01, -1 = unknown
    street_no: np.ndarray
    street: np.ndarray
    unit: np.ndarray
    city: np.ndarray  # index into pools.cities
    home_phone: np.ndarray  # 0 = none
    cell: np.ndarray
    email: np.ndarray
    employer: np.ndarray  # company index or -1
    work_phone: np.ndarray
    household: np.ndarray  # household id (index of the household head)

    def __len__(self) -> int:
        return len(self.first)


def _email(first: str, last: str, style: int, domain: str) -> str:
    f = first.lower().replace(" ", "").replace("'", "")
    s = last.lower().replace(" ", "").replace("'", "")
    k = style % 5
    if k == 0:
        user = f"{f}.{s}"
    elif k == 1:
        user = f"{f}{s}"
    elif k == 2:
        user = f"{f[0]}{s}"
    elif k == 3:
        user = f"{f}_{s}{style % 97}"
    else:
        user = f"{s}.{f}{style % 89}"
    return f"{user}@{domain}"


def work_email(first: str, last: str, domain: str) -> str:
    return _email(first, last, 0, domain)


def phone10(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random North American numbers: area and exchange codes never start with 0 or 1."""
    return rng.integers(200, 990, n) * 10_000_000 + rng.integers(200, 1000, n) * 10_000 + rng.integers(0, 10_000, n)


def make_persons(rng: np.random.Generator, pools: Pools, n: int, n_companies: int) -> Persons:
    gender = np.where(rng.random(n) < 0.5, "M", "F").astype(object)
    fm = pools.first_male[rng.choice(len(pools.first_male), n, p=pools.first_male_p)]
    ff = pools.first_female[rng.choice(len(pools.first_female), n, p=pools.first_female_p)]
    first = np.where(gender == "M", fm, ff).astype(object)
    last = pools.last[rng.choice(len(pools.last), n, p=pools.last_p)].astype(object)
    mi = np.array(list("ABCDEFGHJKLMNPRSTW"), dtype=object)[rng.integers(0, 18, n)]
    mi[rng.random(n) < 0.55] = None
    birth = rng.integers(-10_950, 12_800, n)  # 1940 .. 2005
    birth[rng.random(n) < 0.5] = -1
    street_no = rng.integers(1, 9_999, n)
    street = pools.streets[rng.integers(0, len(pools.streets), n)]
    unit = pools.units[rng.integers(0, len(pools.units), n)]
    unit[rng.random(n) < 0.85] = None
    city = rng.integers(0, len(pools.cities), n)
    home_phone = phone10(rng, n)
    home_phone[rng.random(n) < 0.55] = 0
    cell = phone10(rng, n)
    styles = rng.integers(0, 10_000, n)
    domains = rng.integers(0, len(PERSONAL_DOMAINS), n)
    email = np.array(
        [_email(f, s, int(k), PERSONAL_DOMAINS[d]) for f, s, k, d in zip(first, last, styles, domains, strict=True)],
        dtype=object,
    )
    employer = rng.integers(2, max(3, n_companies), n)
    employer[rng.random(n) < 0.35] = -1
    work_phone = phone10(rng, n)
    return Persons(
        gender, first, mi, last, birth, street_no, street, unit, city, home_phone, cell, email, employer,
        work_phone, np.arange(n),
    )  # fmt: skip


def concat_persons(a: Persons, b: Persons) -> Persons:
    out = {}
    for name in a.__dataclass_fields__:
        va, vb = getattr(a, name), getattr(b, name)
        if name == "household":
            vb = vb + len(a)
        out[name] = np.concatenate([va, vb])
    return Persons(**out)


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
class Population:
    persons: Persons
    pools: Pools
    # accounts (index = account position, sorted by creation time)
    acct_id: np.ndarray
    acct_kind: np.ndarray  # 'ind', 'company', 'rep', 'gabriel'
    acct_owner: np.ndarray  # person index (company accounts: the first contact)
    acct_variant: np.ndarray  # index into VARIANTS
    acct_company: np.ndarray  # company index or -1
    acct_type: np.ndarray  # acct_type_desc
    acct_add: np.ndarray  # epoch seconds
    acct_upd: np.ndarray
    acct_rep: np.ndarray  # index of the rep account or -1
    names: NameRows
    n_owner_persons: int
    rep_accounts: np.ndarray  # account indexes of reps
    crm_only_persons: np.ndarray  # persons with no Archtics account (CRM seed only)
    gabriel_person: int


def _account_timestamps(rng: np.random.Generator, n: int, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
    """Creation times skewed to recent years; last update between creation and just before the cutoff."""
    span = cutoff - 2 * DAY - EPOCH_2008
    add = EPOCH_2008 + (span * np.sqrt(rng.random(n))).astype(np.int64)
    upd = add + ((cutoff - 1 - add) * rng.random(n) ** 2).astype(np.int64)
    return add, upd


def build_population(rng: np.random.Generator, pools: Pools, accounts: int, cutoff: int) -> Population:
    n_companies = len(pools.companies)
    n_rep = int(min(40, max(3, accounts // 2_000)))
    n_gabriel = 2
    n_company_acct = int(round(0.04 * accounts))
    n_ind = accounts - n_rep - n_gabriel - n_company_acct
    if n_ind < 10:
        raise ValueError("accounts must be at least 60")

    # --- owners of individual accounts and how many accounts each has ---------------------------
    extra = rng.choice([0, 1, 2], size=n_ind, p=[0.88, 0.10, 0.02])
    counts = 1 + extra
    cum = np.cumsum(counts)
    n_own = int(np.searchsorted(cum, n_ind) + 1)
    counts = counts[:n_own]
    counts[-1] -= int(cum[n_own - 1] - n_ind)
    n_fresh = n_rep + n_company_acct + accounts // 25 + max(50, accounts // 10) + 1
    persons = concat_persons(
        make_persons(rng, pools, n_own, n_companies), make_persons(rng, pools, n_fresh, n_companies)
    )
    fresh = np.arange(n_own, n_own + n_fresh)
    fresh_pos = 0

    def take_fresh(k: int) -> np.ndarray:
        nonlocal fresh_pos
        out = fresh[fresh_pos : fresh_pos + k]
        fresh_pos += k
        return out

    # --- households among owners: same last name and address, different first name -------------
    perm = rng.permutation(n_own)
    n_members = n_own // 10
    members, heads = perm[:n_members], perm[n_members : 2 * n_members]
    p = persons
    for arr in (p.last, p.street_no, p.street, p.unit, p.city, p.home_phone):
        arr[members] = arr[heads]
    p.household[members] = heads
    for _ in range(20):
        same = p.first[members] == p.first[heads]
        if not same.any():
            break
        idx = members[same]
        p.first[idx] = np.where(
            p.gender[idx] == "M",
            pools.first_male[rng.integers(0, 200, len(idx))],
            pools.first_female[rng.integers(0, 200, len(idx))],
        )
    # their personal e-mail follows the (shared) last name now, mostly
    renamed = members[rng.random(n_members) < 0.8]
    styles = rng.integers(0, 10_000, len(renamed))
    doms = rng.integers(0, len(PERSONAL_DOMAINS), len(renamed))
    p.email[renamed] = [
        _email(f, s, int(k), PERSONAL_DOMAINS[d])
        for f, s, k, d in zip(p.first[renamed], p.last[renamed], styles, doms, strict=True)
    ]
    partner = np.full(len(p), -1)
    partner[members], partner[heads] = heads, members
    member_flag = np.zeros(len(p), bool)
    member_flag[members] = True
    member_flag[heads] = True

    # --- accounts -------------------------------------------------------------------------------
    owner_ind = np.repeat(np.arange(n_own), counts)
    first_of_owner = np.concatenate([[True], owner_ind[1:] != owner_ind[:-1]])
    variant = np.where(first_of_owner, 0, rng.choice(len(VARIANTS), n_ind, p=VARIANT_P))
    has_nick = np.array([f in NICKNAMES for f in p.first[owner_ind]])
    variant[(variant == 5) & ~has_nick] = 6
    unemployed = p.employer[owner_ind] < 0
    variant[(variant == 1) & unemployed] = 4
    company_ind = np.where(variant == 1, rng.integers(2, n_companies, n_ind), -1)
    # second-employer account: employer != current employer
    clash = company_ind == p.employer[owner_ind]
    company_ind[clash] = (company_ind[clash] + 1 - 2) % (n_companies - 2) + 2

    comp_company = rng.integers(2, n_companies, n_company_acct)
    contacts_existing = rng.random(n_company_acct) < 0.5
    comp_owner = np.where(contacts_existing, rng.integers(0, n_own, n_company_acct), take_fresh(n_company_acct))
    rep_owner = take_fresh(n_rep)
    gabriel = int(take_fresh(1)[0])
    p.first[gabriel], p.last[gabriel], p.gender[gabriel], p.mi[gabriel] = "Gabriel", "Tremblay", "M", None
    p.employer[gabriel] = 0
    p.email[gabriel] = "gabe.tremblay@gmail.com"
    assistants_pool = take_fresh(max(10, accounts // 25))
    crm_only = take_fresh(len(fresh) - fresh_pos)

    kind = np.concatenate(
        [
            np.full(n_ind, "ind", dtype=object),
            np.full(n_company_acct, "company", dtype=object),
            np.full(n_rep, "rep", dtype=object),
            np.full(n_gabriel, "gabriel", dtype=object),
        ]
    )
    owner = np.concatenate([owner_ind, comp_owner, rep_owner, [gabriel, gabriel]])
    var = np.concatenate([variant, np.zeros(n_company_acct + n_rep, int), [1, 0]])
    comp = np.concatenate([company_ind, comp_company, np.full(n_rep, -1), [1, 0]])
    a_type = np.concatenate(
        [
            np.array(ACCOUNT_TYPES_IND, dtype=object)[rng.choice(5, n_ind, p=ACCOUNT_TYPES_IND_P)],
            np.where(rng.random(n_company_acct) < 0.9, "Corporate", "Broker").astype(object),
            np.full(n_rep, "Internal", dtype=object),
            np.array(["Corporate", "Individual"], dtype=object),
        ]
    )
    add, upd = _account_timestamps(rng, accounts, cutoff)
    # Gabriel: old TryNowDo account from 2015 (last touched 2017), current one from 2022.
    add[-2:] = [1_425_290_400, 1_663_000_000]
    upd[-2:] = [1_498_800_000, min(cutoff - 10 * DAY, 1_750_000_000)]
    rep_of = np.full(accounts, -1)
    order = np.argsort(add, kind="stable")
    kind, owner, var, comp, a_type, add, upd = (x[order] for x in (kind, owner, var, comp, a_type, add, upd))
    acct_id = 1_000_000 + np.cumsum(rng.integers(1, 5, accounts))
    rep_accounts = np.flatnonzero(kind == "rep")
    has_rep = (rng.random(accounts) < 0.3) & (kind != "rep")
    rep_of[has_rep] = rep_accounts[rng.integers(0, len(rep_accounts), int(has_rep.sum()))]

    names = _name_rows(
        rng, pools, p, kind, owner, var, comp, partner, member_flag, assistants_pool, first_of_owner, order, n_ind
    )
    names.cust_name_id = 5_000_000 + np.cumsum(rng.integers(1, 4, len(names)))
    return Population(
        persons=p,
        pools=pools,
        acct_id=acct_id,
        acct_kind=kind,
        acct_owner=owner,
        acct_variant=var,
        acct_company=comp,
        acct_type=a_type,
        acct_add=add,
        acct_upd=upd,
        acct_rep=rep_of,
        names=names,
        n_owner_persons=n_own,
        rep_accounts=rep_accounts,
        crm_only_persons=crm_only,
        gabriel_person=gabriel,
    )


def _name_rows(
    rng: np.random.Generator,
    pools: Pools,
    p: Persons,
    kind: np.ndarray,
    owner: np.ndarray,
    var: np.ndarray,
    comp: np.ndarray,
    partner: np.ndarray,
    member_flag: np.ndarray,
    assistants_pool: np.ndarray,
    first_of_owner_ind: np.ndarray,
    order: np.ndarray,
    n_ind: int,
) -> NameRows:
    """Primary name of every account plus secondary names (spouse, assistant, company contacts)."""
    n_acct = len(kind)
    # scenario of each account's primary name (before the sort by creation time was applied)
    owner_multi = np.zeros(len(p), np.int64)
    np.add.at(owner_multi, owner[kind == "ind"], 1)
    accts = np.arange(n_acct)
    is_ind, is_comp = kind == "ind", kind == "company"
    first_flag = np.zeros(n_acct, bool)
    first_flag[np.argsort(order)[:n_ind]] = first_of_owner_ind  # map back to sorted positions
    scen = np.full(n_acct, "single", dtype=object)
    scen[is_ind & member_flag[owner]] = "household"
    scen[is_ind & (owner_multi[owner] > 1) & first_flag] = "dup_original"
    dup = is_ind & ~first_flag
    scen[dup] = np.array(["dup_" + v for v in VARIANTS], dtype=object)[var[dup]]
    scen[is_comp] = "company"
    scen[kind == "rep"] = "rep"
    g = np.flatnonzero(kind == "gabriel")
    scen[g] = np.where(comp[g] == 1, "gabriel_old_employer", "gabriel_current")

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
    acct, person, primary, scenario = acct[o], person[o], primary[o], scenario[o]
    n = len(acct)
    ps = np.where(person >= 0, person, 0)
    company_row = person < 0
    cidx = np.where(company_row, comp[acct], -1)

    first = p.first[ps].copy()
    last = p.last[ps].copy()
    mi = p.mi[ps].copy()
    street_no, street, unit, city = p.street_no[ps].copy(), p.street[ps].copy(), p.unit[ps].copy(), p.city[ps].copy()
    phone_day = np.zeros(n, np.int64)
    phone_eve = p.home_phone[ps].copy()
    phone_cell = p.cell[ps].copy()
    email = p.email[ps].copy()
    email2 = np.full(n, None, dtype=object)
    company = np.full(n, None, dtype=object)
    name_type = np.where(company_row, "C", "I").astype(object)

    # employed individuals: company name + work phone on some primary accounts
    emp = p.employer[ps]
    show_emp = (~company_row) & (emp >= 0) & (rng.random(n) < 0.3)
    company[show_emp] = pools.companies[emp[show_emp]]
    phone_day[show_emp] = p.work_phone[ps][show_emp]
    has_e2 = (~company_row) & (rng.random(n) < 0.2) & (emp >= 0)
    email2[has_e2] = [
        work_email(f, s, pools.company_domains[e])
        for f, s, e in zip(first[has_e2], last[has_e2], emp[has_e2], strict=True)
    ]

    # company rows: the company itself
    cr = np.flatnonzero(company_row)
    first[cr], last[cr], mi[cr] = None, None, None
    company[cr] = pools.companies[cidx[cr]]
    email[cr] = ["tickets@" + pools.company_domains[c] for c in cidx[cr]]
    phone_eve[cr] = 0
    phone_cell[cr] = 0
    phone_day[cr] = 2_000_000_000 + cidx[cr] * 7 % 7_000_000_000
    street_no[cr] = 100 + cidx[cr] % 900
    street[cr] = pools.streets[cidx[cr] % len(pools.streets)]
    city[cr] = cidx[cr] % len(pools.cities)
    unit[cr] = "Suite " + (cidx[cr] % 40 + 100).astype(str).astype(object)
    # company contacts: work e-mail at the company, company phone
    cc = np.flatnonzero(scenario == "company_contact")
    cc_comp = comp[acct[cc]]
    company[cc] = pools.companies[cc_comp]
    email[cc] = [
        work_email(f, s, pools.company_domains[c]) for f, s, c in zip(first[cc], last[cc], cc_comp, strict=True)
    ]
    phone_day[cc] = p.work_phone[ps[cc]]
    # assistants: work e-mail at the owner's employer
    ac = np.flatnonzero(scenario == "assistant_name")
    a_emp = p.employer[owner[acct[ac]]]
    company[ac] = pools.companies[a_emp]
    email[ac] = [work_email(f, s, pools.company_domains[c]) for f, s, c in zip(first[ac], last[ac], a_emp, strict=True)]
    # spouses often have no e-mail of their own on the account
    sp_rows = np.flatnonzero(scenario == "spouse_name")
    email[sp_rows[rng.random(len(sp_rows)) < 0.6]] = None

    # duplicate-account variants on primary rows
    prim = np.flatnonzero(primary & (kind[acct] != "company"))
    v = var[acct[prim]]
    r = rng.integers(0, 1_000_000, len(prim))
    for i, code, rr in zip(prim[v > 0], v[v > 0], r[v > 0], strict=True):
        a = acct[i]
        if code == 1:  # second employer: other company, work e-mail and phone
            c = comp[a]
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
            email[i] = _email(first[i], last[i], int(rr) + 1, PERSONAL_DOMAINS[(rr + 3) % len(PERSONAL_DOMAINS)])
    # Gabriel: old account has TryNowDo details, current one Sporting Service Solutions details
    for i in prim[kind[acct[prim]] == "gabriel"]:
        c = comp[acct[i]]
        company[i] = pools.companies[c]
        email[i] = work_email("Gabriel", "Tremblay", pools.company_domains[c])
        if c == 1:
            street_no[i], street[i], city[i], unit[i] = 42, pools.streets[7], 11, "Suite 300"
            phone_day[i], phone_cell[i], phone_eve[i] = 4_165_550_123, 4_165_550_188, 0
        else:
            phone_day[i] = 5_145_550_111
    return NameRows(
        acct, person, primary, name_type, first, mi, last, company, street_no, street, unit, city,
        phone_day, phone_eve, phone_cell, email, email2, scenario, cidx,
    )  # fmt: skip
