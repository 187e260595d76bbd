"""The analysts' page of the run report: season-ticket holders, retention and revenue, as plots.

Why here: the run report is the page people already open after a run, and the reporting marts
(``marts.fct_season_ticket_holders``, ``marts.fct_renewals``, ``marts.fct_event_sales``) answer the
weekly questions of a club's ticketing analysts. Each panel reads one mart with SQL both warehouses
accept (no LIMIT / TOP; sorting and cutting happen in pandas) and shows aggregates only, never a
person. A missing mart gives a "no data" panel, as every panel of the report does.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import pandas as pd

from orchestration.report import Panel, _Data, _figure, _no_data, _png

STATUS_COLOURS = {"new": "#1565c0", "renewed": "#2e7d32", "upgraded": "#66bb6a", "downgraded": "#f9a825"}
LAPSED_COLOUR = "#c62828"
TOP_EVENTS = 25


def _holders_by_season(d: _Data) -> Panel:
    """Holders per season by status (new, renewed, upgraded, downgraded) above the axis, lapsed below."""
    key, title = "analysts_holders", "Analysts: season-ticket holders by season"
    if not d.exists("marts", "fct_season_ticket_holders"):
        return Panel(key, title, _no_data(), False)
    df = d.df(
        "select s.season_name, h.season_id, h.holder_status, count(distinct h.person_key) as holders "
        "from marts.fct_season_ticket_holders h left join marts.dim_season s on h.season_id = s.season_id "
        "group by s.season_name, h.season_id, h.holder_status"
    )
    if df is None or df.empty:
        return Panel(key, title, _no_data(), False)
    df["season"] = df["season_name"].fillna(df["season_id"].astype(str)).astype(str)
    wide = df.pivot_table(index=["season_id", "season"], columns="holder_status", values="holders", aggfunc="sum")
    wide = wide.fillna(0).sort_index().reset_index()
    fig, ax = _figure(8.0, 3.8)
    bottom = pd.Series(0.0, index=wide.index)
    for status, colour in STATUS_COLOURS.items():
        if status in wide:
            ax.bar(wide["season"], wide[status], bottom=bottom, color=colour, label=status)
            bottom += wide[status]
    if "lapsed" in wide:
        ax.bar(wide["season"], -wide["lapsed"], color=LAPSED_COLOUR, label="lapsed")
    ax.axhline(0, color="#555", linewidth=0.8)
    ax.set_ylabel("holders (people)")
    ax.legend(fontsize=8, ncols=5, loc="upper left")
    ax.tick_params(axis="x", labelsize=8, rotation=15)
    note = "<p class='note'>People (dedup contacts) holding a plan, per plan type and status against the season before.</p>"
    return Panel(key, title, note + _png(fig), True)


def _retention_by_season(d: _Data) -> Panel:
    """Holder retention rate per season and plan type (fct_renewals), one line per plan type."""
    key, title = "analysts_retention", "Analysts: holder retention by season and plan type"
    if not d.exists("marts", "fct_renewals"):
        return Panel(key, title, _no_data(), False)
    df = d.df(
        "select season_id, plan_type, sum(cohort_holders) as cohort, sum(retained_holders) as retained "
        "from marts.fct_renewals group by season_id, plan_type"
    )
    if df is None or df.empty or float(df["cohort"].sum()) == 0:
        return Panel(key, title, _no_data("no season has holders from the season before"), False)
    df = df[df["cohort"] > 0].copy()
    df["rate"] = df["retained"].astype(float) / df["cohort"].astype(float)
    fig, ax = _figure(8.0, 3.6)
    for plan_type, part in df.sort_values("season_id").groupby("plan_type"):
        ax.plot(part["season_id"].astype(str), part["rate"], marker="o", label=str(plan_type))
    total = df.groupby("season_id")[["retained", "cohort"]].sum().sort_index()
    ax.plot(total.index.astype(str), total["retained"] / total["cohort"], color="#000", linewidth=2.2, label="all")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("holders retained")
    ax.set_xlabel("season renewed into")
    ax.legend(fontsize=8, ncols=5)
    return Panel(key, title, _png(fig), True)


def _revenue_by_event(d: _Data) -> Panel:
    """Gross and paid revenue of the newest season's single events (the top ones), from fct_event_sales."""
    key, title = "analysts_event_revenue", "Analysts: revenue by event (newest season with sales)"
    if not d.exists("marts", "fct_event_sales"):
        return Panel(key, title, _no_data(), False)
    df = d.df(
        "select season_id, event_id, event_name, event_date, is_plan, sum(gross_revenue) as gross, "
        "sum(paid_revenue) as paid, sum(seats_sold) as seats, sum(seats_held) as held "
        "from marts.fct_event_sales group by season_id, event_id, event_name, event_date, is_plan"
    )
    if df is None or df.empty or df["season_id"].isna().all():
        return Panel(key, title, _no_data(), False)
    latest = df.loc[df["gross"] > 0, "season_id"].max()
    games = df[(df["season_id"] == latest) & (df["is_plan"] == 0)].sort_values("gross", ascending=False)
    plans = df[(df["season_id"] == latest) & (df["is_plan"] == 1)]
    top = games.head(TOP_EVENTS).sort_values("event_date")
    fig, ax = _figure(8.0, 3.8)
    labels = top["event_name"].fillna(top["event_id"].astype(str)).astype(str)
    ax.bar(labels, top["gross"].astype(float), color="#1565c0", label="gross")
    ax.bar(labels, top["paid"].astype(float), color="#90caf9", width=0.5, label="paid")
    ax.set_ylabel("revenue")
    ax.tick_params(axis="x", labelsize=7, rotation=70)
    ax.legend(fontsize=8)
    summary = (
        f"<p class='note'>Season {html.escape(str(latest))}: {len(games)} events, single-event and expanded plan "
        f"revenue {games['gross'].astype(float).sum():,.0f} (paid {games['paid'].astype(float).sum():,.0f}); "
        f"plans {plans['gross'].astype(float).sum():,.0f}. The {min(TOP_EVENTS, len(games))} events with the "
        f"most revenue, by date.</p>"
    )
    return Panel(key, title, summary + _png(fig), True)


ANALYST_PANELS: list[tuple[str, Callable[[_Data], Panel]]] = [
    ("analysts_holders", _holders_by_season),
    ("analysts_retention", _retention_by_season),
    ("analysts_event_revenue", _revenue_by_event),
]
