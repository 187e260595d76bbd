"""What makes `kore build` rebuild everything: the project's files, the environment it reads, and
nothing else (dbt_build/scope.py). The build itself is tested in test_dbt_incremental.py."""

from __future__ import annotations

from pathlib import Path

from dbt_build.scope import PHASES, BuildPlan, project_hash


def _project(root: Path) -> Path:
    (root / "models" / "staging").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: kore\n")
    (root / "models" / "staging" / "stg_a.sql").write_text("select 1 as a\n")
    (root / "target").mkdir()
    return root


def test_project_hash_follows_the_project_files_and_the_environment_it_reads(tmp_path: Path) -> None:
    root = _project(tmp_path)
    env = {"KORE_CRM_FLAVOR": "dynamics", "KORE_TARGET": "duckdb"}
    base = project_hash(root, env)
    assert project_hash(root, env) == base
    (root / "target" / "run_results.json").write_text("{}")  # dbt's outputs are not inputs
    assert project_hash(root, {**env, "KORE_MSSQL_PASSWORD": "x", "PATH": "/bin"}) == base
    assert project_hash(root, {**env, "KORE_CRM_FLAVOR": "salesforce"}) != base
    assert project_hash(root, {**env, "KORE_EXCLUDED_ACCOUNT_TYPES": "Comp"}) != base
    (root / "models" / "staging" / "stg_a.sql").write_text("select 2 as a\n")
    assert project_hash(root, env) != base


def test_changed_sources_select_their_descendants_within_the_phase() -> None:
    """A routine build selects source:<changed>+ intersected with the phase's own selection, leaves
    out the unit tests and the code_invariant checks, and keeps the phase's exclusions. A full build
    leaves out the code's tests too (CI runs them) unless a person asks for them."""
    post = BuildPlan(PHASES["post-dedup"], "changed", "", "h", {}, ["archtics.cust", "kore_dedup.golden_contacts"])
    assert post.dbt_args() == [
        "build", "--exclude-resource-type", "unit_test",
        "--select", "source:archtics.cust+,tag:needs_dedup", "source:kore_dedup.golden_contacts+,tag:needs_dedup",
        "--exclude", "tag:code_invariant",
    ]  # fmt: skip
    pre = BuildPlan(PHASES["pre-dedup"], "full", "", "h", {})
    assert pre.dbt_args() == [
        "build", "--exclude-resource-type", "unit_test", "--exclude", "tag:needs_dedup", "tag:code_invariant"
    ]  # fmt: skip
    asked = BuildPlan(PHASES["pre-dedup"], "full", "", "h", {}, code_tests=True)
    assert asked.dbt_args() == ["build", "--exclude", "tag:needs_dedup"]
    assert BuildPlan(PHASES["all"], "nothing", "", "h", {}).dbt_args() is None


def test_first_build_in_a_workdir_parses_the_project_and_records_every_source(tmp_path: Path) -> None:
    """Without a dbt manifest the project is parsed first: a full build that knows every source, as
    the rerun of a killed build (which finds the killed dbt's manifest) knows them."""
    from dbt_build.scope import plan_build
    from kore.config import Settings

    settings = Settings(workdir=tmp_path)
    settings.ensure_dirs()
    plan = plan_build(settings, PHASES["pre-dedup"], phash="h")
    assert (plan.mode, plan.reason) == ("full", "first build of this phase")
    assert plan.versions["archtics.cust"] == "absent" and plan.versions["kore_app.touchpoint2"] == "absent"
    assert plan.dbt_args() == [
        "build", "--exclude-resource-type", "unit_test", "--exclude", "tag:needs_dedup", "tag:code_invariant"
    ]  # fmt: skip


def test_the_post_dedup_phase_runs_its_heavy_models_two_at_a_time_on_duckdb():
    """Its marts each scan the whole ticket fact: side by side under DuckDB's one memory limit they
    spill (1M accounts: 94 s with dbt's 4 threads, 66 s with 2); SQL Server keeps the profile's."""
    from dbt_build.scope import phase_threads

    post, pre = PHASES["post-dedup"], PHASES["pre-dedup"]
    assert phase_threads(post, "duckdb") == 2
    assert phase_threads(post, "sqlserver") is None and phase_threads(pre, "duckdb") is None
    args = BuildPlan(post, "full", "", "h", {}, threads=phase_threads(post, "duckdb")).dbt_args()
    assert args is not None and args[-2:] == ["--threads", "2"]
    assert "--threads" not in (BuildPlan(pre, "full", "", "h", {}).dbt_args() or [])
