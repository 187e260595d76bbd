"""Archtics changes made at or after the export cutoff: what the sandbox Archtics API serves on top.

Format of ``<sandbox_dir>/archtics_live/`` (read by :mod:`sandbox.archtics_api`):

* ``<dataset>.csv.gz`` — same columns and text conventions as the export part files. Each row is
  the *new full version* of a row (same business key = replaces the exported row). For the child
  lists (cust_address, cust_email, cust_rep) the file holds the complete new list of every account
  whose list changed; the API replaces those accounts' lists whole.
* ``live_manifest.json`` — ``{"cutoff", "until", "rows": {dataset: n}, "changes": {kind: n}}``.

Kinds of change: updated names/e-mails/addresses/phones, new accounts (some of them re-registrations
of known people), new ticket purchases, returns ('R' rows), account merges (a note "Merged account
<old> into <new>", the old account's tickets moved to the new account, the old account's names set
``rec_status`` 'I'), an event moved to a new time and a new event; a few of each land exactly on the
cutoff second (they are not in the export, which holds rows strictly before the cutoff).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kore.contracts.archtics import DATASETS
from sandbox.archtics_rows import USERS, address_columns, cust_columns, email_columns, note_columns, rep_columns
from sandbox.csv_parts import as_text_table, gzip_csv_bytes
from sandbox.people import NICKNAMES, PERSONAL_DOMAINS, transpose_digits, typo
from sandbox.population import NameRows, Population, _email, concat_persons, make_persons
from sandbox.ticketing import Calendar, SeatAllocator, TicketBatch, generate_orders, ticket_columns, ts_text

DAY = 86_400
WINDOW = 20 * DAY  # changes happen within this many seconds after the cutoff


@dataclass
class ChangePlan:
    """Accounts chosen for each change before tickets are generated (their tickets are kept)."""

    n: int
    updates: np.ndarray  # account positions
    merges: np.ndarray  # (k, 2) account positions: old, new
    returns: np.ndarray  # account positions whose tickets get returned
    buyers: np.ndarray  # existing accounts buying after the cutoff
    n_new: int
    watch_acct_ids: np.ndarray  # accounts whose exported tickets are kept for the changes
    watch_cust_acct_ids: np.ndarray  # accounts whose exported names/child lists are kept


@dataclass
class LiveResult:
    counts: dict[str, int] = field(default_factory=dict)
    ground_truth: list[tuple] = field(default_factory=list)


def plan_changes(pop: Population, rng: np.random.Generator, rate: float) -> ChangePlan:
    n = max(10, int(round(rate * len(pop.acct_id))))
    ind = np.flatnonzero(pop.acct_kind == "ind")
    # merge candidates: persons with two individual accounts; the older one is merged into the newer
    owners = pop.acct_owner[ind]
    o = np.argsort(owners, kind="stable")
    so = owners[o]
    pair_start = np.flatnonzero(so[1:] == so[:-1])
    k_merge = min(len(pair_start), max(2, n // 20))
    pick = rng.choice(pair_start, k_merge, replace=False) if k_merge else np.zeros(0, np.int64)
    merges = np.stack([ind[o[pick]], ind[o[pick + 1]]], axis=1) if k_merge else np.zeros((0, 2), np.int64)
    used = set(merges.ravel().tolist())
    rest = np.array([a for a in rng.permutation(ind)[: n * 2] if a not in used], dtype=np.int64)
    n_upd, n_ret, n_buy = n // 2, max(2, n // 10), max(2, n // 5)
    updates = rest[:n_upd]
    returns = rest[n_upd : n_upd + n_ret]
    buyers = rest[n_upd + n_ret : n_upd + n_ret + n_buy]
    watch = pop.acct_id[np.concatenate([merges[:, 0], returns])] if len(merges) else pop.acct_id[returns]
    cust_watch = pop.acct_id[np.concatenate([updates, merges[:, 0]])] if len(merges) else pop.acct_id[updates]
    return ChangePlan(n, updates, merges, returns, buyers, max(2, n // 5), np.unique(watch), np.unique(cust_watch))


def _change_times(rng: np.random.Generator, n: int, cutoff: int, at_cutoff: float = 0.05) -> np.ndarray:
    ts = cutoff + 1 + (rng.random(n) * (WINDOW - 1)).astype(np.int64)
    ts[rng.random(n) < at_cutoff] = cutoff
    if n:
        ts[0] = cutoff  # always at least one change exactly at the cutoff second
    return ts


def _rows_of(table: pa.Table, acct_ids: np.ndarray) -> pa.Table:
    return table.filter(pc.is_in(table.column("acct_id"), value_set=pa.array([str(a) for a in acct_ids])))


def write_live_changes(
    pop: Population,
    cal: Calendar,
    plan: ChangePlan,
    watched: TicketBatch | None,
    seats: SeatAllocator,
    out: Path,
    rng: np.random.Generator,
    cutoff: int,
    ids: dict[str, int],
    lam: float,
    export: dict[str, pa.Table],
) -> LiveResult:
    out.mkdir(parents=True, exist_ok=True)
    res = LiveResult()
    live: dict[str, list[pa.Table]] = {d: [] for d in DATASETS}
    changes: dict[str, int] = {}

    # --- 1. updates of existing names (and their child lists) -------------------------------------
    upd_ids = pop.acct_id[plan.updates]
    cust_u = [r for r in _rows_of(export["cust"], upd_ids).to_pylist() if r["primary_code"] == "Primary"]
    ts = ts_text(_change_times(rng, len(cust_u), cutoff)).to_pylist()
    kinds = rng.choice(4, len(cust_u), p=[0.35, 0.35, 0.15, 0.15])  # email, address, phone, last name
    emails_by_acct: dict[str, list[dict]] = {}
    for r in _rows_of(export["cust_email"], upd_ids).to_pylist():
        emails_by_acct.setdefault(r["acct_id"], []).append(r)
    addrs_by_acct: dict[str, list[dict]] = {}
    for r in _rows_of(export["cust_address"], upd_ids).to_pylist():
        addrs_by_acct.setdefault(r["acct_id"], []).append(r)
    new_emails: list[dict] = []
    new_addrs: list[dict] = []
    email_id, addr_id = ids["email"], ids["address"]
    streets, cities = pop.pools.streets, pop.pools.cities
    for i, row in enumerate(cust_u):
        k = int(kinds[i])
        row["upd_date"] = ts[i]
        row["upd_user"] = USERS[int(rng.integers(0, 6))]
        acct, cn = row["acct_id"], row["cust_name_id"]
        if k == 0 and row["name_first"]:
            style, dom = int(rng.integers(1, 10_000)), PERSONAL_DOMAINS[int(rng.integers(0, 10))]
            new = _email(row["name_first"], row["name_last"] or "x", style, dom)
            row["email_addr"] = new
            lst = [dict(e) for e in emails_by_acct.get(acct, [])]
            for e in lst:
                if e["cust_name_id"] == cn:
                    e["primary_ind"], e["email_sort"] = "N", str(int(e["email_sort"] or 1) + 1)
            lst.append(
                {"acct_id": acct, "cust_name_id": cn, "email_id": str(email_id), "email_type": "1",
                 "email_type_name": "Home", "email_addr": new, "primary_ind": "Y", "email_sort": "1",
                 "status": "Active", "solicit_email": "Y"}
            )  # fmt: skip
            email_id += 1
            new_emails += lst
        elif k == 1:
            ci = int(rng.integers(0, len(cities)))
            new_addr = {
                "street_addr_1": f"{int(rng.integers(1, 9000))} {streets[int(rng.integers(0, len(streets)))]}",
                "street_addr_2": None,
                "city": cities[ci],
                "state": pop.pools.city_state[ci],
                "zip": f"{pop.pools.city_zip[ci]:05d}",
            }
            row.update(new_addr)
            lst = [dict(a) for a in addrs_by_acct.get(acct, [])]
            for a in lst:
                if a["cust_name_id"] == cn and a["primary_ind"] == "Y":
                    a.update(new_addr)
            new_addrs += lst
        elif k == 2:
            row["phone_cell"] = f"{int(rng.integers(200, 990))}-555-{int(rng.integers(0, 10_000)):04d}"
        else:
            new_last = pop.pools.last[int(rng.integers(0, 500))]
            row["name_last"] = new_last
            lst = [dict(a) for a in addrs_by_acct.get(acct, [])]
            for a in lst:
                if a["cust_name_id"] == cn:
                    a["name_last"], a["full_name"] = new_last, f"{row['name_first'] or ''} {new_last}".strip()
            new_addrs += lst
    # some accounts get a new sales rep: their cust_rep list is replaced whole
    rep_change = plan.updates[rng.random(len(plan.updates)) < 0.2]
    if len(rep_change) and len(pop.rep_accounts):
        new_rep = pop.rep_accounts[rng.integers(0, len(pop.rep_accounts), len(rep_change))]
        types = np.full(len(rep_change), "S", dtype=object)
        live["cust_rep"].append(_arrow_cols(rep_columns(pop, rep_change, new_rep, types), "cust_rep"))
        p = pop.persons
        by_acct = {str(pop.acct_id[a]): r for a, r in zip(rep_change, new_rep, strict=True)}
        for row in cust_u:
            r = by_acct.get(row["acct_id"])
            if r is not None:
                o = pop.acct_owner[r]
                row["acct_rep_num"], row["acct_rep_name"] = str(pop.acct_id[r]), f"{p.first[o]} {p.last[o]}"
        changes["rep_changes"] = len(rep_change)
    live["cust"].append(_from_records(cust_u, "cust"))
    changes["updated_names"] = len(cust_u)

    # --- 2. merges: note, tickets moved, old names inactive ----------------------------------------
    mts = _change_times(rng, len(plan.merges), cutoff, 0.0)
    old_ids = pop.acct_id[plan.merges[:, 0]] if len(plan.merges) else np.zeros(0, np.int64)
    new_ids = pop.acct_id[plan.merges[:, 1]] if len(plan.merges) else np.zeros(0, np.int64)
    if len(old_ids):
        texts = np.array([f"Merged account {o} into {n}" for o, n in zip(old_ids, new_ids, strict=True)], dtype=object)
        note_ids = ids["note"] + np.arange(len(old_ids))
        ncols = note_columns(new_ids, note_ids, mts, rng, texts=texts)
        ncols["add_user"] = ncols["upd_user"] = np.full(len(old_ids), "archtics", dtype=object)
        live["note"].append(_arrow_cols(ncols, "note"))
        old_cust = _rows_of(export["cust"], old_ids).to_pandas()
        when = dict(zip(old_ids.astype(str), ts_text(mts).to_pylist(), strict=True))
        old_cust["rec_status"] = "I"
        old_cust["upd_date"] = old_cust["acct_id"].map(when)
        old_cust["upd_user"] = "archtics"
        live["cust"].append(_arrow(old_cust, "cust"))
        if watched is not None and len(watched):
            mv = np.flatnonzero(np.isin(watched.acct_id, old_ids))
            moved = watched.take(mv)
            target = dict(zip(old_ids.tolist(), zip(new_ids.tolist(), mts.tolist(), strict=True), strict=True))
            moved.upd_ts = np.array([target[a][1] for a in moved.acct_id], dtype=np.int64)
            moved.acct_id = np.array([target[a][0] for a in moved.acct_id], dtype=np.int64)
            live["ticket"].append(_arrow_cols(ticket_columns(moved, cal, USERS), "ticket"))
            changes["tickets_moved"] = len(moved)
    changes["merges"] = len(old_ids)

    # --- 3. returns of exported single-event tickets -----------------------------------------------
    if watched is not None and len(watched):
        ret_ids = pop.acct_id[plan.returns]
        w = watched
        returned_keys = {
            (e, s, r, t)
            for e, s, r, t, st in zip(w.event_pos, w.section, w.row, w.seat, w.status, strict=True)
            if st == "R"
        }
        cand = np.flatnonzero(
            np.isin(w.acct_id, ret_ids)
            & (w.status == "A")
            & (w.plan_pos < 0)
            & (cal.event_ts[np.maximum(w.event_pos, 0)] > cutoff + DAY)
        )
        cand = np.array(
            [i for i in cand if (w.event_pos[i], w.section[i], w.row[i], w.seat[i]) not in returned_keys],
            dtype=np.int64,
        )
        cand = cand[rng.random(len(cand)) < 0.5] if len(cand) > 4 else cand
        r = w.take(cand)
        rts = _change_times(rng, len(r), cutoff, 0.05)
        rts = np.minimum(rts, cal.event_ts[r.event_pos] - 1)
        r.status = np.full(len(r), "R", dtype=object)
        r.return_ts, r.add_ts, r.upd_ts = rts, rts, rts
        live["ticket"].append(_arrow_cols(ticket_columns(r, cal, USERS), "ticket"))
        changes["returns"] = len(r)

    # --- 4. new accounts: new people and re-registrations of known people -------------------------
    n_new = plan.n_new
    base_persons = len(pop.persons)
    pop.persons = concat_persons(pop.persons, make_persons(rng, pop.pools, n_new, len(pop.pools.companies)))
    dup_of = rng.integers(0, pop.n_owner_persons, n_new)
    is_dup = rng.random(n_new) < 0.5
    person = np.where(is_dup, dup_of, base_persons + np.arange(n_new))
    add = _change_times(rng, n_new, cutoff)
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
            email[i] = _email(first[i], last[i], int(rng.integers(1, 999)), PERSONAL_DOMAINS[int(rng.integers(0, 10))])
    acct_pos = first_new + np.arange(n_new)
    rows = NameRows(
        acct=acct_pos, person=person, primary=np.ones(n_new, bool), name_type=np.full(n_new, "I", dtype=object),
        first=first, mi=p.mi[person].copy(), last=last, company=np.full(n_new, None, dtype=object),
        street_no=p.street_no[person].copy(), street=p.street[person].copy(), unit=p.unit[person].copy(),
        city=p.city[person].copy(), phone_day=np.zeros(n_new, np.int64), phone_eve=p.home_phone[person].copy(),
        phone_cell=cell, email=email, email2=np.full(n_new, None, dtype=object), scenario=scen,
        company_idx=np.full(n_new, -1), cust_name_id=int(pop.names.cust_name_id.max()) + 1 + np.arange(n_new) * 2,
    )  # fmt: skip
    cust_new = cust_columns(pop, rows, add, add, rng)
    cust_new_t = as_text_table(cust_new, DATASETS["cust"].columns, n_new)
    cust_new["acct_id"] = cust_new_t.column("acct_id").combine_chunks()
    live["cust"].append(cust_new_t)
    a_cols, _ = address_columns(pop, rows, cust_new, rng, addr_id + 10)
    live["cust_address"].append(_arrow_cols(a_cols, "cust_address"))
    e_cols, _ = email_columns(rows, cust_new, rng, email_id + 10)
    live["cust_email"].append(_arrow_cols(e_cols, "cust_email"))
    for i in range(n_new):
        pid = int(person[i])
        res.ground_truth.append(
            (
                f"A:{new_acct_ids[i]}:{rows.cust_name_id[i]}",
                "archtics",
                f"P{pid}",
                f"H{p.household[pid]}",
                scen[i],
                "live",
            )
        )
    changes["new_accounts"] = n_new

    # --- 5. new ticket purchases (existing buyers and the new accounts) ----------------------------
    buyers = np.concatenate([plan.buyers, acct_pos])
    rep_acct_id = np.where(pop.acct_rep >= 0, pop.acct_id[np.maximum(pop.acct_rep, 0)], -1)
    b = generate_orders(
        rng, cal, seats, pop.acct_id[buyers], pop.acct_add[buyers], rep_acct_id[buyers], np.zeros(len(buyers), bool),
        max(lam / 3, 1.0), ids["order"], cutoff, cutoff + WINDOW, return_rate=0.0,
    )  # fmt: skip
    if len(b):
        b.add_ts[: max(1, len(b) // 50)] = cutoff  # some purchases exactly at the cutoff second
        b.upd_ts = np.maximum(b.add_ts, b.return_ts)
        live["ticket"].append(_arrow_cols(ticket_columns(b, cal, USERS), "ticket"))
    changes["new_ticket_rows"] = len(b)

    # --- 6. events: one game moved, one new game ---------------------------------------------------
    ev = pa.table({c: cal.evnt[c] for c in DATASETS["evnt"].columns})
    future = np.flatnonzero(cal.event_ts > cutoff + WINDOW)
    moved_pos = int(future[0]) if len(future) else len(cal.event_id) - 1
    row = ev.slice(moved_pos, 1).to_pandas()
    row.loc[0, "event_time"] = "8:00 PM"
    row.loc[0, "upd_date"] = ts_text(np.array([cutoff + 2 * DAY]))[0].as_py()
    new_ev = ev.slice(moved_pos, 1).to_pandas()
    new_ev.loc[0, ["event_id", "event_name", "event_name_long"]] = [
        str(int(cal.plan_id.max()) + 100),
        "PLAYIN1",
        "Kore City Kings Play-In Game",
    ]
    new_ev.loc[0, ["add_date", "upd_date"]] = [ts_text(np.array([cutoff]))[0].as_py()] * 2
    live["evnt"].append(_arrow(row, "evnt"))
    live["evnt"].append(_arrow(new_ev, "evnt"))
    changes["events"] = 2

    # --- child lists: complete new lists of changed accounts --------------------------------------
    live["cust_email"].append(_from_records(new_emails, "cust_email"))
    live["cust_address"].append(_from_records(new_addrs, "cust_address"))

    # --- write -------------------------------------------------------------------------------------
    rows_written = {}
    for d, tables in live.items():
        cols = DATASETS[d].columns
        t = pa.concat_tables(tables) if tables else pa.table({c: pa.array([], pa.string()) for c in cols})
        t = _latest_per_key(t, d)
        (out / f"{d}.csv.gz").write_bytes(gzip_csv_bytes(t))
        rows_written[d] = t.num_rows
    res.counts = {**rows_written, **{f"changes_{k}": v for k, v in changes.items()}}
    (out / "live_manifest.json").write_text(
        json.dumps(
            {
                "cutoff": ts_text(np.array([cutoff]))[0].as_py(),
                "until": ts_text(np.array([cutoff + WINDOW]))[0].as_py(),
                "rows": rows_written,
                "changes": changes,
            },
            indent=1,
        )  # fmt: skip
    )
    return res


def _latest_per_key(t: pa.Table, dataset: str) -> pa.Table:
    """One row per business key (the last one added wins); child lists keep every row."""
    if t.num_rows == 0:
        return t
    ds = DATASETS[dataset]
    df = t.to_pandas()
    key = list(ds.business_key)
    df = df.drop_duplicates(key, keep="last")
    return _arrow(df, dataset)


def _from_records(rows: list[dict], dataset: str) -> pa.Table:
    cols = DATASETS[dataset].columns
    data = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    return as_text_table(data, cols, len(rows))


def _arrow(df, dataset: str) -> pa.Table:
    cols = DATASETS[dataset].columns
    df = df.reindex(columns=cols)
    data = {c: pa.array(df[c].astype(object).where(df[c].notna(), None).tolist(), pa.string()) for c in cols}
    return as_text_table(data, cols, len(df))


def _arrow_cols(cols: dict, dataset: str) -> pa.Table:
    n = len(next(iter(v for v in cols.values() if v is not None)))
    return as_text_table(cols, DATASETS[dataset].columns, n)
