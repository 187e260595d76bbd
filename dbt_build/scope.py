"""Change-scoped dbt builds: a routine build runs only what the newly landed data can change.

A build phase (pre-dedup, post-dedup, all) is built in full the first time, and again whenever the
dbt project changes. Otherwise it selects the descendants of the sources whose data changed since the
phase last built successfully -- dbt's own ``source_status:fresher+`` rule, computed here in-process
(one ``max(loaded_at_field), count(*)`` per source) instead of by a separate ``dbt source freshness``
invocation, which would cost more than the build it saves. A model none of whose sources changed would
be rebuilt from the same rows into the same table, and its data tests would check the same rows again:
skipping both is what makes a routine build cost what the change costs, not what the warehouse holds.

Two kinds of check test the project's code, not the data: unit tests, and data tests tagged
``code_invariant`` (whole-view checks of properties the SQL guarantees by construction once the
upstream key tests pass; at 1M accounts the candidate-pair view's check alone costs ~35 s). As dbt
advises for unit tests, they run in CI (the test suite builds the project with them), not in
production builds: a build runs them only when asked (``KORE_DBT_CODE_TESTS=1`` or ``kore build
--code-tests``; those of the selected nodes).

When no changed source feeds any node of the phase (the nodes its last full build ran), dbt is not
started at all: a build with nothing new costs the version reads, under a second.

dbt itself runs in one warm process per kore process (dbt_build/session.py): the second phase of a
run reuses the first one's dbt imports and parsed manifest instead of paying them again, which was
most of what a routine build cost.

Safe by construction:
- a source whose change cannot be seen counts as changed on every build (the dedup step's outputs
  have no landing timestamp: on DuckDB their content fingerprint is compared, on SQL Server they
  always count as changed);
- the sources are read from a manifest of the project as it is now: where the one on disk is missing,
  truncated (a killed dbt) or was parsed from another version of the project, ``dbt parse`` runs
  first. A killed build leaves a manifest behind, so taking the sources from whatever is on disk made
  the recorded versions depend on where the kill fell (a clean first build recorded none, its plain
  rerun after a kill recorded every source's: ``kore bench chaos``, issue 17);
- the state (``ops.dbt_build_state``: per phase, the project hash and each source's version) is
  written only after the phase's dbt build succeeded, with the versions read *before* it started, so a
  failed or interrupted build, or data landing during a build, leaves the next build to redo it;
- a later phase (post-dedup) compares the versions the earlier phase built from, not the live ones, so
  it never records data as built that its upstream models do not hold yet.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dbt_build.runner import DbtResult
from dbt_build.session import parse_ahead, run_dbt, take_parse_ahead
from kore.config import DBT_PROJECT_DIR, Settings

STATE_SCHEMA, STATE_TABLE = "ops", "dbt_build_state"
UNKNOWN = "?"  # version of a source whose changes cannot be seen: always counts as changed
ABSENT = "absent"  # the source relation does not exist (yet)
UNBUILT = "unbuilt"  # a later phase's input its upstream phase has not built from yet
CODE_INVARIANT_TAG = "code_invariant"
# project inputs whose change means "build everything"; target/ and logs/ are outputs
PROJECT_GLOBS = ("dbt_project.yml", "packages.yml", "models/**/*", "macros/**/*", "seeds/**/*",
                 "tests/**/*", "snapshots/**/*", "analyses/**/*")  # fmt: skip
# environment the project reads through env_var() that changes what it builds (never secrets)
PROJECT_ENV = ("KORE_TARGET", "KORE_CRM_FLAVOR", "KORE_EXCLUDED_ACCOUNT_TYPES", "KORE_SCHEMA_PREFIX")


@dataclass(frozen=True)
class Phase:
    """A dbt build phase: ``select`` (union of selectors; empty = every node) minus ``exclude``.
    ``upstream`` names the phase whose models this one reads (its built versions are this phase's
    input versions)."""

    name: str
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    upstream: Phase | None = None
    # dbt threads on DuckDB (None: the profile's). The post-dedup models each scan the whole ticket
    # fact; side by side under the one memory limit they spill: at 1M accounts the phase took 93.7 s
    # with 4 threads, 66.4 s with 2, 63.2 s with 1 (at 100k: 11.6 / 11.5 / 13.0 s). DuckDB runs each
    # query on every core anyway.
    duckdb_threads: int | None = None

    def key(self, command: str = "build") -> str:
        """State key: name, dbt command and selection. A differently scoped phase keeps its own
        state, and so does ``dbt run``, whose builds test nothing: a build after it tests the data."""
        digest = hashlib.sha1(json.dumps([self.select, self.exclude]).encode()).hexdigest()[:8]
        return f"{self.name}:{command}:{digest}"


_PRE_DEDUP = Phase("pre-dedup", exclude=("tag:needs_dedup",))
PHASES = {
    "pre-dedup": _PRE_DEDUP,
    "post-dedup": Phase("post-dedup", select=("tag:needs_dedup",), upstream=_PRE_DEDUP, duckdb_threads=2),
    "all": Phase("all"),
}


@dataclass
class BuildPlan:
    """What a build of one phase will run, and why."""

    phase: Phase
    mode: str  # full | changed | nothing
    reason: str
    project_hash: str
    versions: dict[str, str]  # source unique name (archtics.cust) -> version read before the build
    changed_sources: list[str] = field(default_factory=list)
    command: str = "build"
    # the models (and seeds) the phase holds, as its last full build ran them: a changed source that
    # feeds none of them needs no dbt invocation at all (None: not known yet)
    nodes: list[str] | None = None
    code_tests: bool = False  # also run the unit tests and code_invariant checks (of the selected nodes)
    threads: int | None = None  # dbt --threads (None: the profile's)

    def dbt_args(self) -> list[str] | None:
        """The dbt arguments, or None when there is nothing to build."""
        if self.mode == "nothing":
            return None
        command = self.command
        args = [command]
        if self.mode == "full":
            select = list(self.phase.select)
        else:
            roots = [f"source:{s}+" for s in self.changed_sources]
            select = [f"{r},{s}" for r in roots for s in self.phase.select] if self.phase.select else roots
        exclude = list(self.phase.exclude) if self.code_tests else [*self.phase.exclude, f"tag:{CODE_INVARIANT_TAG}"]
        if command == "build" and not self.code_tests:
            args += ["--exclude-resource-type", "unit_test"]
        if select:
            args += ["--select", *select]
        if exclude:
            args += ["--exclude", *exclude]
        if self.threads:
            args += ["--threads", str(self.threads)]
        return args


# ------------------------------------------------------------------------------------ inputs


def project_hash(project_dir: Path = DBT_PROJECT_DIR, env: dict[str, str] | None = None) -> str:
    """Hash of everything that decides what the project builds: its files, the environment it reads,
    and the dbt version. Any change means the next build of every phase is a full one."""
    import os
    from importlib.metadata import version

    dbt_version = version("dbt-core")  # the installed distribution's version: no dbt import (~2 s)
    env = dict(os.environ) if env is None else env
    h = hashlib.sha256()
    files = sorted({p for g in PROJECT_GLOBS for p in project_dir.glob(g) if p.is_file()})
    for p in files:
        h.update(p.relative_to(project_dir).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(json.dumps({k: env.get(k, "") for k in PROJECT_ENV}, sort_keys=True).encode())
    h.update(dbt_version.encode())
    return h.hexdigest()


def start_parse(settings: Settings) -> None:
    """Start the warm dbt process's parse of the project as it is now, without waiting (see
    :func:`dbt_build.session.parse_ahead`); the next build's plan collects it."""
    parse_ahead(settings, project_hash(env=settings.env()))


