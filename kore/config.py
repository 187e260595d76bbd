"""Project configuration: one place that says where things live and which warehouse is used.

Everything a run writes (warehouse file, dlt pipeline state, sandbox data, dbt artifacts, logs,
reports) lives under one *workdir*, so two runs in different workdirs never interfere and a
re-run in the same workdir resumes from its own state.

One environment variable, ``KORE_TARGET`` (``duckdb`` by default, or ``sqlserver``), switches the
whole project: dbt's target, the dlt destination and the Python warehouse connection.
Secrets are read from environment variables only and never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

Target = Literal["duckdb", "sqlserver"]

# SQL Server connection settings, all from the environment (dbt profiles.yml reads the same names).
MSSQL_ENV = {
    "server": "KORE_MSSQL_SERVER",
    "port": "KORE_MSSQL_PORT",
    "database": "KORE_MSSQL_DATABASE",
    "user": "KORE_MSSQL_USER",
    "password": "KORE_MSSQL_PASSWORD",
    "driver": "KORE_MSSQL_DRIVER",
    "encrypt": "KORE_MSSQL_ENCRYPT",
    "trust_cert": "KORE_MSSQL_TRUST_CERT",
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run. Paths are absolute."""

    workdir: Path
    target: Target = "duckdb"
    crm_flavor: Literal["dynamics", "salesforce"] = "dynamics"
    excluded_account_types: tuple[str, ...] = field(default_factory=tuple)
    crm_timeout: float = 30.0  # seconds per CRM request (KORE_CRM_TIMEOUT; tests shorten it)
    # DuckDB limits for the warehouse connection and the dlt destination (KORE_DUCKDB_MEMORY_LIMIT,
    # e.g. "2GB"; KORE_DUCKDB_THREADS). Without a limit DuckDB caches up to 80% of RAM during a merge.
    duckdb_memory_limit: str = "2GB"
    duckdb_threads: int | None = None  # None: DuckDB's default (all cores)
    # per-entity retraction policy overrides, KORE_RETRACTIONS="TicketPurchaseKoreps=deactivate,Contact=keep"
    # (defaults and meaning: reverse_etl.retractions)
    retractions: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # export landing: the largest share of a file's / a dataset's rows that may be quarantined
    # (KORE_MAX_BAD_SHARE_FILE / KORE_MAX_BAD_SHARE_DATASET); beyond it the landing fails. Within it
    # the outcome is "partial" and the run exits non-zero unless KORE_ALLOW_QUARANTINE=1.
    max_bad_share_file: float = 0.001
    max_bad_share_dataset: float = 0.001
    allow_quarantine: bool = False

    def duckdb_config(self) -> dict[str, str | int]:
        """The DuckDB connection options from the settings (for ``duckdb.connect(config=...)``)."""
        config: dict[str, str | int] = {}
        if self.duckdb_memory_limit:
            config["memory_limit"] = self.duckdb_memory_limit
        if self.duckdb_threads:
            config["threads"] = self.duckdb_threads
        return config

    @property
    def duckdb_path(self) -> Path:
        env = os.environ.get("KORE_DUCKDB_PATH")
        return Path(env).resolve() if env else self.workdir / "warehouse.duckdb"

    @property
    def export_dir(self) -> Path:
        """Where the (sample) Archtics static export lives: part files + manifest.json."""
        return self.workdir / "export"

    @property
    def sandbox_dir(self) -> Path:
        """Sandbox-only data (ground truth, live Archtics changes, CRM store). Pipelines never read it."""
        return self.workdir / "sandbox_data"

    @property
    def dlt_data_dir(self) -> Path:
        return self.workdir / ".dlt_data"

    @property
    def dbt_target_dir(self) -> Path:
        return self.workdir / "dbt_artifacts" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.workdir / "dbt_artifacts" / "logs"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.workdir / "reports"

    def ensure_dirs(self) -> None:
        for p in (self.workdir, self.sandbox_dir, self.dlt_data_dir, self.logs_dir, self.reports_dir):
            p.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        """Environment for subprocesses (dbt, sandbox servers) and for in-process dlt."""
        return {
            "KORE_WORKDIR": str(self.workdir),
            "KORE_TARGET": self.target,
            "KORE_DUCKDB_PATH": str(self.duckdb_path),
            "KORE_CRM_FLAVOR": self.crm_flavor,
            "KORE_EXCLUDED_ACCOUNT_TYPES": ",".join(self.excluded_account_types),
            "KORE_RETRACTIONS": ",".join(f"{e}={p}" for e, p in self.retractions),
            "DLT_PROJECT_DIR": str(REPO_ROOT),
            "DLT_DATA_DIR": str(self.dlt_data_dir),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.dbt_log_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }


def _parse_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _parse_pairs(value: str | None) -> tuple[tuple[str, str], ...]:
    """``a=x,b=y`` as ((a, x), (b, y)); an item without ``=`` is a configuration error."""
    out = []
    for item in _parse_list(value):
        name, sep, val = item.partition("=")
        if not sep or not name.strip() or not val.strip():
            raise ValueError(f"expected ENTITY=POLICY, not {item!r}")
        out.append((name.strip(), val.strip().lower()))
    return tuple(out)


