"""The production flow (orchestration/flow.py): one stage order for `kore run` and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.flow import FLOW, STAGE_NAMES, select_stages

runner = CliRunner()


def test_the_checks_run_before_anything_reaches_the_crm() -> None:
    order = list(STAGE_NAMES)
    assert order.index("data-quality checks") < order.index("CRM push") < order.index("CRM reconciliation")
    assert order.index("dbt build") < order.index("dedup") < order.index("dbt build (post-dedup)")
    assert order.index("CRM pull") < order.index("dedup"), "dedup matches against the CRM's own contacts"
    assert order[0] == "land export" and len(set(order)) == len(order) == len(FLOW)


def test_select_stages_keeps_flow_order_and_refuses_unknown_names() -> None:
    picked = select_stages(only=["dedup", "dbt build"])
    assert [s.name for s in picked] == ["dbt build", "dedup"]
    assert "CRM push" not in [s.name for s in select_stages(skip=["CRM push"])]
    with pytest.raises(ValueError, match="unknown stage"):
        select_stages(only=["dedupe"])


def test_kore_run_refuses_an_unknown_stage_with_usage_exit(workdir: Path) -> None:
    res = runner.invoke(app, ["run", "--stages", "land exprt", "--workdir", str(workdir)])
    assert res.exit_code == 2, res.output
    assert "unknown stage" in res.output


def test_kore_run_skips_stages_whose_system_is_not_configured(workdir: Path) -> None:
    """No export, no Archtics API, no KORE apps, no CRM: the landing stages skip and say why."""
    stages = "land export,catch-up deltas,land KORE apps,CRM pull"
    res = runner.invoke(app, ["run", "--stages", stages, "--workdir", str(workdir)])
    assert res.exit_code == 0, res.output
    results = {r["stage"]: r["outcome"] for r in json.loads((workdir / "logs" / "last_run.json").read_text())}
    assert list(results) == stages.split(",")
    assert all(outcome.startswith("skipped") for outcome in results.values()), results


def test_a_stage_s_head_start_begins_lead_stages_before_it_and_never_after_a_failure(workdir: Path) -> None:
    """The dbt build's parse starts with the catch-up (``Stage.ahead``, ``lead`` 3); a failed run
    starts nothing more."""
    from rich.console import Console

    from kore.config import Settings
    from orchestration.flow import FlowContext, FlowRun, Stage, run_flow, with_head_starts

    events: list[str] = []

    def stage(name: str, fail: bool = False, lead: int = 0) -> Stage:
        def run(ctx: FlowContext) -> dict:
            events.append(f"run {name}")
            if fail:
                raise RuntimeError("boom")
            return {}

        ahead = (lambda ctx: events.append(f"ahead {name}")) if lead else None
        return Stage(name, "-", run, ahead=ahead, lead=lead or 1)

    settings = Settings(workdir=workdir)
    ctx = FlowContext(settings=settings, endpoints=None, console=Console(quiet=True))  # type: ignore[arg-type]
    build = FLOW[STAGE_NAMES.index("dbt build")]
    assert build.ahead is not None and STAGE_NAMES[STAGE_NAMES.index("dbt build") - build.lead] == "catch-up deltas"
    # the checks of tables final after the pre-dedup build run while the dedup step runs; never
    # with a chosen stage that writes what they read (the pre-dedup build): then they wait their turn
    checks = FLOW[STAGE_NAMES.index("data-quality checks")]

    def started_with(names: list[str]) -> str | None:
        chosen = [FLOW[STAGE_NAMES.index(n)] for n in names]
        return next((s.name for s, later in with_head_starts(chosen) if checks in later), None)

    assert started_with(list(STAGE_NAMES)) == "dedup"
    assert started_with(["dbt build", "data-quality checks"]) is None
    assert started_with(["dbt build", "dbt build (post-dedup)", "data-quality checks"]) == "dbt build (post-dedup)"
    assert started_with(["dbt build (post-dedup)", "data-quality checks"]) == "dbt build (post-dedup)"

    run_flow(FlowRun(settings, ctx.console), ctx, [stage("land"), stage("pull"), stage("apps"), stage("build", lead=2)])
    assert events == ["run land", "ahead build", "run pull", "run apps", "run build"]
    events.clear()  # fewer stages chosen than the lead: the head start comes with the first of them
    run_flow(FlowRun(settings, ctx.console), ctx, [stage("pull"), stage("build", lead=3), stage("dedup")])
    assert events == ["ahead build", "run pull", "run build", "run dedup"]
    events.clear()
    run_flow(FlowRun(settings, ctx.console), ctx, [stage("land", fail=True), stage("pull"), stage("build", lead=1)])
    assert events == ["run land"]


def test_a_dbt_build_waits_for_the_checks_running_ahead(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt builds in a process of its own, which must find the DuckDB file free: the post-dedup build
    starts only once the checks running ahead on this process's connection are done, and says how
    long it waited; their error (if any) stays for the checks stage to report."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console

    import dbt_build.scope
    from kore.config import Settings
    from orchestration.flow import FlowContext

    release = threading.Event()
    seen: list[bool] = []

    class Built:
        def summary(self) -> dict:
            return {"nodes": 1}

    def build_phase(settings: Settings, phase: str, echo=None) -> Built:
        seen.append(ctx.checks_ahead is not None and ctx.checks_ahead.done())
        return Built()

    def checks() -> None:
        release.wait(5)
        raise RuntimeError("a check run ahead failed")

    monkeypatch.setattr(dbt_build.scope, "build_phase", build_phase)
    ctx = FlowContext(settings=Settings(workdir=workdir), endpoints=None, console=Console(quiet=True))  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as pool:
        ctx.checks_ahead = pool.submit(checks)
        threading.Timer(0.3, release.set).start()
        out = FLOW[STAGE_NAMES.index("dbt build (post-dedup)")].run(ctx)
    assert seen == [True]
    assert out["waited_for_checks_ahead_seconds"] >= 0.2
    assert isinstance(ctx.checks_ahead.exception(), RuntimeError)


def test_what_the_checks_may_read_ahead_of_dedup_comes_from_dbt_s_manifest(workdir: Path) -> None:
    """Final once the pre-dedup build is done: anything but the dedup step's tables, the run's own
    records and the models the post-dedup build writes (tag ``needs_dedup`` in dbt's manifest, by
    their own schema); without a manifest nothing is known, so nothing runs ahead."""
    from kore.config import Settings
    from orchestration.flow import _final_after_pre_dedup_build

    settings = Settings(workdir=workdir)
    assert _final_after_pre_dedup_build(settings) is None

    def node(name: str, schema: str, tags: list[str], kind: str = "model") -> dict:
        return {"resource_type": kind, "name": name, "alias": name, "schema": f"dev_{schema}",
                "config": {"schema": schema}, "tags": tags}  # fmt: skip

    nodes = [
        node("dim_contact", "marts", ["needs_dedup"]),
        node("SyncedTicketPurchases", "kore", ["needs_dedup"]),
        node("fct_ticket_purchases", "marts", []),
        node("dim_contact_test", "marts", ["needs_dedup"], kind="test"),
    ]
    settings.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    (settings.dbt_target_dir / "manifest.json").write_text(json.dumps({"nodes": {n["name"]: n for n in nodes}}))
    final = _final_after_pre_dedup_build(settings)
    assert final is not None
    assert final("marts.fct_ticket_purchases") and final("raw_archtics.ticket") and final("raw_crm.dynamics_contact")
    assert final("raw_archtics.*") and final("marts.dim_contact_test")
    for later in (
        "marts.dim_contact",
        "kore.syncedticketpurchases",
        "kore_dedup.clusters",
        "ops.crm_sync_state",
        "crm",
    ):
        assert not final(later), later
