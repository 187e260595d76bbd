"""Archtics changes made at or after the export cutoff: what the sandbox Archtics API serves on top.

Format of ``<sandbox_dir>/archtics_live/`` (read by :mod:`sandbox.archtics_api`):

* ``<dataset>.csv.gz`` — same columns and text conventions as the export part files. Each row is
  the *new full version* of a row (same business key = replaces the exported row). For the child
  lists (cust_address, cust_email, cust_rep) the file holds the complete new list of every account
  whose list changed; the API replaces those accounts' lists whole.
* ``live_manifest.json`` — ``{"cutoff", "until", "rows": {dataset: n}, "changes": {kind: n}}``.

Kinds of change, in the order :func:`write_live_changes` makes them (the random draws follow this
order): updated names/e-mails/addresses/phones and new sales reps, account merges (a note
"Merged account <old> into <new>", the old account's tickets moved to the new account, the old
account's names set ``rec_status`` 'I'), returns ('R' rows), new accounts (some of them re-registrations of
known people), new ticket purchases, an event moved to a new time and a new event; a few of each
land exactly on the cutoff second (they are not in the export, which holds rows strictly before the
cutoff). The account and name changes are in :mod:`sandbox.live_accounts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from kore.contracts.archtics import DATASETS, merge_note_text
from sandbox.archtics_rows import USERS, note_columns
from sandbox.csv_parts import gzip_csv_bytes
from sandbox.live_accounts import add_new_accounts, change_reps, new_account_names, new_account_rows, update_names
from sandbox.live_rows import DAY, WINDOW, arrow, arrow_cols, change_times, from_records, latest_per_key, rows_of
from sandbox.population import Population
from sandbox.season_calendar import Calendar
from sandbox.text_values import ts_text
from sandbox.ticketing import SeatAllocator, TicketBatch, generate_orders, ticket_columns


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
    """Make every kind of change, in this order (the random draws follow it), and write the files."""
    out.mkdir(parents=True, exist_ok=True)
    res = LiveResult()
    live: dict[str, list[pa.Table]] = {d: [] for d in DATASETS}
    changes: dict[str, int] = {}

    upd = update_names(pop, plan.updates, export, rng, cutoff, ids)
    change_reps(pop, plan.updates, rng, upd.cust, live, changes)
    live["cust"].append(from_records(upd.cust, "cust"))
    changes["updated_names"] = len(upd.cust)
    _merge_accounts(pop, cal, plan, watched, rng, cutoff, ids, export, live, changes)
    _return_tickets(pop, cal, plan, watched, rng, cutoff, live, changes)
    new = add_new_accounts(pop, rng, plan.n_new, cutoff)
    rows = new_account_names(pop, rng, new)
    res.ground_truth += new_account_rows(pop, rng, new, rows, upd.email_id, upd.addr_id, live)
    changes["new_accounts"] = plan.n_new
    _new_purchases(pop, cal, plan, seats, rng, cutoff, ids, lam, new.acct_pos, live, changes)
    _moved_and_new_event(cal, cutoff, live, changes)
    # child lists: complete new lists of changed accounts
    live["cust_email"].append(from_records(upd.emails, "cust_email"))
    live["cust_address"].append(from_records(upd.addrs, "cust_address"))
    res.counts = _write_files(out, live, changes, cutoff)
    return res


def _merge_accounts(
    pop: Population,
    cal: Calendar,
    plan: ChangePlan,
    watched: TicketBatch | None,
    rng: np.random.Generator,
    cutoff: int,
    ids: dict[str, int],
    export: dict[str, pa.Table],
    live: dict,
    changes: dict,
) -> None:
    """2. Merges: a note, the old account's tickets moved to the new one, its names inactive."""
    mts = change_times(rng, len(plan.merges), cutoff, 0.0)
    old_ids = pop.acct_id[plan.merges[:, 0]] if len(plan.merges) else np.zeros(0, np.int64)
    new_ids = pop.acct_id[plan.merges[:, 1]] if len(plan.merges) else np.zeros(0, np.int64)
    if len(old_ids):
        texts = np.array([merge_note_text(o, n) for o, n in zip(old_ids, new_ids, strict=True)], dtype=object)
        note_ids = ids["note"] + np.arange(len(old_ids))
        ncols = note_columns(new_ids, note_ids, mts, rng, texts=texts)
        ncols["add_user"] = ncols["upd_user"] = np.full(len(old_ids), "archtics", dtype=object)
        live["note"].append(arrow_cols(ncols, "note"))
        old_cust = rows_of(export["cust"], old_ids).to_pandas()
        when = dict(zip(old_ids.astype(str), ts_text(mts).to_pylist(), strict=True))
        old_cust["rec_status"] = "I"
        old_cust["upd_date"] = old_cust["acct_id"].map(when)
        old_cust["upd_user"] = "archtics"
        live["cust"].append(arrow(old_cust, "cust"))
        if watched is not None and len(watched):
            mv = np.flatnonzero(np.isin(watched.acct_id, old_ids))
            moved = watched.take(mv)
            target = dict(zip(old_ids.tolist(), zip(new_ids.tolist(), mts.tolist(), strict=True), strict=True))
            moved.upd_ts = np.array([target[a][1] for a in moved.acct_id], dtype=np.int64)
            moved.acct_id = np.array([target[a][0] for a in moved.acct_id], dtype=np.int64)
            live["ticket"].append(arrow_cols(ticket_columns(moved, cal, USERS), "ticket"))
            changes["tickets_moved"] = len(moved)
    changes["merges"] = len(old_ids)


