"""The sandbox's own settings, read from the environment in this one place.

Why its own: the sandbox is a plug-in that stands in for Archtics and the CRMs; it must not import
the warehouse's ``kore.config`` (the layer rule), yet a few of its knobs come from the environment:

* ``KORE_SANDBOX_DUCKDB_MEMORY`` — DuckDB's memory limit while the Archtics API's live state is
  built (default ``2GB``);
* ``KORE_SANDBOX_SERVE_DUCKDB_MEMORY`` — the limit of the API's read-only connection to that state
  (default ``256MB``): its pages and samples need little, and whatever it read stays cached up to the
  limit in the process that serves it -- the flow's own process in the demo and the benchmarks;
* ``KORE_ARCHTICS_CLIENT_ID`` / ``KORE_ARCHTICS_CLIENT_SECRET`` — the credentials the sandbox
  Archtics API accepts, so a pipeline configured with them can connect (unset or empty: the API
  generates its own per instance).

The values are read when asked for, never cached, and the environment is never changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DUCKDB_MEMORY = "2GB"
DEFAULT_SERVE_DUCKDB_MEMORY = "256MB"


@dataclass(frozen=True)
class SandboxSettings:
    duckdb_memory: str
    serve_duckdb_memory: str
    archtics_client_id: str  # "" = generate one
    archtics_client_secret: str  # "" = generate one


def sandbox_settings() -> SandboxSettings:
    """The sandbox's settings as the environment holds them now."""
    return SandboxSettings(
        duckdb_memory=os.environ.get("KORE_SANDBOX_DUCKDB_MEMORY", DEFAULT_DUCKDB_MEMORY),
        serve_duckdb_memory=os.environ.get("KORE_SANDBOX_SERVE_DUCKDB_MEMORY", DEFAULT_SERVE_DUCKDB_MEMORY),
        archtics_client_id=os.environ.get("KORE_ARCHTICS_CLIENT_ID") or "",
        archtics_client_secret=os.environ.get("KORE_ARCHTICS_CLIENT_SECRET") or "",
    )