def get_settings(workdir: str | Path | None = None) -> Settings:
    """Resolve settings: explicit workdir, else ``KORE_WORKDIR``, else the current directory."""
    wd = Path(workdir or os.environ.get("KORE_WORKDIR") or Path.cwd()).resolve()
    target = os.environ.get("KORE_TARGET", "duckdb").lower()
    if target not in ("duckdb", "sqlserver"):
        raise ValueError(f"KORE_TARGET must be 'duckdb' or 'sqlserver', not {target!r}")
    flavor = os.environ.get("KORE_CRM_FLAVOR", "dynamics").lower()
    if flavor not in ("dynamics", "salesforce"):
        raise ValueError(f"KORE_CRM_FLAVOR must be 'dynamics' or 'salesforce', not {flavor!r}")
    return Settings(
        workdir=wd,
        target=target,  # type: ignore[arg-type]
        crm_flavor=flavor,  # type: ignore[arg-type]
        excluded_account_types=_parse_list(os.environ.get("KORE_EXCLUDED_ACCOUNT_TYPES")),
        crm_timeout=float(os.environ.get("KORE_CRM_TIMEOUT") or 30.0),
        duckdb_memory_limit=os.environ.get("KORE_DUCKDB_MEMORY_LIMIT", "2GB").strip(),
        duckdb_threads=int(os.environ["KORE_DUCKDB_THREADS"]) if os.environ.get("KORE_DUCKDB_THREADS") else None,
        retractions=_parse_pairs(os.environ.get("KORE_RETRACTIONS")),
        max_bad_share_file=float(os.environ.get("KORE_MAX_BAD_SHARE_FILE") or 0.001),
        max_bad_share_dataset=float(os.environ.get("KORE_MAX_BAD_SHARE_DATASET") or 0.001),
        allow_quarantine=os.environ.get("KORE_ALLOW_QUARANTINE", "").strip().lower() in ("1", "true", "yes"),
    )


def crm_credentials() -> dict[str, str]:
    """CRM API credentials from the environment (never logged): ``client_id``, ``client_secret`` and,
    for Dynamics, ``tenant_id`` (``KORE_CRM_TENANT``). Empty values are left out."""
    values = {
        "client_id": os.environ.get("KORE_CRM_CLIENT_ID", ""),
        "client_secret": os.environ.get("KORE_CRM_CLIENT_SECRET", ""),
        "tenant_id": os.environ.get("KORE_CRM_TENANT", ""),
    }
    return {k: v for k, v in values.items() if v}


def archtics_credentials() -> dict[str, str]:
    """Archtics delta API credentials from the environment (never logged); empty values left out."""
    values = {
        "client_id": os.environ.get("KORE_ARCHTICS_CLIENT_ID", ""),
        "client_secret": os.environ.get("KORE_ARCHTICS_CLIENT_SECRET", ""),
    }
    return {k: v for k, v in values.items() if v}


def mssql_settings() -> dict[str, str]:
    """SQL Server connection settings from the environment; raises naming the missing variables."""
    values = {k: os.environ.get(v, "") for k, v in MSSQL_ENV.items()}
    missing = [MSSQL_ENV[k] for k in ("server", "database", "user", "password") if not values[k]]
    if missing:
        raise RuntimeError("SQL Server target needs these environment variables: " + ", ".join(missing))
    values.setdefault("port", "1433")
    values["port"] = values["port"] or "1433"
    values["driver"] = values["driver"] or "ODBC Driver 18 for SQL Server"
    return values


def dlt_destination(settings: Settings):
    """The dlt destination for the configured warehouse (same database dbt builds in)."""
    import dlt

    if settings.target == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        # memory_limit/threads applied on each connection dlt opens (its loads and merges); rows of a
        # raw table have no meaningful order, and not keeping it makes DuckDB's inserts ~40% faster
        credentials = DuckDbCredentials(str(settings.duckdb_path))
        credentials.global_config = {**settings.duckdb_config(), "preserve_insertion_order": False}
        from kore.dlt_duckdb import duckdb  # dlt's, with quoted file paths (a workdir may hold a ')

        return duckdb(credentials=credentials)
    s = mssql_settings()
    return dlt.destinations.mssql(
        credentials={
            "host": s["server"],
            "port": int(s["port"]),
            "database": s["database"],
            "username": s["user"],
            "password": s["password"],
            "driver": s["driver"],
        }
    )


class _ProjectDltConfig:
    """dlt reads ``.dlt/config.toml`` from the current directory; this registers the repo's own
    ``.dlt/config.toml`` and ``secrets.toml`` as extra providers (after the environment, which still
    wins), so every pipeline sees the project's settings from any working directory without
    ``os.environ`` being changed."""

    registered = False

    @classmethod
    def ensure(cls) -> None:
        if cls.registered:
            return
        import dlt
        from dlt.common.configuration.providers import ConfigTomlProvider, SecretsTomlProvider

        class _Config(ConfigTomlProvider):
            @property
            def name(self) -> str:
                return "kore project config.toml"

        class _Secrets(SecretsTomlProvider):
            @property
            def name(self) -> str:
                return "kore project secrets.toml"

        settings_dir = str(REPO_ROOT / ".dlt")
        dlt.config.register_provider(_Secrets(settings_dir=settings_dir))
        dlt.config.register_provider(_Config(settings_dir=settings_dir))
        cls.registered = True


def dlt_pipeline(settings: Settings, pipeline_name: str, dataset_name: str, **kwargs):
    """Every dlt pipeline of the project: its working folder under the workdir (``.dlt_data``), the
    destination of the configured target, and the project's ``.dlt`` settings (per-pipeline options
    go in ``.dlt/config.toml`` under ``[<pipeline_name>....]``)."""
    import dlt

    settings.ensure_dirs()
    _ProjectDltConfig.ensure()
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dlt_destination(settings),
        dataset_name=dataset_name,
        pipelines_dir=str(settings.dlt_data_dir),
        **kwargs,
    )
