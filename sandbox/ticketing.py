"""Ticket rows of the sample Archtics data: orders of single events and plans, returns, seats.

Tickets are the bulk of an export (about ten rows per account), so they are generated per chunk of
accounts with numpy and turned into Arrow string columns without Python loops. Seats never collide:
every seat "space" (single-event sales, and each plan) gets its own interleaved sections, and blocks
are handed out in order within a space, so the ticket business key (event, section, row, seat,
status, return time) is unique by construction. Seasons, events and plans are
:mod:`sandbox.season_calendar`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.season_calendar import Calendar
from sandbox.text_values import int_text, money_text, ts_text

PRICE_CODES = np.array(["A", "B", "C", "D", "E"], dtype=object)
PRICE_DESC = np.array(["Adult", "Senior", "Youth", "Military", "Group"], dtype=object)
PRICE_CENTS = np.array([8_500, 6_500, 4_500, 6_000, 5_500])
CLASS_NAMES = np.array(["Lower Bowl", "Upper Bowl", "Club", "Courtside"], dtype=object)
CLASS_MULTIPLIER = np.array([1.0, 0.6, 2.0, 5.0])  # price per seat of each class, times the price code's
SELL_LOC = np.array(["Internet", "Box Office", "Phone", "Mobile App"], dtype=object)
DELIVERY = np.array(["Mobile", "Print at Home", "Will Call", "Mail"], dtype=object)
RETURN_REASONS = np.array(["Customer request", "Duplicate order", "Event conflict", "Exchange"], dtype=object)
SEATS_PER_ROW_BLOCKS = 4  # four blocks of 8 seats per row
ROWS_PER_SECTION = 26


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
    The steps draw from ``rng`` in a fixed order, so the rows for a seed never change.
    """
    n_orders = rng.poisson(lam, len(acct_id))
    oa = np.repeat(np.arange(len(acct_id)), n_orders)
    n = len(oa)
    if n == 0:
        return TicketBatch.concat([_empty_batch()])
    kind, season, t = _order_times(rng, cal, acct_add[oa], t_lo, t_hi)
    single = kind == 0
    ev = _single_events(rng, cal, single, season, t)
    plan = np.full(n, -1)
    pk = ~single
    plan[pk] = season[pk] * 4 + (kind[pk] - 1)
    orders = _order_details(rng, seats, acct_id[oa], acct_rep_id[oa], acct_is_comp[oa], single, ev, plan, order_start)
    return TicketBatch.concat(_ticket_rows(rng, cal, orders, kind, ev, plan, t, t_hi, return_rate))


