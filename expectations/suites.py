"""Expectation suites: GX 1.x JSON files under ``expectations/suites/``, one per table.

Why files and not code: the suites are reviewed and versioned like the models they check. Each file
is a plain GX ``ExpectationSuite`` (``name``, ``expectations``, ``meta``); the project's own settings
for the suite live in ``meta.kore``:

- ``layer``: raw | staging | kore | dedup | marts (what ``kore check --layer`` selects);
- ``table``: ``schema.table`` the suite validates, ``table_aliases``: other names the table may have
  (the first that exists is used);
- ``key_columns``: columns that identify a row; failing examples show only these;
- ``default_severity``: ``warn`` or ``fail`` for expectations whose own ``meta.severity`` is unset;
- ``row_count``: bounds relative to a source (``{"relative_to": "manifest:cust" | "table:schema.t",
  "min_ratio": 0.9, "max_ratio": 1.0}``), fed to the expectation through the GX parameters
  ``row_count_min`` / ``row_count_max``.

An expectation's ``meta.column_aliases`` lists other names its column may carry (marts are built in
parallel; an alias keeps a renamed column checked instead of erroring).

The ``kore`` layer suites (one per ``Synced*`` / ``kore_*base`` table) are generated from the entity
registry by :func:`kore_suites` and written with ``python -m expectations.suites --write``; a test
asserts the files equal the generation, so a new registry entity cannot go unchecked.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kore.contracts.crm_names import entity_snake

SUITES_DIR = Path(__file__).resolve().parent / "suites"
GX_VERSION = "1.24.1"


@dataclass(frozen=True)
class SuiteSpec:
    """A suite file, parsed: the GX suite dict plus the project settings from ``meta.kore``."""

    name: str
    layer: str
    table: str
    table_aliases: tuple[str, ...]
    key_columns: tuple[str, ...]
    default_severity: str
    row_count: dict[str, Any] | None
    expectations: tuple[dict[str, Any], ...]
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, *self.table_aliases)

    def severity_of(self, expectation: dict[str, Any]) -> str:
        return (expectation.get("meta") or {}).get("severity", self.default_severity)


def parse_suite(doc: dict[str, Any], path: Path | None = None) -> SuiteSpec:
    """Validate a suite document's project settings; raise ValueError naming the file and problem."""
    where = str(path or doc.get("name"))
    k = (doc.get("meta") or {}).get("kore")
    if not isinstance(k, dict):
        raise ValueError(f"{where}: meta.kore is missing")
    for req in ("layer", "table"):
        if not k.get(req):
            raise ValueError(f"{where}: meta.kore.{req} is missing")
    if k["layer"] not in ("raw", "staging", "kore", "dedup", "marts"):
        raise ValueError(f"{where}: unknown layer {k['layer']!r}")
    sev = k.get("default_severity", "fail")
    if sev not in ("warn", "fail"):
        raise ValueError(f"{where}: default_severity must be warn or fail")
    exps = doc.get("expectations") or []
    for e in exps:
        if not str(e.get("type", "")).startswith("expect_"):
            raise ValueError(f"{where}: expectation without a GX type: {e}")
        s = (e.get("meta") or {}).get("severity", sev)
        if s not in ("warn", "fail"):
            raise ValueError(f"{where}: severity must be warn or fail in {e['type']}")
    return SuiteSpec(
        name=doc["name"],
        layer=k["layer"],
        table=k["table"],
        table_aliases=tuple(k.get("table_aliases") or ()),
        key_columns=tuple(k.get("key_columns") or ()),
        default_severity=sev,
        row_count=k.get("row_count"),
        expectations=tuple(exps),
        path=path,
        meta=doc.get("meta") or {},
    )


@lru_cache(maxsize=4)
def load_suites(suites_dir: Path = SUITES_DIR) -> tuple[SuiteSpec, ...]:
    """Every suite file in ``suites_dir``, sorted by layer order then name."""
    order = {x: i for i, x in enumerate(("raw", "staging", "kore", "dedup", "marts"))}
    specs = [parse_suite(json.loads(p.read_text(encoding="utf-8")), p) for p in sorted(suites_dir.glob("*.json"))]
    return tuple(sorted(specs, key=lambda s: (order[s.layer], s.name)))


def to_gx_suite(spec: SuiteSpec, expectations: list[dict[str, Any]] | None = None):
    """A ``great_expectations.ExpectationSuite`` for the spec (optionally with a subset of expectations)."""
    import great_expectations as gx

    exps = [
        {k: v for k, v in e.items() if k in ("type", "kwargs", "meta", "id", "notes", "description")}
        for e in (spec.expectations if expectations is None else expectations)
    ]
    return gx.ExpectationSuite(name=spec.name, expectations=exps, meta=spec.meta)


# -- generated kore-layer suites -------------------------------------------------------------------


def _exp(type_: str, severity: str | None = None, **kwargs: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"type": type_, "kwargs": kwargs}
    if severity:
        e["meta"] = {"severity": severity}
    return e


def kore_suites() -> list[dict[str, Any]]:
    """One suite per KORE table in the entity registry (crm_id or external_key unique, not null)."""
    from kore import registry

    suites: dict[str, dict[str, Any]] = {}
    for ent in registry.load():
        table = f"kore.{ent.kore_table}"
        if table in suites:
            continue  # SyncedActivities holds several activity entities
        if ent.direction == "crm_to_kore":
            key = "crm_id"
            exps = [
                _exp("expect_column_values_to_not_be_null", column=key),
                _exp("expect_column_values_to_be_unique", column=key),
            ]
            row_count = None
            if ent.kore_table != "SyncedActivities":
                row_count = {
                    "relative_to": "table:raw_crm.{flavor}_" + entity_snake(ent.entity),
                    "min_ratio": 0.95,
                    "max_ratio": 1.0,
                }
                exps.append(
                    _exp(
                        "expect_table_row_count_to_be_between",
                        "warn",
                        min_value={"$PARAMETER": "row_count_min"},
                        max_value={"$PARAMETER": "row_count_max"},
                    )
                )
            if ent.entity in ("Contact", "Account"):
                exps.append(_exp("expect_column_values_to_be_unique", column="kore_external_key"))
        else:
            key = "external_key"
            row_count = None
            exps = [
                _exp("expect_column_values_to_not_be_null", column=key),
                _exp("expect_column_values_to_be_unique", column=key),
            ]
        kore_meta: dict[str, Any] = {
            "layer": "kore",
            "table": table,
            "key_columns": [key],
            "default_severity": "fail",
            "entity": ent.entity,
            "generated": "python -m expectations.suites --write (from the entity registry)",
        }
        if row_count:
            kore_meta["row_count"] = row_count
        suites[table] = {
            "name": table,
            "expectations": exps,
            "meta": {"great_expectations_version": GX_VERSION, "kore": kore_meta},
            "notes": None,
        }
    return list(suites.values())


def suite_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def write_kore_suites(suites_dir: Path = SUITES_DIR) -> list[Path]:
    suites_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in kore_suites():
        p = suites_dir / f"{doc['name']}.json"
        p.write_text(suite_json(doc), encoding="utf-8")
        paths.append(p)
    load_suites.cache_clear()
    return paths


if __name__ == "__main__":
    if "--write" in sys.argv:
        written = write_kore_suites()
        print(f"wrote {len(written)} kore suites to {SUITES_DIR}")
    else:
        print("usage: python -m expectations.suites --write")
