"""Seasons, events and plans of the sample Archtics data (the evnt, events_in_plan and season datasets).

Six seasons end with the one in progress at the cutoff; each has 41 home games and four plans (full
season, two half seasons, a ten-game mini plan). Plans are evnt rows too (``plan`` 'Y'), as in
Archtics, and ticket rows refer to events and plans by position (:mod:`sandbox.ticketing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.text_values import epoch, int_text, ts_text

DAY = 86_400
TEAM = "Kore City Kings"
ARENA = "Kore Arena"
OPPONENTS = ["Harbor City Hawks", "Riverside Rapids", "Northfield Wolves", "Lakeshore Lions", "Capital Comets",
             "Summit Stars", "Bayview Bears", "Granite Giants", "Prairie Pumas", "Desert Dusters",
             "Coastal Cougars", "Metro Mavericks", "Valley Vipers", "Iron Range Rams", "Pinecrest Pilots"]  # fmt: skip
PLAN_TYPES = [("FS", "FULL", "Full Season"), ("HA", "HALFA", "Half Season A"), ("HB", "HALFB", "Half Season B"),
              ("MP", "MINI10", "Mini Plan 10")]  # fmt: skip


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
    ev = _games(rng, years)
    pl = _plans(rng, years, ev.season)
    season_name = np.array([f"{y}-{str(y + 1)[2:]} {TEAM}" for y in years], dtype=object)
    evnt, upd = _evnt_columns(rng, cutoff, s_ids, onsale, season_name, ev, pl)
    return Calendar(
        s_ids, onsale, end, years, ev.ids, ev.season, ev.ts, np.array(ev.names, dtype=object), pl.ids,
        pl.season, np.array(pl.kind), np.array(pl.names, dtype=object), pl.events, evnt,
        _events_in_plan_columns(s_ids, ev, pl), _season_columns(cutoff, years, s_ids, onsale, season_name), upd,
    )  # fmt: skip


@dataclass
class _Games:
    """The single events (home games) of every season, in order."""

    ids: np.ndarray
    season: np.ndarray  # season position
    ts: np.ndarray
    names: list[str]
    long_names: list[str]


@dataclass
class _Plans:
    """The four plans of every season and the event positions each holds."""

    ids: np.ndarray
    season: np.ndarray  # season position
    kind: list[int]  # index into PLAN_TYPES
    names: list[str]
    events: list[np.ndarray]


def _games(rng: np.random.Generator, years: np.ndarray) -> _Games:
    """41 home games per season from October 8th, on random days within 180 days."""
    e_ids, e_season, e_ts, e_names, e_long = [], [], [], [], []
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
    return _Games(np.array(e_ids), np.array(e_season), np.array(e_ts), e_names, e_long)


def _plans(rng: np.random.Generator, years: np.ndarray, e_season_a: np.ndarray) -> _Plans:
    """Per season: full season, the odd and the even games, and ten random games (the mini plan)."""
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
    return _Plans(np.array(p_ids), np.array(p_season), p_kind, p_names, p_events)


def _evnt_columns(
    rng: np.random.Generator,
    cutoff: int,
    s_ids: np.ndarray,
    onsale: np.ndarray,
    season_name: np.ndarray,
    ev: _Games,
    pl: _Plans,
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """evnt rows: events then plans; returns the columns and each row's change time."""
    e_ids_a, e_season_a, e_ts_a, e_names, e_long = ev.ids, ev.season, ev.ts, ev.names, ev.long_names
    p_ids_a, p_season_a, p_kind, p_names, p_events = pl.ids, pl.season, pl.kind, pl.names, pl.events
    n_e, n_p = len(e_ids_a), len(p_ids_a)
    ev_add = onsale[e_season_a] - 30 * DAY
    pl_add = onsale[p_season_a] - 45 * DAY
    add = np.concatenate([ev_add, pl_add])
    upd = add + rng.integers(0, 25 * DAY, n_e + n_p)
    upd = np.minimum(upd, cutoff - 1)
    plan_first = np.array([e_ts_a[m].min() for m in p_events])
    ev_date = np.concatenate([e_ts_a, plan_first])
    all_season = np.concatenate([e_season_a, p_season_a])
    weekday = pc.strftime(pa.array(ev_date).cast(pa.timestamp("s")), format="%A")
    evnt = {
        "event_id": int_text(np.concatenate([e_ids_a, p_ids_a])),
        "event_name": pa.array(e_names + p_names),
        "event_name_long": pa.array(
            e_long + [f"{season_name[s]} {PLAN_TYPES[k][2]}" for s, k in zip(p_season_a, p_kind, strict=True)]
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
    return evnt, upd


def _events_in_plan_columns(s_ids: np.ndarray, ev: _Games, pl: _Plans) -> dict[str, pa.Array]:
    """events_in_plan rows: every event of every plan, with its game number in the plan."""
    e_ids_a, e_ts_a, e_names = ev.ids, ev.ts, ev.names
    p_ids_a, p_season_a, p_kind, p_names, p_events = pl.ids, pl.season, pl.kind, pl.names, pl.events
    eip_rows = []
    for pi, m in enumerate(p_events):
        for g, e in enumerate(m):
            eip_rows.append((pi, e, g + 1))
    pi_a = np.array([r[0] for r in eip_rows])
    ei_a = np.array([r[1] for r in eip_rows])
    return {
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


def _season_columns(
    cutoff: int, years: np.ndarray, s_ids: np.ndarray, onsale: np.ndarray, season_name: np.ndarray
) -> dict[str, pa.Array]:
    """season rows."""
    s_add = onsale - 60 * DAY
    return {
        "season_id": int_text(s_ids),
        "name": pa.array(season_name),
        "season_year": int_text(years),
        "arena_id": pa.array(["1"] * len(years)),
        "manifest_id": int_text(500 + np.arange(len(years))),
        "org_id": pa.array(["1"] * len(years)),
        "add_datetime": ts_text(s_add),
        "upd_datetime": ts_text(np.minimum(s_add + 10 * DAY, cutoff - 1)),
    }