def _return_tickets(
    pop: Population,
    cal: Calendar,
    plan: ChangePlan,
    watched: TicketBatch | None,
    rng: np.random.Generator,
    cutoff: int,
    live: dict,
    changes: dict,
) -> None:
    """3. Returns of exported single-event tickets (of events more than a day after the cutoff)."""
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
        rts = change_times(rng, len(r), cutoff, 0.05)
        rts = np.minimum(rts, cal.event_ts[r.event_pos] - 1)
        r.status = np.full(len(r), "R", dtype=object)
        r.return_ts, r.add_ts, r.upd_ts = rts, rts, rts
        live["ticket"].append(arrow_cols(ticket_columns(r, cal, USERS), "ticket"))
        changes["returns"] = len(r)


def _new_purchases(
    pop: Population,
    cal: Calendar,
    plan: ChangePlan,
    seats: SeatAllocator,
    rng: np.random.Generator,
    cutoff: int,
    ids: dict[str, int],
    lam: float,
    new_acct_pos: np.ndarray,
    live: dict,
    changes: dict,
) -> None:
    """5. New ticket purchases (existing buyers and the new accounts)."""
    buyers = np.concatenate([plan.buyers, new_acct_pos])
    rep_acct_id = np.where(pop.acct_rep >= 0, pop.acct_id[np.maximum(pop.acct_rep, 0)], -1)
    b = generate_orders(
        rng, cal, seats, pop.acct_id[buyers], pop.acct_add[buyers], rep_acct_id[buyers], np.zeros(len(buyers), bool),
        max(lam / 3, 1.0), ids["order"], cutoff, cutoff + WINDOW, return_rate=0.0,
    )  # fmt: skip
    if len(b):
        b.add_ts[: max(1, len(b) // 50)] = cutoff  # some purchases exactly at the cutoff second
        b.upd_ts = np.maximum(b.add_ts, b.return_ts)
        live["ticket"].append(arrow_cols(ticket_columns(b, cal, USERS), "ticket"))
    changes["new_ticket_rows"] = len(b)


def _moved_and_new_event(cal: Calendar, cutoff: int, live: dict, changes: dict) -> None:
    """6. Events: one game moved to a new time, one new game."""
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
    live["evnt"].append(arrow(row, "evnt"))
    live["evnt"].append(arrow(new_ev, "evnt"))
    changes["events"] = 2


def _write_files(out: Path, live: dict[str, list[pa.Table]], changes: dict[str, int], cutoff: int) -> dict[str, int]:
    """One ``<dataset>.csv.gz`` per dataset (latest version per key) and the manifest; returns counts."""
    rows_written = {}
    for d, tables in live.items():
        cols = DATASETS[d].columns
        t = pa.concat_tables(tables) if tables else pa.table({c: pa.array([], pa.string()) for c in cols})
        t = latest_per_key(t, d)
        (out / f"{d}.csv.gz").write_bytes(gzip_csv_bytes(t))
        rows_written[d] = t.num_rows
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
    return {**rows_written, **{f"changes_{k}": v for k, v in changes.items()}}
