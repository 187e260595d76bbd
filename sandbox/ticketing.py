"""Seasons, events, plans and ticket rows of the sample Archtics data.

Tickets are the bulk of an export (about ten rows per account), so they are generated per chunk of
accounts with numpy and turned into Arrow string columns without Python loops. Seats never collide:
every seat "space" (single-event sales, and each plan) gets its own interleaved sections, and blocks
are handed out in order within a space, so the ticket business key (event, section, row, seat,
status, return time) is unique by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kore.contracts.archtics import TS_FORMAT

DAY = 86_400
TEAM = "Kore City Kings"
ARENA = "Kore Arena"
OPPONENTS = ["Harbor City Hawks", "Riverside Rapids", "Northfield Wolves", "Lakeshore Lions", "Capital Comets",
             "Summit Stars", "Bayview Bears", "Granite Giants", "Prairie Pumas", "Desert Dusters",
             "Coastal Cougars", "Metro Mavericks", "Valley Vipers", "Iron Range Rams", "Pinecrest Pilots"]  # fmt: skip
PLAN_TYPES = [("FS", "FULL", "Full Season"), ("HA", "HALFA", "Half Season A"), ("HB", "HALFB", "Half Season B"),
              ("MP", "MINI10", "Mini Plan 10")]  # fmt: skip
PRICE_CODES = np.array(["A", "B", "C", "D", "E"], dtype=object)
PRICE_DESC = np.array(["Adult", "Senior", "Youth", "Military", "Group"], dtype=object)
PRICE_CENTS = np.array([8_500, 6_500, 4_500, 6_000, 5_500])
CLASS_NAMES = np.array(["Lower Bowl", "Upper Bowl", "Club", "Courtside"], dtype=object)
SELL_LOC = np.array(["Internet", "Box Office", "Phone", "Mobile App"], dtype=object)
DELIVERY = np.array(["Mobile", "Print at Home", "Will Call", "Mail"], dtype=object)
RETURN_REASONS = np.array(["Customer request", "Duplicate order", "Event conflict", "Exchange"], dtype=object)
SEATS_PER_ROW_BLOCKS = 4  # four blocks of 8 seats per row
ROWS_PER_SECTION = 26


def ts_text(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds -> 'YYYY-MM-DD HH:MM:SS' strings (nulls where seconds < 0)."""
    arr = pa.array(np.asarray(seconds, dtype=np.int64), mask=np.asarray(seconds) < 0).cast(pa.timestamp("s"))
    return pc.cast(arr, pa.string())  # Arrow renders timestamp[s] as TS_FORMAT, ~15x faster than strftime


def date_text(seconds: np.ndarray) -> pa.Array:
    arr = pa.array(np.asarray(seconds, dtype=np.int64), mask=np.asarray(seconds) < 0).cast(pa.timestamp("s"))
    return pc.cast(pc.cast(arr, pa.date32()), pa.string())


