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
    from orchestration.flow import FlowContext, FlowRun, Stage, run_flow

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
    # Great Expectations is imported while the post-dedup build runs in dbt's process, not in the checks
    checks = FLOW[STAGE_NAMES.index("data-quality checks")]
    assert (
        checks.ahead is not None
        and STAGE_NAMES[STAGE_NAMES.index(checks.name) - checks.lead] == "dbt build (post-dedup)"
    )

    run_flow(FlowRun(settings, ctx.console), ctx, [stage("land"), stage("pull"), stage("apps"), stage("build", lead=2)])
    assert events == ["run land", "ahead build", "run pull", "run apps", "run build"]
    events.clear()  # fewer stages chosen than the lead: the head start comes with the first of them
    run_flow(FlowRun(settings, ctx.console), ctx, [stage("pull"), stage("build", lead=3), stage("dedup")])
    assert events == ["ahead build", "run pull", "run build", "run dedup"]
    events.clear()
    run_flow(FlowRun(settings, ctx.console), ctx, [stage("land", fail=True), stage("pull"), stage("build", lead=1)])
    assert events == ["run land"]