def read_manifest(settings: Settings) -> dict[str, Any] | None:
    """The manifest the last dbt invocation wrote (None without one)."""
    path = settings.dbt_target_dir / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def phase_relations(settings: Settings, phase: str) -> set[str] | None:
    """Lower-case ``schema.name`` of every relation (model, seed, snapshot) a build of ``phase``
    writes, from the manifest on disk; None when that cannot be known (no manifest, or a selector
    other than a tag). Schemas are the models' own (``marts``), not the target's prefixed ones."""
    selected = PHASES[phase].select
    tags = {s.removeprefix("tag:") for s in selected if s.startswith("tag:")}
    manifest = read_manifest(settings)
    if manifest is None or not selected or len(tags) != len(selected):
        return None
    out: set[str] = set()
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") in ("model", "seed", "snapshot") and tags & set(node.get("tags") or ()):
            schema = (node.get("config") or {}).get("schema") or node.get("schema") or ""
            out.add(f"{schema}.{node.get('alias') or node['name']}".lower())
    return out


def current_manifest(settings: Settings, phash: str) -> dict[str, Any] | None:
    """The manifest of the project as it is now (see the module docstring): the one on disk when
    ``dbt parse`` last stamped it with this project hash, else a fresh ``dbt parse``. Builds of the
    same project rewrite the manifest with the same sources, so the stamp stays true for them."""
    import os

    stamp = settings.dbt_target_dir / "manifest.project_hash"
    manifest = read_manifest(settings)
    if manifest is not None and stamp.exists() and stamp.read_text() == phash:
        return manifest
    if not take_parse_ahead(settings, phash):  # the flow may have started this parse already
        run_dbt(settings, ["parse"], project_hash=phash)  # the warm dbt process keeps this parse for the build
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(phash)
    os.replace(tmp, stamp)  # written whole or not at all: a kill here leaves the next build to parse again
    return read_manifest(settings)


