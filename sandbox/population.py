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
The name rows themselves are made by :mod:`sandbox.account_names`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandbox.account_names import VARIANTS, Accounts, NameRows, build_name_rows
from sandbox.people import NICKNAMES, PERSONAL_DOMAINS, Pools, email_address

DAY = 86_400
EPOCH_2008 = 1_199_145_600  # 2008-01-01 00:00:00 UTC: first account creation in the sample

# Probabilities of the duplicate-account variants (sandbox.account_names.VARIANTS).
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
        [
            email_address(f, s, int(k), PERSONAL_DOMAINS[d])
            for f, s, k, d in zip(first, last, styles, domains, strict=True)
        ],
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
    """Persons, accounts and names, in a fixed sequence of steps (the random draws follow it)."""
    n_companies = len(pools.companies)
    n_rep = int(min(40, max(3, accounts // 2_000)))
    n_gabriel = 2
    n_company_acct = int(round(0.04 * accounts))
    n_ind = accounts - n_rep - n_gabriel - n_company_acct
    if n_ind < 10:
        raise ValueError("accounts must be at least 60")

    counts = _accounts_per_owner(rng, n_ind)
    n_own = len(counts)
    n_fresh = n_rep + n_company_acct + accounts // 25 + max(50, accounts // 10) + 1
    p = concat_persons(make_persons(rng, pools, n_own, n_companies), make_persons(rng, pools, n_fresh, n_companies))
    fresh = _Fresh(np.arange(n_own, n_own + n_fresh))
    partner, member_flag = _households(rng, pools, p, n_own)
    owner_ind, first_of_owner, variant, company_ind = _individual_accounts(rng, p, counts, n_ind, n_companies)
    comp_company = rng.integers(2, n_companies, n_company_acct)
    contacts_existing = rng.random(n_company_acct) < 0.5
    comp_owner = np.where(contacts_existing, rng.integers(0, n_own, n_company_acct), fresh.take(n_company_acct))
    rep_owner = fresh.take(n_rep)
    gabriel = _gabriel_person(p, fresh)
    assistants_pool = fresh.take(max(10, accounts // 25))
    crm_only = fresh.take(len(fresh.persons) - fresh.pos)

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
    a_type = _account_types(rng, n_ind, n_company_acct, n_rep)
    add, upd = _account_timestamps(rng, accounts, cutoff)
    # Gabriel: old TryNowDo account from 2015 (last touched 2017), current one from 2022.
    add[-2:] = [1_425_290_400, 1_663_000_000]
    upd[-2:] = [1_498_800_000, min(cutoff - 10 * DAY, 1_750_000_000)]
    order = np.argsort(add, kind="stable")
    kind, owner, var, comp, a_type, add, upd = (x[order] for x in (kind, owner, var, comp, a_type, add, upd))
    acct_id = 1_000_000 + np.cumsum(rng.integers(1, 5, accounts))
    rep_accounts = np.flatnonzero(kind == "rep")
    rep_of = _sales_reps(rng, kind, rep_accounts)

    accts = Accounts(kind, owner, var, comp, partner, member_flag, assistants_pool, first_of_owner, order, n_ind)
    names = build_name_rows(rng, pools, p, accts)
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


class _Fresh:
    """Persons who own no individual account, handed out in turn (company contacts, reps, ...)."""

    def __init__(self, persons: np.ndarray):
        self.persons, self.pos = persons, 0

    def take(self, k: int) -> np.ndarray:
        out = self.persons[self.pos : self.pos + k]
        self.pos += k
        return out


def _accounts_per_owner(rng: np.random.Generator, n_ind: int) -> np.ndarray:
    """How many individual accounts each owner has (mostly one), summing to ``n_ind``."""
    extra = rng.choice([0, 1, 2], size=n_ind, p=[0.88, 0.10, 0.02])
    counts = 1 + extra
    cum = np.cumsum(counts)
    n_own = int(np.searchsorted(cum, n_ind) + 1)
    counts = counts[:n_own]
    counts[-1] -= int(cum[n_own - 1] - n_ind)
    return counts


def _households(rng: np.random.Generator, pools: Pools, p: Persons, n_own: int) -> tuple[np.ndarray, np.ndarray]:
    """Households among owners: same last name and address, different first name.

    Returns each person's partner (-1: none) and whether the person is in a household."""
    perm = rng.permutation(n_own)
    n_members = n_own // 10
    members, heads = perm[:n_members], perm[n_members : 2 * n_members]
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
        email_address(f, s, int(k), PERSONAL_DOMAINS[d])
        for f, s, k, d in zip(p.first[renamed], p.last[renamed], styles, doms, strict=True)
    ]
    partner = np.full(len(p), -1)
    partner[members], partner[heads] = heads, members
    member_flag = np.zeros(len(p), bool)
    member_flag[members] = True
    member_flag[heads] = True
    return partner, member_flag


def _individual_accounts(
    rng: np.random.Generator, p: Persons, counts: np.ndarray, n_ind: int, n_companies: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Owner, first-of-owner flag, duplicate variant and (second employer) company of each individual account."""
    owner_ind = np.repeat(np.arange(len(counts)), counts)
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
    return owner_ind, first_of_owner, variant, company_ind


def _gabriel_person(p: Persons, fresh: _Fresh) -> int:
    """The seed document's Gabriel Tremblay (employer: company 0, Sporting Service Solutions Inc)."""
    gabriel = int(fresh.take(1)[0])
    p.first[gabriel], p.last[gabriel], p.gender[gabriel], p.mi[gabriel] = "Gabriel", "Tremblay", "M", None
    p.employer[gabriel] = 0
    p.email[gabriel] = "gabe.tremblay@gmail.com"
    return gabriel


def _account_types(rng: np.random.Generator, n_ind: int, n_company_acct: int, n_rep: int) -> np.ndarray:
    """acct_type_desc by account kind (individual, company, rep, Gabriel's two)."""
    return np.concatenate(
        [
            np.array(ACCOUNT_TYPES_IND, dtype=object)[rng.choice(5, n_ind, p=ACCOUNT_TYPES_IND_P)],
            np.where(rng.random(n_company_acct) < 0.9, "Corporate", "Broker").astype(object),
            np.full(n_rep, "Internal", dtype=object),
            np.array(["Corporate", "Individual"], dtype=object),
        ]
    )


def _sales_reps(rng: np.random.Generator, kind: np.ndarray, rep_accounts: np.ndarray) -> np.ndarray:
    """The rep account of 30% of the other accounts (-1: none)."""
    accounts = len(kind)
    rep_of = np.full(accounts, -1)
    has_rep = (rng.random(accounts) < 0.3) & (kind != "rep")
    rep_of[has_rep] = rep_accounts[rng.integers(0, len(rep_accounts), int(has_rep.sum()))]
    return rep_of
