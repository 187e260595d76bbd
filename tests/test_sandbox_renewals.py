"""The sample data has what the reporting marts measure: season-ticket holders over several seasons who
renew, upgrade, downgrade and lapse at the rates clubs report, plus comps and returns.

Checked on the export files themselves (DuckDB reading the CSV parts), independently of the dbt marts.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sandbox.generator import generate

ACCOUNTS = 1_500


@pytest.fixture(scope="module")
def con(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    root: Path = tmp_path_factory.mktemp("renewals")
    generate(ACCOUNTS, root / "export", seed=7, sandbox_dir=root / "sandbox", show_progress=False)
    c = duckdb.connect()
    for d in ("ticket", "evnt"):
        c.execute(f"create view {d} as select * from read_csv('{root}/export/{d}/*.csv.gz', all_varchar = true)")
    # plan holdings per account, season and plan type (plan-level rows; seats summed)
    c.execute(
        """create table holdings as
        select t.acct_id, cast(e.season_id as int) as season, e.plan_type, sum(cast(t.num_seats as int)) as seats,
               max(t.price_code) as price_code
        from ticket t join evnt e on t.event_id = e.event_id
        where t.event_id = t.plan_event_id and t.ticket_status = 'A'
        group by all"""
    )
    c.execute(
        """create table transitions as
        select a.season, a.seats, b.seats as next_seats, a.price_code, b.price_code as next_price_code
        from holdings a
        left join holdings b
            on a.acct_id = b.acct_id and a.plan_type = b.plan_type and b.season = a.season + 1
        where a.season < (select max(season) from holdings)"""
    )
    return c


def test_several_seasons_of_holders(con):
    seasons = con.execute("select count(distinct season) from holdings where season >= 0").fetchone()[0]
    assert seasons >= 2


def test_renewal_rate_is_realistic(con):
    """Most holders renew (clubs report roughly 70-90%), some lapse."""
    held, renewed = con.execute("select count(*), count(next_seats) from transitions").fetchone()
    assert held > 200
    assert 0.6 <= renewed / held <= 0.92


def test_upgrades_and_downgrades(con):
    """Among renewals, a minority buy more seats or fewer: neither is zero, neither dominates."""
    renewed, up, down = con.execute(
        "select count(next_seats), count(*) filter (where next_seats > seats), "
        "count(*) filter (where next_seats < seats) from transitions"
    ).fetchone()
    assert 0.02 <= up / renewed <= 0.25
    assert 0.01 <= down / renewed <= 0.25


def test_renewals_are_flagged_and_new_plans_exist(con):
    flags = dict(
        con.execute(
            "select renewal_ind, count(*) from ticket where event_id = plan_event_id group by renewal_ind"
        ).fetchall()
    )
    assert flags.get("Y", 0) > 0 and flags.get("N", 0) > 0


def test_comps_and_returns(con):
    total, comps, returns = con.execute(
        "select count(*), count(*) filter (where comp_code is not null), "
        "count(*) filter (where ticket_status = 'R') from ticket"
    ).fetchone()
    assert 0.005 <= comps / total <= 0.15
    assert 0.005 <= returns / total <= 0.10