def manifest_sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's sources: unique name (archtics.cust), relation and loaded_at_field."""
    return [
        {
            "id": uid,
            "name": f"{s['source_name']}.{s['name']}",
            "schema": s["schema"],
            "identifier": s.get("identifier") or s["name"],
            "relation": s.get("relation_name"),
            "loaded_at_field": s.get("loaded_at_field") or (s.get("config") or {}).get("loaded_at_field"),
        }
        for uid, s in manifest.get("sources", {}).items()
    ]


def descendants(manifest: dict[str, Any], roots: list[str]) -> set[str]:
    """Unique ids of every node downstream of ``roots`` (source unique names, e.g. archtics.cust)."""
    child_map = manifest.get("child_map", {})
    ids = {s["id"] for s in manifest_sources(manifest) if s["name"] in set(roots)}
    seen: set[str] = set()
    todo = list(ids)
    while todo:
        for child in child_map.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def source_versions(wh: Any, sources: list[dict[str, Any]]) -> dict[str, str]:
    """Each source's version, read in one pass before a build:

    - ``max(loaded_at_field)|count(*)`` where the source has a loaded_at_field (a new load, or a
      load that only deleted rows, changes it) -- the landing timestamps dbt's freshness uses;
    - on DuckDB, a content fingerprint ``sum(hash(row))|count(*)`` where it has none (the dedup
      step's outputs: it rewrites them, so only their content tells whether they changed);
    - ``?`` where neither can be read (SQL Server without a loaded_at_field): always changed;
    - ``absent`` when the table does not exist.
    """
    existing = {
        (s.lower(), t.lower())
        for s, t in wh.query_rows("select table_schema, table_name from information_schema.tables")
    }
    out: dict[str, str] = {}
    for src in sources:
        if (src["schema"].lower(), src["identifier"].lower()) not in existing:
            out[src["name"]] = ABSENT
        elif src["loaded_at_field"] and src["relation"]:
            latest, rows = wh.query_rows(f"select max({src['loaded_at_field']}), count(*) from {src['relation']}")[0]
            out[src["name"]] = f"{latest}|{rows}"
        elif src["relation"] and wh.target == "duckdb":
            digest, rows = wh.query_rows(f"select sum(hash(t)), count(*) from {src['relation']} as t")[0]
            out[src["name"]] = f"#{digest}|{rows}"
        else:
            out[src["name"]] = UNKNOWN
    return out


# ------------------------------------------------------------------------------------- state


def read_state(wh: Any) -> dict[str, dict[str, Any]]:
    """phase key -> {project_hash, versions, nodes, built_at} of each phase's last successful build."""
    if not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return {}
    rows = wh.query_rows(f"select phase_key, project_hash, versions, nodes, built_at from {STATE_SCHEMA}.{STATE_TABLE}")
    return {
        k: {"project_hash": h, "versions": json.loads(v), "nodes": json.loads(n) if n else None, "built_at": b}
        for k, h, v, n, b in rows
    }


