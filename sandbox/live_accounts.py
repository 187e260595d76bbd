"""Post-cutoff changes to accounts and names: updated names (and their child lists), new sales
reps, and new accounts (new people, and re-registrations of known people that dedup must catch).

Part of :func:`sandbox.live_changes.write_live_changes`, which calls these steps in a fixed order:
the random draws follow it, so the live changes for a seed never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from kore.contracts.archtics import DATASETS
from sandbox.account_names import NameRows
from sandbox.archtics_rows import USERS, address_columns, cust_columns, email_columns, rep_columns
from sandbox.csv_parts import as_text_table
from sandbox.live_rows import arrow_cols, change_times, rows_of
from sandbox.people import NICKNAMES, PERSONAL_DOMAINS, email_address, transpose_digits, typo
from sandbox.population import Population, concat_persons, make_persons
from sandbox.text_values import ts_text


@dataclass
class NameUpdates:
    """Updated primary names of existing accounts and the complete new child lists they need."""

    cust: list[dict]
    emails: list[dict]
    addrs: list[dict]
    email_id: int  # the next free email_id
    addr_id: int


def update_names(
    pop: Population, updates: np.ndarray, export: dict[str, pa.Table], rng: np.random.Generator, cutoff: int, ids: dict
) -> NameUpdates:
    """1. Updates of existing names: a new e-mail, address, cell phone or last name."""
    upd_ids = pop.acct_id[updates]
    cust_u = [r for r in rows_of(export["cust"], upd_ids).to_pylist() if r["primary_code"] == "Primary"]
    ts = ts_text(change_times(rng, len(cust_u), cutoff)).to_pylist()
    kinds = rng.choice(4, len(cust_u), p=[0.35, 0.35, 0.15, 0.15])  # email, address, phone, last name
    emails_by_acct: dict[str, list[dict]] = {}
    for r in rows_of(export["cust_email"], upd_ids).to_pylist():
        emails_by_acct.setdefault(r["acct_id"], []).append(r)
    addrs_by_acct: dict[str, list[dict]] = {}
    for r in rows_of(export["cust_address"], upd_ids).to_pylist():
        addrs_by_acct.setdefault(r["acct_id"], []).append(r)
    upd = NameUpdates(cust_u, [], [], ids["email"], ids["address"])
    for i, row in enumerate(cust_u):
        k = int(kinds[i])
        row["upd_date"] = ts[i]
        row["upd_user"] = USERS[int(rng.integers(0, 6))]
        if k == 0 and row["name_first"]:
            upd.emails += _new_email(row, emails_by_acct.get(row["acct_id"], []), upd.email_id, rng)
            upd.email_id += 1
        elif k == 1:
            upd.addrs += _new_address(pop, row, addrs_by_acct.get(row["acct_id"], []), rng)
        elif k == 2:
            row["phone_cell"] = f"{int(rng.integers(200, 990))}-555-{int(rng.integers(0, 10_000)):04d}"
        else:
            upd.addrs += _new_last_name(pop, row, addrs_by_acct.get(row["acct_id"], []), rng)
    return upd


def _new_email(row: dict, emails: list[dict], email_id: int, rng: np.random.Generator) -> list[dict]:
    """A new primary e-mail on ``row``; returns the account's complete new e-mail list."""
    acct, cn = row["acct_id"], row["cust_name_id"]
    style, dom = int(rng.integers(1, 10_000)), PERSONAL_DOMAINS[int(rng.integers(0, 10))]
    new = email_address(row["name_first"], row["name_last"] or "x", style, dom)
    row["email_addr"] = new
    lst = [dict(e) for e in emails]
    for e in lst:
        if e["cust_name_id"] == cn:
            e["primary_ind"], e["email_sort"] = "N", str(int(e["email_sort"] or 1) + 1)
    lst.append(
        {"acct_id": acct, "cust_name_id": cn, "email_id": str(email_id), "email_type": "1",
         "email_type_name": "Home", "email_addr": new, "primary_ind": "Y", "email_sort": "1",
         "status": "Active", "solicit_email": "Y"}
    )  # fmt: skip
    return lst


