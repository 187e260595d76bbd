"""The layer rule of docs/architecture.md, enforced: every import in the project's own code
(module level or inside a function) goes down the layers, never up or sideways between stages.

A stage that needs another stage's output reads it from the warehouse, not through an import; the
application layer (``orchestration``) is the only place that knows the order of the stages; the
sandbox is a plug-in that speaks the contracts and nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kore.config import REPO_ROOT

PROJECT_PACKAGES = {
    "kore",
    "crm_clients",
    "dlt_pipelines",
    "dbt_build",
    "dedup",
    "expectations",
    "reverse_etl",
    "orchestration",
    "sandbox",
    "benchmarks",
}
STAGES = {"dlt_pipelines", "dbt_build", "dedup", "expectations", "reverse_etl"}
FOUNDATION = {"kore"}

# Who may import what (top-level package names, or dotted module prefixes). A module is matched by
# its most specific entry.
ALLOWED: dict[str, set[str]] = {
    "kore": {"kore"},
    "kore.contracts": {"kore.contracts", "kore.config", "kore.registry"},
    "crm_clients": FOUNDATION | {"crm_clients"},
    **{stage: FOUNDATION | {"crm_clients", stage} for stage in STAGES},
    "orchestration": PROJECT_PACKAGES - {"sandbox", "benchmarks"},
    # the demo and the CLI's `sandbox` commands are the application's only doors to the sandbox
    "orchestration.demo": PROJECT_PACKAGES - {"benchmarks"},
    "orchestration.sandbox_commands": PROJECT_PACKAGES - {"benchmarks"},
    "sandbox": {"sandbox", "kore.contracts", "kore.registry"},
    "benchmarks": PROJECT_PACKAGES,
    "dbt_project.scripts": {"kore.contracts", "kore.registry", "kore.config"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _rule_for(module: str) -> tuple[str, set[str]]:
    best = max((k for k in ALLOWED if module == k or module.startswith(k + ".")), key=len)
    return best, ALLOWED[best]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from pkg import sub` imports the submodule pkg.sub when it is one
            for a in node.names:
                sub = REPO_ROOT / Path(*node.module.split("."), a.name)
                if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                    found.append((node.lineno, f"{node.module}.{a.name}"))
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT_PACKAGES]


def _permitted(target: str, allowed: set[str]) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def _sources() -> list[Path]:
    roots = [REPO_ROOT / p for p in sorted(PROJECT_PACKAGES)] + [REPO_ROOT / "dbt_project" / "scripts"]
    return [f for root in roots if root.exists() for f in sorted(root.rglob("*.py"))]


def violations() -> list[str]:
    out = []
    for path in _sources():
        module = _module_name(path)
        rule, allowed = _rule_for(module)
        for line, target in _imports(path):
            if not _permitted(target, allowed):
                out.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {target} (layer {rule!r} may not)")
    return out


def test_imports_follow_the_layers():
    assert violations() == []


@pytest.mark.parametrize(
    "module, target, ok",
    [
        ("dedup.pipeline", "kore.warehouse", True),
        ("dedup.pipeline", "dlt_pipelines.archtics_export", False),  # sideways between stages
        ("kore.config", "orchestration.cli", False),  # up from the foundation
        ("kore.contracts.archtics", "kore.warehouse", False),  # contracts are pure definitions
        ("sandbox.crm_api", "kore.contracts.crm_names", True),
        ("sandbox.crm_api", "crm_clients.dynamics", False),  # the sandbox never reuses the client
        ("orchestration.cli", "sandbox.generator", False),  # only the demo and sandbox commands may
        ("orchestration.demo", "sandbox.generator", True),
        ("dbt_project.scripts.generate_kore_app_models", "sandbox.kore_apps", False),
    ],
)
def test_the_rule_itself(module, target, ok):
    """The checker is not vacuous: it refuses the imports the layering forbids."""
    assert _permitted(target, _rule_for(module)[1]) is ok


def test_every_project_package_is_scanned():
    scanned = {_module_name(p).split(".")[0] for p in _sources()}
    assert PROJECT_PACKAGES <= scanned