def write_state(wh: Any, plan: BuildPlan) -> None:
    """Record a successful build of the plan's phase: the versions it built from."""
    import pandas as pd

    if not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        wh.ensure_schema(STATE_SCHEMA)
        text = "varchar" if wh.target == "duckdb" else "nvarchar(max)"
        wh.execute(
            f"create table {STATE_SCHEMA}.{STATE_TABLE} (phase_key varchar(200), project_hash varchar(64), "
            f"versions {text}, nodes {text}, built_at varchar(40))"
        )
    key = plan.phase.key(plan.command)
    row = {"phase_key": key, "project_hash": plan.project_hash,
           "versions": json.dumps(plan.versions, sort_keys=True),
           "nodes": json.dumps(sorted(plan.nodes)) if plan.nodes is not None else None,
           # when it ran: differs between any two runs and decides nothing (kore bench chaos
           # compares the rest of the row, as built_at differs between two clean runs too)
           "built_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    with wh.transaction():  # delete + insert as one: a kill in between keeps the previous state
        wh.execute(f"delete from {STATE_SCHEMA}.{STATE_TABLE} where phase_key = ?", [key])
        wh.append_df(STATE_SCHEMA, STATE_TABLE, pd.DataFrame([row]))


# -------------------------------------------------------------------------------------- plan


def phase_threads(phase: Phase, target: str) -> int | None:
    """dbt's ``--threads`` for a build of ``phase`` on ``target`` (None: the profile's)."""
    return phase.duckdb_threads if target == "duckdb" else None


def plan_build(
    settings: Settings, phase: Phase, full: bool = False, command: str = "build", phash: str | None = None
) -> BuildPlan:
    """Decide what a build of ``phase`` runs (see the module docstring)."""
    from kore.warehouse import connect

    phash = phash or project_hash(env=settings.env())
    manifest = current_manifest(settings, phash)  # before connecting: dbt parse runs in its own process
    with connect(settings) as wh:
        versions = source_versions(wh, manifest_sources(manifest)) if manifest else {}
        state = read_state(wh)
    upstream = state.get(phase.upstream.key(command)) if phase.upstream else None
    if phase.upstream:  # this phase reads what the upstream phase's models were built from
        built = upstream["versions"] if upstream else {}
        versions = {k: built.get(k, UNBUILT) for k in versions}
    last = state.get(phase.key(command))

    def plan(mode: str, reason: str, changed: list[str] | None = None) -> BuildPlan:
        nodes = last["nodes"] if last and mode != "full" else None
        threads = phase_threads(phase, settings.target)
        return BuildPlan(
            phase, mode, reason, phash, versions, changed or [], command, nodes, settings.dbt_code_tests, threads
        )

    if full:
        return plan("full", "full build requested")
    if manifest is None:
        return plan("full", "first dbt build in this workdir")
    if phase.upstream and upstream is None:
        return plan("full", f"phase {phase.upstream.name} has not built yet")
    if last is None:
        return plan("full", "first build of this phase")
    if last["project_hash"] != phash:
        return plan("full", "the dbt project changed")
    changed = sorted(s for s, v in versions.items() if v == UNKNOWN or last["versions"].get(s) != v)
    if not changed:
        return plan("nothing", "no source changed since the last build")
    if last["nodes"] is not None and not descendants(manifest, changed) & set(last["nodes"]):
        return plan("nothing", f"{len(changed)} source(s) changed, none feeds this phase")
    return plan("changed", f"{len(changed)} source(s) changed", changed)


@dataclass
class BuildOutcome:
    plan: BuildPlan
    result: DbtResult | None  # None when nothing was built
    seconds: float

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok

    def summary(self) -> dict[str, Any]:
        results = self.result.results if self.result else []
        return {
            "phase": self.plan.phase.name,
            "mode": self.plan.mode,
            "reason": self.plan.reason,
            "changed_sources": len(self.plan.changed_sources),
            "nodes": len(results),
            "nodes_ok": sum(1 for r in results if r.get("status") in ("success", "pass")),
            "seconds": round(self.seconds, 2),
        }


def build_phase(
    settings: Settings,
    phase: Phase | str,
    full: bool = False,
    command: str = "build",
    check: bool = True,
    echo: Callable[[str], None] | None = None,
) -> BuildOutcome:
    """Plan and run one phase's dbt build; record its state when it succeeded (``echo``: each
    line of dbt's output as it comes, see :func:`dbt_build.runner.run_dbt`)."""
    from kore.landing import require_landing_complete
    from kore.runlog import run_record
    from kore.warehouse import connect

    phase = PHASES[phase] if isinstance(phase, str) else phase
    with run_record(settings, "dbt build", phase.name) as rec:
        require_landing_complete(settings, "kore build")
        t0 = time.perf_counter()
        plan = plan_build(settings, phase, full=full, command=command)
        args = plan.dbt_args()
        result = run_dbt(settings, args, check=False, echo=echo, project_hash=plan.project_hash) if args else None
        if result is not None and plan.mode == "full":
            built = ("model.", "seed.", "snapshot.")
            plan.nodes = [r["unique_id"] for r in result.results if r["unique_id"].startswith(built)]
        if result is None or result.ok:
            with connect(settings) as wh:
                write_state(wh, plan)
        outcome = BuildOutcome(plan, result, time.perf_counter() - t0)
        summary = outcome.summary()
        rec.rows_in, rec.rows_out = summary["nodes"], summary["nodes_ok"]
        rec.rows_failed = summary["nodes"] - summary["nodes_ok"]
        rec.detail = {k: summary[k] for k in ("mode", "reason", "changed_sources")}
        if not outcome.ok:
            rec.outcome = "failed: dbt"
    if check and not outcome.ok:
        tail = "\n".join(result.stdout.splitlines()[-40:]) if result else ""
        raise RuntimeError(f"dbt {' '.join(args or [])} failed:\n{tail}")
    return outcome