def _new_address(pop: Population, row: dict, addrs: list[dict], rng: np.random.Generator) -> list[dict]:
    """The name moved: a new primary address; returns the account's complete new address list."""
    streets, cities = pop.pools.streets, pop.pools.cities
    ci = int(rng.integers(0, len(cities)))
    new_addr = {
        "street_addr_1": f"{int(rng.integers(1, 9000))} {streets[int(rng.integers(0, len(streets)))]}",
        "street_addr_2": None,
        "city": cities[ci],
        "state": pop.pools.city_state[ci],
        "zip": f"{pop.pools.city_zip[ci]:05d}",
    }
    row.update(new_addr)
    lst = [dict(a) for a in addrs]
    for a in lst:
        if a["cust_name_id"] == row["cust_name_id"] and a["primary_ind"] == "Y":
            a.update(new_addr)
    return lst


def _new_last_name(pop: Population, row: dict, addrs: list[dict], rng: np.random.Generator) -> list[dict]:
    """A new last name (marriage); returns the account's complete new address list (it holds names)."""
    new_last = pop.pools.last[int(rng.integers(0, 500))]
    row["name_last"] = new_last
    lst = [dict(a) for a in addrs]
    for a in lst:
        if a["cust_name_id"] == row["cust_name_id"]:
            a["name_last"], a["full_name"] = new_last, f"{row['name_first'] or ''} {new_last}".strip()
    return lst


def change_reps(
    pop: Population, updates: np.ndarray, rng: np.random.Generator, cust_u: list[dict], live: dict, changes: dict
) -> None:
    """Some updated accounts get a new sales rep: their cust_rep list is replaced whole."""
    rep_change = updates[rng.random(len(updates)) < 0.2]
    if len(rep_change) and len(pop.rep_accounts):
        new_rep = pop.rep_accounts[rng.integers(0, len(pop.rep_accounts), len(rep_change))]
        types = np.full(len(rep_change), "S", dtype=object)
        live["cust_rep"].append(arrow_cols(rep_columns(pop, rep_change, new_rep, types), "cust_rep"))
        p = pop.persons
        by_acct = {str(pop.acct_id[a]): r for a, r in zip(rep_change, new_rep, strict=True)}
        for row in cust_u:
            r = by_acct.get(row["acct_id"])
            if r is not None:
                o = pop.acct_owner[r]
                row["acct_rep_num"], row["acct_rep_name"] = str(pop.acct_id[r]), f"{p.first[o]} {p.last[o]}"
        changes["rep_changes"] = len(rep_change)


@dataclass
class NewAccounts:
    """Accounts opened after the cutoff (already appended to the population)."""

    person: np.ndarray  # owner person index
    is_dup: np.ndarray  # a re-registration of a known person
    add: np.ndarray  # add time (epoch seconds)
    acct_pos: np.ndarray  # position in the population's account arrays
    acct_ids: np.ndarray


def add_new_accounts(pop: Population, rng: np.random.Generator, n_new: int, cutoff: int) -> NewAccounts:
    """4a. New accounts: new people and re-registrations of known people, added to ``pop``."""
    base_persons = len(pop.persons)
    pop.persons = concat_persons(pop.persons, make_persons(rng, pop.pools, n_new, len(pop.pools.companies)))
    dup_of = rng.integers(0, pop.n_owner_persons, n_new)
    is_dup = rng.random(n_new) < 0.5
    person = np.where(is_dup, dup_of, base_persons + np.arange(n_new))
    add = change_times(rng, n_new, cutoff)
    first_new = len(pop.acct_id)
    new_acct_ids = int(pop.acct_id.max()) + 1 + np.arange(n_new) * 3
    pop.acct_id = np.concatenate([pop.acct_id, new_acct_ids])
    pop.acct_kind = np.concatenate([pop.acct_kind, np.full(n_new, "ind", dtype=object)])
    pop.acct_owner = np.concatenate([pop.acct_owner, person])
    pop.acct_variant = np.concatenate([pop.acct_variant, np.zeros(n_new, np.int64)])
    pop.acct_company = np.concatenate([pop.acct_company, np.full(n_new, -1)])
    pop.acct_type = np.concatenate([pop.acct_type, np.full(n_new, "Individual", dtype=object)])
    pop.acct_add = np.concatenate([pop.acct_add, add])
    pop.acct_upd = np.concatenate([pop.acct_upd, add])
    pop.acct_rep = np.concatenate([pop.acct_rep, np.full(n_new, -1)])
    return NewAccounts(person, is_dup, add, first_new + np.arange(n_new), new_acct_ids)