def money_text(cents: np.ndarray) -> pa.Array:
    c = np.asarray(cents, dtype=np.int64)
    d = pc.cast(pa.array(c // 100), pa.string())
    r = pc.utf8_lpad(pc.cast(pa.array(c % 100), pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise(d, r, ".")


def int_text(values: np.ndarray, null_below: int | None = None) -> pa.Array:
    v = np.asarray(values, dtype=np.int64)
    mask = v < null_below if null_below is not None else None
    return pc.cast(pa.array(v, mask=mask), pa.string())


def epoch(ts: str) -> int:
    return int(datetime.strptime(ts, TS_FORMAT).replace(tzinfo=UTC).timestamp())


@dataclass
class Calendar:
    """Seasons, events and plans (numpy arrays) plus their Archtics rows as text columns."""

    season_id: np.ndarray
    season_onsale: np.ndarray
    season_end: np.ndarray
    season_start_year: np.ndarray
    event_id: np.ndarray  # single events
    event_season: np.ndarray  # season position
    event_ts: np.ndarray
    event_name: np.ndarray
    plan_id: np.ndarray
    plan_season: np.ndarray
    plan_kind: np.ndarray  # index into PLAN_TYPES
    plan_name: np.ndarray
    plan_events: list[np.ndarray]  # event positions per plan
    evnt: dict[str, pa.Array]
    events_in_plan: dict[str, pa.Array]
    season: dict[str, pa.Array]
    evnt_upd: np.ndarray  # change time per evnt row (events then plans)


def build_calendar(rng: np.random.Generator, cutoff: int) -> Calendar:
    """Six seasons ending with the one in progress at the cutoff; 41 home games and 4 plans each."""
    cut_year = datetime.fromtimestamp(cutoff, UTC).year
    cut_month = datetime.fromtimestamp(cutoff, UTC).month
    current = cut_year if cut_month >= 7 else cut_year - 1
    years = np.arange(current - 5, current + 1)
    s_ids = 100 + (years - 2000)
    onsale = np.array([epoch(f"{y}-03-01 10:00:00") for y in years])
    end = np.array([epoch(f"{y + 1}-04-30 23:00:00") for y in years])
    e_ids, e_season, e_ts, e_names, e_long, e_game = [], [], [], [], [], []
    next_id = 1_001
    for si, y in enumerate(years):
        start = epoch(f"{y}-10-08 19:30:00")
        gaps = np.sort(rng.choice(np.arange(0, 180), 41, replace=False))
        for g, d in enumerate(gaps):
            e_ids.append(next_id)
            next_id += 1
            e_season.append(si)
            e_ts.append(start + int(d) * DAY)
            e_names.append(f"{str(y)[2:]}KCK{g + 1:02d}")
            e_long.append(f"{TEAM} vs. {OPPONENTS[(g + si) % len(OPPONENTS)]}")
            e_game.append(g + 1)
    e_ids_a, e_season_a, e_ts_a = np.array(e_ids), np.array(e_season), np.array(e_ts)
    p_ids, p_season, p_kind, p_names, p_events = [], [], [], [], []
    next_plan = 9_001
    for si, y in enumerate(years):
        ev = np.flatnonzero(e_season_a == si)
        members = [ev, ev[0::2], ev[1::2], np.sort(rng.choice(ev, 10, replace=False))]
        for k, m in enumerate(members):
            p_ids.append(next_plan)
            next_plan += 1
            p_season.append(si)
            p_kind.append(k)
            p_names.append(f"{str(y)[2:]}{PLAN_TYPES[k][1]}")
            p_events.append(m)
    p_ids_a, p_season_a = np.array(p_ids), np.array(p_season)

    # evnt rows: events then plans
    n_e, n_p = len(e_ids), len(p_ids)
    ev_add = onsale[e_season_a] - 30 * DAY
    pl_add = onsale[p_season_a] - 45 * DAY
    add = np.concatenate([ev_add, pl_add])
    upd = add + rng.integers(0, 25 * DAY, n_e + n_p)
    upd = np.minimum(upd, cutoff - 1)
    plan_first = np.array([e_ts_a[m].min() for m in p_events])
    ev_date = np.concatenate([e_ts_a, plan_first])
    season_name = np.array([f"{y}-{str(y + 1)[2:]} {TEAM}" for y in years], dtype=object)
    all_season = np.concatenate([e_season_a, p_season_a])
    weekday = pc.strftime(pa.array(ev_date).cast(pa.timestamp("s")), format="%A")
    evnt = {
        "event_id": int_text(np.concatenate([e_ids_a, p_ids_a])),
        "event_name": pa.array(e_names + p_names),
        "event_name_long": pa.array(
            e_long + [f"{season_name[s]} {PLAN_TYPES[k][2]}" for s, k in zip(p_season, p_kind, strict=True)]
        ),
        "event_date": ts_text(ev_date),
        "event_time": pa.array(["7:30 PM"] * (n_e + n_p)),
        "event_day": weekday,
        "team": pa.array([TEAM] * (n_e + n_p)),
        "plan": pa.array(["N"] * n_e + ["Y"] * n_p),
        "plan_type": pa.array([None] * n_e + [PLAN_TYPES[k][0] for k in p_kind]),
        "plan_abv": pa.array([None] * n_e + [PLAN_TYPES[k][1] for k in p_kind]),
        "season_id": int_text(s_ids[all_season]),
        "season_name": pa.array(season_name[all_season]),
        "total_events": pa.array(["1"] * n_e + [str(len(m)) for m in p_events]),
        "arena_name": pa.array([ARENA] * (n_e + n_p)),
        "event_type": pa.array(["Game"] * n_e + ["Plan"] * n_p),
        "major_category": pa.array(["SPORTS"] * (n_e + n_p)),
        "minor_category": pa.array(["BASKETBALL"] * (n_e + n_p)),
        "enabled": pa.array(["Y"] * (n_e + n_p)),
        "add_date": ts_text(add),
        "upd_date": ts_text(upd),
        "upd_user": pa.array(["archtics"] * (n_e + n_p)),
    }
    eip_rows = []
    for pi, m in enumerate(p_events):
        for g, e in enumerate(m):
            eip_rows.append((pi, e, g + 1))
    pi_a = np.array([r[0] for r in eip_rows])
    ei_a = np.array([r[1] for r in eip_rows])
    events_in_plan = {
        "plan_group_id": int_text(np.array(p_kind)[pi_a] + 1),
        "plan_group_name": pa.array([PLAN_TYPES[p_kind[i]][2] for i in pi_a]),
        "plan_event_id": int_text(p_ids_a[pi_a]),
        "plan_event_name": pa.array([p_names[i] for i in pi_a]),
        "plan_total_events": pa.array([str(len(p_events[i])) for i in pi_a]),
        "plan_type": pa.array([PLAN_TYPES[p_kind[i]][0] for i in pi_a]),
        "event_id": int_text(e_ids_a[ei_a]),
        "event_name": pa.array([e_names[i] for i in ei_a]),
        "event_date": ts_text(e_ts_a[ei_a]),
        "event_time": pa.array(["7:30 PM"] * len(ei_a)),
        "team": pa.array([TEAM] * len(ei_a)),
        "game_number": int_text(np.array([r[2] for r in eip_rows])),
        "total_events": pa.array(["1"] * len(ei_a)),
        "tm_event_name": pa.array([e_names[i] for i in ei_a]),
        "child_is_plan": pa.array(["N"] * len(ei_a)),
        "season_id": int_text(s_ids[p_season_a[pi_a]]),
    }
    s_add = onsale - 60 * DAY
    season = {
        "season_id": int_text(s_ids),
        "name": pa.array(season_name),
        "season_year": int_text(years),
        "arena_id": pa.array(["1"] * len(years)),
        "manifest_id": int_text(500 + np.arange(len(years))),
        "org_id": pa.array(["1"] * len(years)),
        "add_datetime": ts_text(s_add),
        "upd_datetime": ts_text(np.minimum(s_add + 10 * DAY, cutoff - 1)),
    }
    return Calendar(
        s_ids, onsale, end, years, e_ids_a, e_season_a, e_ts_a, np.array(e_names, dtype=object), p_ids_a,
        p_season_a, np.array(p_kind), np.array(p_names, dtype=object), p_events, evnt, events_in_plan, season, upd,
    )  # fmt: skip


class SeatAllocator:
    """Hands out non-overlapping seat blocks per seat space (0 = single events, 1+j = plan j)."""

    def __init__(self, n_spaces: int, base_section: int = 101):
        self.n_spaces = n_spaces
        self.base = base_section
        self._used: dict[int, int] = {}

    def allocate(self, space: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block slots for orders in ``space`` sub-keyed by ``key`` (event or plan); returns section,row,seat."""
        n = len(space)
        combo = space.astype(np.int64) * 1_000_000 + key.astype(np.int64)
        o = np.argsort(combo, kind="stable")
        sc = combo[o]
        start = np.concatenate([[True], sc[1:] != sc[:-1]])
        grp_start_idx = np.maximum.accumulate(np.where(start, np.arange(n), 0))
        rank = np.arange(n) - grp_start_idx
        # each (space, key) has its own counter; keep them in a dict-like array keyed by combo
        uniq, first_idx = np.unique(sc, return_index=True)
        offs = np.array(
            [self._take(int(u), int(c)) for u, c in zip(uniq, np.diff(np.append(first_idx, n)), strict=True)]
        )
        slot_sorted = rank + np.repeat(offs, np.diff(np.append(first_idx, n)))
        slot = np.empty(n, np.int64)
        slot[o] = slot_sorted
        per_section = SEATS_PER_ROW_BLOCKS * ROWS_PER_SECTION
        section = self.base + (slot // per_section) * self.n_spaces + space
        row = (slot // SEATS_PER_ROW_BLOCKS) % ROWS_PER_SECTION + 1
        seat = 1 + 8 * (slot % SEATS_PER_ROW_BLOCKS)
        return section, row, seat

    def _take(self, combo: int, count: int) -> int:
        start = self._used.get(combo, 0)
        self._used[combo] = start + count
        return start


@dataclass
class TicketBatch:
    """Ticket rows of a batch as numpy arrays (kept numeric so live changes can reuse them)."""

    acct_id: np.ndarray
    event_pos: np.ndarray  # event position, -1 for plan-level rows
    plan_pos: np.ndarray  # plan position or -1
    section: np.ndarray
    row: np.ndarray
    seat: np.ndarray
    num_seats: np.ndarray
    status: np.ndarray  # 'A' / 'R'
    order_num: np.ndarray
    line_seq: np.ndarray
    price_idx: np.ndarray
    class_idx: np.ndarray
    unit_cents: np.ndarray
    add_ts: np.ndarray
    upd_ts: np.ndarray
    return_ts: np.ndarray  # -1 unless returned
    rep_id: np.ndarray  # -1 = none
    comp: np.ndarray  # bool: comp ticket
    sell_loc: np.ndarray
    delivery: np.ndarray
    renewal: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.acct_id)

    def take(self, idx: np.ndarray) -> TicketBatch:
        return TicketBatch(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})

    @staticmethod
    def concat(batches: list[TicketBatch]) -> TicketBatch:
        return TicketBatch(
            **{k: np.concatenate([getattr(b, k) for b in batches]) for k in TicketBatch.__dataclass_fields__}
        )


def generate_orders(
    rng: np.random.Generator,
    cal: Calendar,
    seats: SeatAllocator,
    acct_id: np.ndarray,
    acct_add: np.ndarray,
    acct_rep_id: np.ndarray,
    acct_is_comp: np.ndarray,
    lam: float,
    order_start: int,
    t_lo: int,
    t_hi: int,
    return_rate: float = 0.04,
) -> TicketBatch:
    """Ticket rows for orders placed by these accounts between ``t_lo`` and ``t_hi`` (epoch seconds).

    Single-event orders give one row (plus a later 'R' row when returned); plan orders give a
    plan-level row (event_id = plan_event_id) and, for mini plans, usually the per-event rows.
    """
    n_orders = rng.poisson(lam, len(acct_id))
    oa = np.repeat(np.arange(len(acct_id)), n_orders)
    n = len(oa)
    if n == 0:
        return TicketBatch.concat([_empty_batch()])
    kind = rng.choice(5, n, p=[0.70, 0.06, 0.06, 0.06, 0.12])  # 0 single, 1..4 plan kinds FS,HA,HB,MP
    n_seasons = len(cal.season_id)
    w = np.arange(1, n_seasons + 1, dtype=float) ** 1.5
    season = rng.choice(n_seasons, n, p=w / w.sum())
    lo = np.maximum(np.maximum(acct_add[oa], cal.season_onsale[season]), t_lo)
    hi = np.minimum(cal.season_end[season], t_hi)
    bad = lo >= hi
    valid_seasons = np.flatnonzero(cal.season_onsale < t_hi)
    season[bad] = valid_seasons[-1]
    lo = np.maximum(np.maximum(acct_add[oa], cal.season_onsale[season]), t_lo)
    hi = np.maximum(np.minimum(cal.season_end[season], t_hi), lo + 1)
    t = lo + ((hi - lo) * rng.random(n)).astype(np.int64)

    # single events: an event of the season not yet played at purchase time
    single = kind == 0
    ev = np.full(n, -1)
    for s in range(n_seasons):
        m = single & (season == s)
        if not m.any():
            continue
        evs = np.flatnonzero(cal.event_season == s)
        first_ok = np.searchsorted(cal.event_ts[evs], t[m])
        first_ok = np.minimum(first_ok, len(evs) - 1)
        pick = first_ok + (rng.random(m.sum()) * (len(evs) - first_ok)).astype(np.int64)
        ev[m] = evs[np.minimum(pick, len(evs) - 1)]
    plan = np.full(n, -1)
    pk = ~single
    plan[pk] = season[pk] * 4 + (kind[pk] - 1)
    num_seats = np.minimum(rng.geometric(0.45, n) + 1, 8)
    price_idx = rng.choice(5, n, p=[0.6, 0.12, 0.15, 0.05, 0.08])
    class_idx = rng.choice(4, n, p=[0.5, 0.35, 0.12, 0.03])
    unit = PRICE_CENTS[price_idx] * np.array([1.0, 0.6, 2.0, 5.0])[class_idx]
    unit = unit.astype(np.int64)
    space = np.where(single, 0, plan + 1)
    key = np.where(single, ev, 0)
    section, row, seat = seats.allocate(space, key)
    order_num = order_start + np.arange(n)
    comp = acct_is_comp[oa] | (rng.random(n) < 0.02)
    sell = rng.integers(0, len(SELL_LOC), n)
    deliv = rng.integers(0, len(DELIVERY), n)
    renewal = (~single) & (rng.random(n) < 0.6)
    rep = acct_rep_id[oa]

    def batch(idx, event_pos, plan_pos, status, add_ts, ret_ts, seq):
        return TicketBatch(
            acct_id=acct_id[oa[idx]], event_pos=event_pos, plan_pos=plan_pos, section=section[idx], row=row[idx],
            seat=seat[idx], num_seats=num_seats[idx], status=status, order_num=order_num[idx], line_seq=seq,
            price_idx=price_idx[idx], class_idx=class_idx[idx], unit_cents=unit[idx], add_ts=add_ts,
            upd_ts=np.maximum(add_ts, ret_ts), return_ts=ret_ts, rep_id=rep[idx], comp=comp[idx],
            sell_loc=sell[idx], delivery=deliv[idx], renewal=renewal[idx],
        )  # fmt: skip

    parts = []
    si = np.flatnonzero(single)
    parts.append(
        batch(
            si,
            ev[si],
            np.full(len(si), -1),
            np.full(len(si), "A", dtype=object),
            t[si],
            np.full(len(si), -1),
            np.ones(len(si), np.int64),
        )
    )
    # returns of single-event tickets: a later 'R' row before the event (and before t_hi)
    ret_hi = np.minimum(cal.event_ts[ev[si]], t_hi)
    can = (ret_hi - t[si] > 3_600) & (rng.random(len(si)) < return_rate)
    ri = si[can]
    rts = t[ri] + ((ret_hi[can] - t[ri]) * rng.random(len(ri))).astype(np.int64) + 1
    rts = np.minimum(rts, ret_hi[can])
    parts.append(
        batch(
            ri, ev[ri], np.full(len(ri), -1), np.full(len(ri), "R", dtype=object), rts, rts, np.ones(len(ri), np.int64)
        )
    )
    pi = np.flatnonzero(pk)
    parts.append(
        batch(
            pi,
            np.full(len(pi), -1),
            plan[pi],
            np.full(len(pi), "A", dtype=object),
            t[pi],
            np.full(len(pi), -1),
            np.ones(len(pi), np.int64),
        )
    )
    # expanded per-event rows for most mini-plan orders
    mp = pi[(kind[pi] == 4) & (rng.random(len(pi)) < 0.6)]
    if len(mp):
        sizes = np.array([len(cal.plan_events[p]) for p in plan[mp]])
        rep_idx = np.repeat(mp, sizes)
        evs = np.concatenate([cal.plan_events[p] for p in plan[mp]])
        seq = np.concatenate([np.arange(2, s + 2) for s in sizes])
        parts.append(
            batch(
                rep_idx,
                evs,
                plan[rep_idx],
                np.full(len(rep_idx), "A", dtype=object),
                t[rep_idx],
                np.full(len(rep_idx), -1),
                seq,
            )
        )
    return TicketBatch.concat(parts)


def _empty_batch() -> TicketBatch:
    z = np.zeros(0, np.int64)
    return TicketBatch(
        z, z, z, z, z, z, z, np.zeros(0, object), z, z, z, z, z, z, z, z, z, np.zeros(0, bool), z, z, np.zeros(0, bool)
    )


def ticket_columns(b: TicketBatch, cal: Calendar, users: np.ndarray) -> dict[str, pa.Array]:
    """Text columns of the ticket dataset for a batch."""
    n = len(b)
    is_plan_row = b.event_pos < 0
    ev_id = np.where(is_plan_row, cal.plan_id[np.maximum(b.plan_pos, 0)], cal.event_id[np.maximum(b.event_pos, 0)])
    ev_name = np.where(
        is_plan_row, cal.plan_name[np.maximum(b.plan_pos, 0)], cal.event_name[np.maximum(b.event_pos, 0)]
    )
    has_plan = b.plan_pos >= 0
    plan_id = np.where(has_plan, cal.plan_id[np.maximum(b.plan_pos, 0)], -1)
    plan_name = np.where(has_plan, cal.plan_name[np.maximum(b.plan_pos, 0)], None)
    full = b.unit_cents * b.num_seats
    # a plan-level row carries the whole plan price; expanded rows carry the per-game share
    n_games = np.array([len(e) for e in cal.plan_events])[np.maximum(b.plan_pos, 0)]
    per_game = np.where(has_plan & ~is_plan_row, 0.85, 1.0)
    block = np.where(is_plan_row, full * n_games * 0.85, full * per_game).astype(np.int64)
    paid = np.where(b.comp, 0, block)
    disc = np.where(has_plan, (full * n_games * 0.15).astype(np.int64), 0)
    row_letters = np.array([chr(64 + i) for i in range(1, 27)], dtype=object)
    returned = b.status == "R"
    user_pick = users[(b.order_num % len(users))]
    return {
        "acct_id": int_text(b.acct_id),
        "event_id": int_text(ev_id),
        "event_name": pa.array(ev_name),
        "plan_event_id": int_text(plan_id, null_below=0),
        "plan_event_name": pa.array(plan_name),
        "section_id": int_text(b.section),
        "section_name": pc.binary_join_element_wise("Sec ", int_text(b.section), ""),
        "row_id": int_text(b.section * 100 + b.row),
        "row_name": pa.array(row_letters[b.row - 1]),
        "seat_num": int_text(b.seat),
        "last_seat": int_text(b.seat + b.num_seats - 1),
        "num_seats": int_text(b.num_seats),
        "ticket_status": pa.array(b.status),
        "tran_type": pa.array(np.where(returned, "RT", "SA")),
        "order_num": int_text(b.order_num),
        "order_line_item": pa.array(np.full(n, "1")),
        "order_line_item_seq": int_text(b.line_seq),
        "price_code": pa.array(PRICE_CODES[b.price_idx]),
        "price_code_desc": pa.array(PRICE_DESC[b.price_idx]),
        "ticket_type": pa.array(np.where(b.comp, "Comp", np.where(has_plan, "Plan", "Single"))),
        "class_name": pa.array(CLASS_NAMES[b.class_idx]),
        "full_price": money_text(full),
        "purchase_price": money_text(paid // np.maximum(b.num_seats, 1)),
        "block_purchase_price": money_text(block),
        "paid_amount": money_text(np.where(returned, 0, paid)),
        "owed_amount": money_text(np.zeros(n, np.int64)),
        "disc_code": pa.array(np.where(has_plan, "PLAN15", None)),
        "disc_amount": money_text(disc),
        "surchg_amount": money_text(b.num_seats * 350),
        "comp_code": pa.array(np.where(b.comp, "CMP", None)),
        "comp_name": pa.array(np.where(b.comp, "Complimentary", None)),
        "promo_code": pa.array(np.where(b.order_num % 17 == 0, "FANS10", None)),
        "sell_location": pa.array(SELL_LOC[b.sell_loc]),
        "sales_source_name": pa.array(np.where(b.sell_loc == 0, "Ticketmaster", "Archtics")),
        "acct_rep_id": int_text(b.rep_id, null_below=0),
        "renewal_ind": pa.array(np.where(b.renewal, "Y", "N")),
        "return_reason": pa.array(np.where(returned, RETURN_REASONS[b.order_num % 4], None)),
        "return_datetime": ts_text(b.return_ts),
        "delivery_method": pa.array(DELIVERY[b.delivery]),
        "add_datetime": ts_text(b.add_ts),
        "add_user": pa.array(user_pick),
        "upd_datetime": ts_text(b.upd_ts),
        "upd_user": pa.array(user_pick),
    }
