"""Season-ticket renewals of the sample Archtics data: who keeps their plan next season, and how.

A season-ticket business is judged by its renewals, so the sample data must have holders who renew,
upgrade, downgrade and lapse from one season to the next at the rates clubs report (most full-season
holders renew; fewer half-season and mini-plan holders do). :func:`renew_plans` takes the plan orders
:mod:`sandbox.ticketing` generated and, season after season, gives each holder a renewal order of the
same kind of plan in the next season (a plan-level row, ``renewal_ind`` 'Y') or none (a lapse). A
renewal keeps the seats count and price code, or buys more seats or a dearer price code (an upgrade),
or fewer seats or a cheaper price code (a downgrade). Renewed seats are allocated like any plan's
(:class:`sandbox.ticketing.SeatAllocator`), so the ticket business key stays unique.
"""

from __future__ import annotations

import numpy as np

from sandbox.season_calendar import DAY, PLAN_TYPES, Calendar
from sandbox.ticketing import CLASS_MULTIPLIER, PRICE_CENTS, SeatAllocator, TicketBatch

# chance that a holder of each plan kind (PLAN_TYPES order: FS, HA, HB, MP) renews next season
RENEWAL_RATE = np.array([0.86, 0.76, 0.76, 0.55])
UPGRADE_RATE = 0.08  # of renewals: more seats or a dearer price code
DOWNGRADE_RATE = 0.06  # of renewals: fewer seats or a cheaper price code
# price codes from cheapest to dearest (indexes into ticketing.PRICE_CODES): an upgrade moves one up
PRICE_ORDER = np.argsort(PRICE_CENTS, kind="stable")
RENEWAL_WINDOW = 75 * DAY  # renewals are bought within this time of the season's on-sale date
MAX_SEATS = 8


def renew_plans(
    rng: np.random.Generator, cal: Calendar, seats: SeatAllocator, orders: TicketBatch, order_start: int, t_hi: int
) -> TicketBatch:
    """Renewal plan-level rows for the active plan-level rows of ``orders`` (and of their renewals).

    Seasons are walked in order, so a renewal can itself be renewed the season after. Only seasons
    on sale before ``t_hi`` get renewals; their rows are bought before ``t_hi``."""
    held = orders.take(np.flatnonzero((orders.event_pos < 0) & (orders.plan_pos >= 0) & (orders.status == "A")))
    parts: list[TicketBatch] = []
    next_order = order_start
    n_seasons = len(cal.season_id)
    for s in range(n_seasons - 1):
        if cal.season_onsale[s + 1] >= t_hi:
            break
        now = held.take(np.flatnonzero(cal.plan_season[held.plan_pos] == s))
        if len(now) == 0:
            continue
        renewed = _renewals(rng, cal, seats, now, next_order, t_hi)
        next_order += len(renewed)
        parts.append(renewed)
        held = TicketBatch.concat([held, renewed])
    if not parts:
        return held.take(np.zeros(0, np.int64))
    return TicketBatch.concat(parts)


def _renewals(
    rng: np.random.Generator, cal: Calendar, seats: SeatAllocator, now: TicketBatch, order_start: int, t_hi: int
) -> TicketBatch:
    """Next season's orders of the holders in ``now`` who renew (the others lapse)."""
    kind = cal.plan_kind[now.plan_pos]
    keep = np.flatnonzero(rng.random(len(now)) < RENEWAL_RATE[kind])
    r = now.take(keep)
    n = len(r)
    r.plan_pos = r.plan_pos + len(PLAN_TYPES)  # the same kind of plan, next season
    change = rng.random(n)
    up, down = change < UPGRADE_RATE, (change >= UPGRADE_RATE) & (change < UPGRADE_RATE + DOWNGRADE_RATE)
    by_seats = rng.random(n) < 0.6
    r.num_seats = np.clip(r.num_seats + np.where(up & by_seats, rng.integers(1, 3, n), 0), 1, MAX_SEATS)
    r.num_seats = np.where(down & by_seats & (r.num_seats > 1), r.num_seats - 1, r.num_seats)
    rank = np.argsort(PRICE_ORDER)[r.price_idx]  # 0 = cheapest
    rank = np.where(up & ~by_seats, np.minimum(rank + 1, len(PRICE_ORDER) - 1), rank)
    rank = np.where(down & (~by_seats | (r.num_seats == now.num_seats[keep])), np.maximum(rank - 1, 0), rank)
    r.price_idx = PRICE_ORDER[rank]
    r.unit_cents = (PRICE_CENTS[r.price_idx] * CLASS_MULTIPLIER[r.class_idx]).astype(np.int64)
    r.section, r.row, r.seat = seats.allocate(r.plan_pos + 1, np.zeros(n, np.int64))
    onsale = cal.season_onsale[cal.plan_season[r.plan_pos]]
    window = np.maximum(np.minimum(onsale + RENEWAL_WINDOW, t_hi) - onsale, 1)
    r.add_ts = onsale + (window * rng.random(n)).astype(np.int64)
    r.upd_ts = r.add_ts.copy()
    r.return_ts = np.full(n, -1)
    r.order_num = order_start + np.arange(n)
    r.line_seq = np.ones(n, np.int64)
    r.renewal = np.ones(n, bool)
    return r