def new_account_names(pop: Population, rng: np.random.Generator, new: NewAccounts) -> NameRows:
    """4b. The new accounts' names; a re-registration differs from the known person in one value."""
    person, is_dup, n_new = new.person, new.is_dup, len(new.person)
    p = pop.persons
    first, last, cell, email = (
        p.first[person].copy(),
        p.last[person].copy(),
        p.cell[person].copy(),
        p.email[person].copy(),
    )
    scen = np.where(is_dup, "dup_after_cutoff", "new_after_cutoff").astype(object)
    for i in np.flatnonzero(is_dup):
        k = int(rng.integers(0, 4))
        if k == 0:
            last[i] = typo(last[i], int(rng.integers(0, 10**6)))
        elif k == 1 and first[i] in NICKNAMES:
            first[i] = NICKNAMES[first[i]]
        elif k == 2:
            cell[i] = transpose_digits(int(cell[i]), int(rng.integers(0, 10**6)))
        else:
            email[i] = email_address(
                first[i], last[i], int(rng.integers(1, 999)), PERSONAL_DOMAINS[int(rng.integers(0, 10))]
            )
    return NameRows(
        acct=new.acct_pos, person=person, primary=np.ones(n_new, bool), name_type=np.full(n_new, "I", dtype=object),
        first=first, mi=p.mi[person].copy(), last=last, company=np.full(n_new, None, dtype=object),
        street_no=p.street_no[person].copy(), street=p.street[person].copy(), unit=p.unit[person].copy(),
        city=p.city[person].copy(), phone_day=np.zeros(n_new, np.int64), phone_eve=p.home_phone[person].copy(),
        phone_cell=cell, email=email, email2=np.full(n_new, None, dtype=object), scenario=scen,
        company_idx=np.full(n_new, -1), cust_name_id=int(pop.names.cust_name_id.max()) + 1 + np.arange(n_new) * 2,
    )  # fmt: skip


def new_account_rows(
    pop: Population,
    rng: np.random.Generator,
    new: NewAccounts,
    rows: NameRows,
    email_id: int,
    addr_id: int,
    live: dict,
) -> list[tuple]:
    """4c. The new accounts' cust, cust_address and cust_email rows; returns their ground truth."""
    n_new = len(new.person)
    cust_new = cust_columns(pop, rows, new.add, new.add, rng)
    cust_new_t = as_text_table(cust_new, DATASETS["cust"].columns, n_new)
    cust_new["acct_id"] = cust_new_t.column("acct_id").combine_chunks()
    live["cust"].append(cust_new_t)
    a_cols, _ = address_columns(pop, rows, cust_new, rng, addr_id + 10)
    live["cust_address"].append(arrow_cols(a_cols, "cust_address"))
    e_cols, _ = email_columns(rows, cust_new, rng, email_id + 10)
    live["cust_email"].append(arrow_cols(e_cols, "cust_email"))
    p = pop.persons
    truth = []
    for i in range(n_new):
        pid = int(new.person[i])
        truth.append(
            (
                f"A:{new.acct_ids[i]}:{rows.cust_name_id[i]}",
                "archtics",
                f"P{pid}",
                f"H{p.household[pid]}",
                rows.scenario[i],
                "live",
            )
        )
    return truth