def _order_times(
    rng: np.random.Generator, cal: Calendar, add: np.ndarray, t_lo: int, t_hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each order's kind (0 single, 1..4 plan kinds FS,HA,HB,MP), season (recent ones likelier) and time.

    The time is after the account's creation and the season's on-sale date, within [t_lo, t_hi)."""
    n = len(add)
    kind = rng.choice(5, n, p=[0.84, 0.025, 0.025, 0.025, 0.085])
    n_seasons = len(cal.season_id)
    w = np.arange(1, n_seasons + 1, dtype=float) ** 1.5
    season = rng.choice(n_seasons, n, p=w / w.sum())
    lo = np.maximum(np.maximum(add, cal.season_onsale[season]), t_lo)
    hi = np.minimum(cal.season_end[season], t_hi)
    bad = lo >= hi
    valid_seasons = np.flatnonzero(cal.season_onsale < t_hi)
    season[bad] = valid_seasons[-1]
    lo = np.maximum(np.maximum(add, cal.season_onsale[season]), t_lo)
    hi = np.maximum(np.minimum(cal.season_end[season], t_hi), lo + 1)
    t = lo + ((hi - lo) * rng.random(n)).astype(np.int64)
    return kind, season, t


def _single_events(
    rng: np.random.Generator, cal: Calendar, single: np.ndarray, season: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Single events: an event of the season not yet played at purchase time (-1 for plan orders)."""
    ev = np.full(len(single), -1)
    for s in range(len(cal.season_id)):
        m = single & (season == s)
        if not m.any():
            continue
        evs = np.flatnonzero(cal.event_season == s)
        first_ok = np.searchsorted(cal.event_ts[evs], t[m])
        first_ok = np.minimum(first_ok, len(evs) - 1)
        pick = first_ok + (rng.random(m.sum()) * (len(evs) - first_ok)).astype(np.int64)
        ev[m] = evs[np.minimum(pick, len(evs) - 1)]
    return ev


@dataclass
class _Orders:
    """Per order: who bought, where they sit and what they paid (arrays of equal length)."""

    acct_id: np.ndarray
    section: np.ndarray
    row: np.ndarray
    seat: np.ndarray
    num_seats: np.ndarray
    order_num: np.ndarray
    price_idx: np.ndarray
    class_idx: np.ndarray
    unit: np.ndarray
    comp: np.ndarray
    sell: np.ndarray
    deliv: np.ndarray
    renewal: np.ndarray
    rep: np.ndarray

    def rows(self, idx, event_pos, plan_pos, status, add_ts, ret_ts, seq) -> TicketBatch:
        """Ticket rows of the orders ``idx``."""
        return TicketBatch(
            acct_id=self.acct_id[idx], event_pos=event_pos, plan_pos=plan_pos, section=self.section[idx],
            row=self.row[idx], seat=self.seat[idx], num_seats=self.num_seats[idx], status=status,
            order_num=self.order_num[idx], line_seq=seq, price_idx=self.price_idx[idx],
            class_idx=self.class_idx[idx], unit_cents=self.unit[idx], add_ts=add_ts,
            upd_ts=np.maximum(add_ts, ret_ts), return_ts=ret_ts, rep_id=self.rep[idx], comp=self.comp[idx],
            sell_loc=self.sell[idx], delivery=self.deliv[idx], renewal=self.renewal[idx],
        )  # fmt: skip


def _order_details(
    rng: np.random.Generator,
    seats: SeatAllocator,
    acct_id: np.ndarray,
    rep: np.ndarray,
    acct_is_comp: np.ndarray,
    single: np.ndarray,
    ev: np.ndarray,
    plan: np.ndarray,
    order_start: int,
) -> _Orders:
    """Seats (allocated per event or plan), price code and class, comp, sales channel, renewal."""
    n = len(single)
    num_seats = np.minimum(rng.geometric(0.45, n) + 1, 8)
    price_idx = rng.choice(5, n, p=[0.6, 0.12, 0.15, 0.05, 0.08])
    class_idx = rng.choice(4, n, p=[0.5, 0.35, 0.12, 0.03])
    unit = PRICE_CENTS[price_idx] * CLASS_MULTIPLIER[class_idx]
    unit = unit.astype(np.int64)
    space = np.where(single, 0, plan + 1)
    key = np.where(single, ev, 0)
    section, row, seat = seats.allocate(space, key)
    order_num = order_start + np.arange(n)
    comp = acct_is_comp | (rng.random(n) < 0.02)
    sell = rng.integers(0, len(SELL_LOC), n)
    deliv = rng.integers(0, len(DELIVERY), n)
    renewal = (~single) & (rng.random(n) < 0.6)
    return _Orders(
        acct_id, section, row, seat, num_seats, order_num, price_idx, class_idx, unit, comp, sell, deliv, renewal, rep
    )


def _ticket_rows(
    rng: np.random.Generator,
    cal: Calendar,
    o: _Orders,
    kind: np.ndarray,
    ev: np.ndarray,
    plan: np.ndarray,
    t: np.ndarray,
    t_hi: int,
    return_rate: float,
) -> list[TicketBatch]:
    """Single-event rows, their returns, plan-level rows, and the per-event rows of most mini plans."""
    parts = []
    si = np.flatnonzero(kind == 0)
    parts.append(
        o.rows(
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
        o.rows(
            ri, ev[ri], np.full(len(ri), -1), np.full(len(ri), "R", dtype=object), rts, rts, np.ones(len(ri), np.int64)
        )
    )
    pi = np.flatnonzero(kind != 0)
    parts.append(
        o.rows(
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
            o.rows(
                rep_idx,
                evs,
                plan[rep_idx],
                np.full(len(rep_idx), "A", dtype=object),
                t[rep_idx],
                np.full(len(rep_idx), -1),
                seq,
            )
        )
    return parts


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
