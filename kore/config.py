"""Project configuration: one place that says where things live and which warehouse is used.

Everything a run writes (warehouse file, dlt pipeline state, sandbox data, dbt artifacts, logs,
reports) lives under one *workdir*, so two runs in different workdirs never interfere and a
re-run in the same workdir resumes from its own state.

One environment variable, ``KORE_TARGET`` (``duckdb`` by default, or ``sqlserver``), switches the
whole project: dbt's target, the dlt destination and the Python warehouse connection.
Secrets come from environment variables or dlt's secrets (``.dlt/secrets.toml``; the variables win)
and are never logged; SQL Server settings from environment variables only (:func:`mssql_connection`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kore.errors import ConfigError  # a configuration mistake: one line naming what to set

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

Target = Literal["duckdb", "sqlserver"]


# SQL Server connection settings, all from the environment (never from files: dbt's profiles.yml
# reads the same names, so plain dbt and `kore` connect alike).
MSSQL_ENV = {
    "server": "KORE_MSSQL_SERVER",
    "port": "KORE_MSSQL_PORT",
    "database": "KORE_MSSQL_DATABASE",
    "auth": "KORE_MSSQL_AUTH",  # sql (default) | service_principal (Entra ID app: client id + secret)
    "user": "KORE_MSSQL_USER",
    "password": "KORE_MSSQL_PASSWORD",
    "client_id": "KORE_MSSQL_CLIENT_ID",
    "client_secret": "KORE_MSSQL_CLIENT_SECRET",
    "driver": "KORE_MSSQL_DRIVER",
    "encrypt": "KORE_MSSQL_ENCRYPT",
    "trust_cert": "KORE_MSSQL_TRUST_CERT",
}
MSSQL_DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
_TRUE, _FALSE = ("true", "1", "yes", "y", "on"), ("false", "0", "no", "n", "off")


def _odbc_value(value: str) -> str:
    """An ODBC connection-string value, braced when it holds ``;``, ``{`` or ``}`` (``}`` doubled)."""
    return "{" + value.replace("}", "}}") + "}" if any(c in value for c in ";{}") else value


@dataclass(frozen=True)
class MssqlConnection:
    """One SQL Server connection, as every consumer needs it: pyodbc (the Python steps), dlt's mssql
    destination, SQLAlchemy (GX) and dbt's profile (through :meth:`dbt_env`). Built only by
    :func:`mssql_connection`, so the four never disagree on Encrypt, TrustServerCertificate or auth."""

    server: str
    port: int | None  # None for a named instance (``host\\instance``)
    database: str
    auth: Literal["sql", "service_principal"]
    uid: str  # SQL login, or the service principal's application (client) id
    pwd: str = field(repr=False)  # password, or the client secret
    driver: str = MSSQL_DEFAULT_DRIVER
    encrypt: bool = True  # ODBC Driver 18 encrypts by default
    trust_cert: bool = False

    @property
    def server_arg(self) -> str:
        return self.server if self.port is None else f"{self.server},{self.port}"

    def odbc_params(self) -> dict[str, str]:
        """The ODBC keywords (ODBC Driver 18: ``Authentication=ActiveDirectoryServicePrincipal``
        takes the client id as UID and the secret as PWD)."""
        params = {"DRIVER": self.driver, "SERVER": self.server_arg, "DATABASE": self.database}
        if self.auth == "service_principal":
            params["Authentication"] = "ActiveDirectoryServicePrincipal"
        params |= {"UID": self.uid, "PWD": self.pwd}
        params["Encrypt"] = "yes" if self.encrypt else "no"
        params["TrustServerCertificate"] = "yes" if self.trust_cert else "no"
        return params

    def odbc_connect_string(self) -> str:
        """For ``pyodbc.connect`` (and SQLAlchemy's ``odbc_connect``)."""
        params = self.odbc_params()
        driver = "DRIVER={" + params.pop("DRIVER").replace("}", "}}") + "}"  # braced, as SQLAlchemy and dbt write it
        return ";".join([driver, *(f"{k}={_odbc_value(v)}" for k, v in params.items())])

    def dlt_credentials(self) -> dict[str, Any]:
        """dlt's ``MsSqlCredentials``: the keywords it has no field for go in ``query``, which dlt
        appends to its ODBC string (without them dlt would drop Encrypt/TrustServerCertificate)."""
        params = self.odbc_params()
        extra = ("Authentication", "Encrypt", "TrustServerCertificate")
        return {
            "host": self.server,
            "port": self.port or 1433,
            "database": self.database,
            "username": self.uid,
            "password": self.pwd,
            "driver": self.driver,
            "query": {k: params[k] for k in extra if k in params},
        }

    def sqlalchemy_url(self):
        """A ``mssql+pyodbc`` URL carrying exactly :meth:`odbc_connect_string` (SQLAlchemy's
        documented pass-through), for GX and pandas."""
        from sqlalchemy.engine import URL

        return URL.create("mssql+pyodbc", query={"odbc_connect": self.odbc_connect_string()})

    def dbt_env(self) -> dict[str, str]:
        """The variables ``dbt_project/profiles.yml`` reads, normalised (for the dbt subprocess)."""
        keys = ("user", "password") if self.auth == "sql" else ("client_id", "client_secret")
        return {
            MSSQL_ENV["server"]: self.server,
            MSSQL_ENV["port"]: str(self.port or ""),
            MSSQL_ENV["database"]: self.database,
            MSSQL_ENV["auth"]: self.auth,
            MSSQL_ENV[keys[0]]: self.uid,
            MSSQL_ENV[keys[1]]: self.pwd,
            MSSQL_ENV["driver"]: self.driver,
            MSSQL_ENV["encrypt"]: "true" if self.encrypt else "false",
            MSSQL_ENV["trust_cert"]: "true" if self.trust_cert else "false",
        }


def _flag(environ: Mapping[str, str], key: str, default: bool) -> bool:
    value = (environ.get(MSSQL_ENV[key]) or "").strip().lower()
    if not value:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(f"{MSSQL_ENV[key]} must be true or false, not {value!r}")


def mssql_connection(environ: Mapping[str, str] | None = None) -> MssqlConnection:
    """THE SQL Server connection settings (from ``environ``, default the process environment).
    Raises :class:`ConfigError` naming every missing variable, never a value."""
    env = os.environ if environ is None else environ
    get = {k: (env.get(v) or "").strip() for k, v in MSSQL_ENV.items()}
    auth = (get["auth"] or "sql").lower().replace("-", "_")
    if auth not in ("sql", "service_principal"):
        raise ConfigError(f"KORE_MSSQL_AUTH must be 'sql' or 'service_principal', not {auth!r}")
    secret_keys = ("user", "password") if auth == "sql" else ("client_id", "client_secret")
    missing = [MSSQL_ENV[k] for k in ("server", "database", *secret_keys) if not get[k]]
    if missing:
        how = "a SQL login" if auth == "sql" else "an Entra ID service principal"
        raise ConfigError(f"SQL Server ({how}) needs these environment variables: {', '.join(missing)}")
    named_instance = "\\" in get["server"]
    port = get["port"] or ("" if named_instance else "1433")
    if port and not port.isdigit():
        raise ConfigError(f"KORE_MSSQL_PORT must be a number, not {port!r}")
    return MssqlConnection(
        server=get["server"],
        port=int(port) if port else None,
        database=get["database"],
        auth=auth,  # type: ignore[arg-type]
        uid=get[secret_keys[0]],
        pwd=(env.get(MSSQL_ENV[secret_keys[1]]) or ""),  # a password may start or end with a space
        driver=get["driver"] or MSSQL_DEFAULT_DRIVER,
        encrypt=_flag(env, "encrypt", True),
        trust_cert=_flag(env, "trust_cert", False),
    )


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
    # memory_limit of dbt's own DuckDB connection (KORE_DBT_DUCKDB_MEMORY_LIMIT, passed to the profile):
    # without one a 1M-account full build peaked at 19.4 GB; past the limit DuckDB spills to
    # <warehouse>.tmp beside the warehouse file (the workdir). 4GB does not slow the 1M build.
    dbt_duckdb_memory_limit: str = "4GB"
    # per-entity retraction policy overrides, KORE_RETRACTIONS="TicketPurchaseKoreps=deactivate,Contact=keep"
    # (defaults and meaning: reverse_etl.retractions)
    retractions: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # HTTP clients (Archtics API, CRM): total seconds one call may take with its retries
    # (KORE_HTTP_CALL_DEADLINE) and seconds one run may spend failing and waiting
    # (KORE_HTTP_RUN_DEADLINE); a healthy long run is not cut, a degraded one ends with a clear error
    http_call_deadline: float = 120.0
    http_run_deadline: float = 600.0
    # KORE_SCHEMA_PREFIX: dbt builds every schema as <prefix>_<schema> (an analyst's own schemas on a
    # shared server; macros/generate_schema_name.sql). Empty (production): the documented schemas.
    schema_prefix: str = ""
    # export landing: the largest share of a file's / a dataset's rows that may be quarantined
    # (KORE_MAX_BAD_SHARE_FILE / KORE_MAX_BAD_SHARE_DATASET); beyond it the landing fails. Within it
    # the outcome is "partial" and the run exits non-zero unless KORE_ALLOW_QUARANTINE=1.
    max_bad_share_file: float = 0.001
    max_bad_share_dataset: float = 0.001
    allow_quarantine: bool = False
    # dbt unit tests and code_invariant checks test the project's code, not the data: CI runs them
    # (dbt's advice for unit tests); a build runs them only when asked (KORE_DBT_CODE_TESTS=1 or
    # `kore build --code-tests`), e.g. after editing models without CI
    dbt_code_tests: bool = False

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
        """dlt's data directory (``DLT_DATA_DIR``); pipelines live in its ``pipelines/`` folder, where
        ``DLT_DATA_DIR=<workdir>/.dlt_data dlt pipeline --list-pipelines`` finds them."""
        return self.workdir / ".dlt_data"

    @property
    def dlt_pipelines_dir(self) -> Path:
        return self.dlt_data_dir / "pipelines"

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
            "KORE_DBT_DUCKDB_MEMORY_LIMIT": self.dbt_duckdb_memory_limit,
            "KORE_CRM_FLAVOR": self.crm_flavor,
            "KORE_EXCLUDED_ACCOUNT_TYPES": ",".join(self.excluded_account_types),
            "KORE_RETRACTIONS": ",".join(f"{e}={p}" for e, p in self.retractions),
            "KORE_HTTP_CALL_DEADLINE": str(self.http_call_deadline),
            "KORE_HTTP_RUN_DEADLINE": str(self.http_run_deadline),
            "DLT_PROJECT_DIR": str(REPO_ROOT),
            "DLT_DATA_DIR": str(self.dlt_data_dir),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.dbt_log_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "KORE_SCHEMA_PREFIX": self.schema_prefix,
            **(mssql_connection().dbt_env() if self.target == "sqlserver" else {}),
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


def dbt_parse_cache() -> Path | None:
    """``KORE_DBT_PARSE_CACHE``: a folder where dbt's parse state (``partial_parse.msgpack``) is kept
    for new workdirs on this machine (CI, tests, benchmarks, several developers' workdirs), so a
    workdir's first dbt command parses only what differs instead of the whole project (~9 s here, a
    partial parse ~4 s). dbt itself checks the state it is given (its version, every project file,
    the profile, vars and environment) and parses in full on any difference: the cache can make a
    first parse faster, never different. Unset: no cache (each workdir keeps its own state)."""
    value = os.environ.get("KORE_DBT_PARSE_CACHE", "").strip()
    return Path(value) if value else None


def _env_yes(name: str) -> bool:
    """An opt-in switch of the environment: 1, true or yes (any case); anything else is off."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def get_settings(workdir: str | Path | None = None) -> Settings:
    """Resolve settings: explicit workdir, else ``KORE_WORKDIR``, else the current directory."""
    wd = Path(workdir or os.environ.get("KORE_WORKDIR") or Path.cwd()).resolve()
    target = os.environ.get("KORE_TARGET", "duckdb").lower()
    if target not in ("duckdb", "sqlserver"):
        raise ConfigError(
            f"KORE_TARGET must be 'duckdb' or 'sqlserver', not {target!r}", "set KORE_TARGET=duckdb or sqlserver"
        )
    flavor = os.environ.get("KORE_CRM_FLAVOR", "dynamics").lower()
    if flavor not in ("dynamics", "salesforce"):
        raise ConfigError(
            f"KORE_CRM_FLAVOR must be 'dynamics' or 'salesforce', not {flavor!r}", "set KORE_CRM_FLAVOR accordingly"
        )
    return Settings(
        workdir=wd,
        target=target,  # type: ignore[arg-type]
        crm_flavor=flavor,  # type: ignore[arg-type]
        excluded_account_types=_parse_list(os.environ.get("KORE_EXCLUDED_ACCOUNT_TYPES")),
        crm_timeout=float(os.environ.get("KORE_CRM_TIMEOUT") or 30.0),
        duckdb_memory_limit=os.environ.get("KORE_DUCKDB_MEMORY_LIMIT", "2GB").strip(),
        duckdb_threads=int(os.environ["KORE_DUCKDB_THREADS"]) if os.environ.get("KORE_DUCKDB_THREADS") else None,
        dbt_duckdb_memory_limit=os.environ.get("KORE_DBT_DUCKDB_MEMORY_LIMIT", "").strip() or "4GB",
        retractions=_parse_pairs(os.environ.get("KORE_RETRACTIONS")),
        http_call_deadline=float(os.environ.get("KORE_HTTP_CALL_DEADLINE") or 120.0),
        http_run_deadline=float(os.environ.get("KORE_HTTP_RUN_DEADLINE") or 600.0),
        schema_prefix=_schema_prefix(os.environ.get("KORE_SCHEMA_PREFIX")),
        max_bad_share_file=float(os.environ.get("KORE_MAX_BAD_SHARE_FILE") or 0.001),
        max_bad_share_dataset=float(os.environ.get("KORE_MAX_BAD_SHARE_DATASET") or 0.001),
        allow_quarantine=_env_yes("KORE_ALLOW_QUARANTINE"),
        dbt_code_tests=_env_yes("KORE_DBT_CODE_TESTS"),
    )


def _schema_prefix(value: str | None) -> str:
    prefix = (value or "").strip().lower()
    if prefix and not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", prefix):
        raise ConfigError(f"KORE_SCHEMA_PREFIX must be a plain lower-case name like 'dev_alice', not {prefix!r}")
    return prefix


def crm_credentials() -> dict[str, str]:
    """CRM API credentials (never logged): each from its variable, else dlt secrets ``[crm]`` under the
    key's name (``crm.client_secret``, ``crm.tenant_id``, ...); empty values are left out.

    Both: ``client_id`` (``KORE_CRM_CLIENT_ID``), ``client_secret`` (``KORE_CRM_CLIENT_SECRET``),
    ``ca_bundle`` (``KORE_CRM_CA_BUNDLE``, a private CA). Dynamics (MSAL client credentials):
    ``tenant_id`` (``KORE_CRM_TENANT``), ``authority`` (``KORE_CRM_AUTHORITY``, default
    ``https://login.microsoftonline.com/<tenant>``), ``scope`` (``KORE_CRM_SCOPE``). Salesforce:
    JWT bearer with ``username`` (``KORE_CRM_USERNAME``) + ``private_key_file``
    (``KORE_CRM_PRIVATE_KEY_FILE``) [+ ``audience``, ``KORE_CRM_AUDIENCE``], else client credentials;
    ``token_url`` (``KORE_CRM_TOKEN_URL``); the password flow with ``KORE_CRM_GRANT_TYPE=password``,
    ``KORE_CRM_PASSWORD``, ``KORE_CRM_SECURITY_TOKEN``."""
    names = {
        "client_id": "KORE_CRM_CLIENT_ID",
        "client_secret": "KORE_CRM_CLIENT_SECRET",
        "ca_bundle": "KORE_CRM_CA_BUNDLE",
        "tenant_id": "KORE_CRM_TENANT",
        "authority": "KORE_CRM_AUTHORITY",
        "scope": "KORE_CRM_SCOPE",
        "username": "KORE_CRM_USERNAME",
        "private_key_file": "KORE_CRM_PRIVATE_KEY_FILE",
        "audience": "KORE_CRM_AUDIENCE",
        "token_url": "KORE_CRM_TOKEN_URL",
        "grant_type": "KORE_CRM_GRANT_TYPE",
        "password": "KORE_CRM_PASSWORD",
        "security_token": "KORE_CRM_SECURITY_TOKEN",
    }
    values = {k: secret(v, f"crm.{k}") for k, v in names.items()}
    return {k: v for k, v in values.items() if v}


def archtics_credentials() -> dict[str, str]:
    """Archtics delta API credentials (never logged), each from its variable or dlt secrets
    ``[archtics]``; empty values left out."""
    values = {
        "client_id": secret("KORE_ARCHTICS_CLIENT_ID", "archtics.client_id"),
        "client_secret": secret("KORE_ARCHTICS_CLIENT_SECRET", "archtics.client_secret"),
    }
    return {k: v for k, v in values.items() if v}


def dlt_destination(settings: Settings):
    """The dlt destination for the configured warehouse (same database dbt builds in)."""
    import dlt

    if settings.target == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        # memory_limit/threads applied on each connection dlt opens (its loads and merges); rows of a
        # raw table have no meaningful order, and not keeping it makes DuckDB's inserts ~40% faster
        credentials = DuckDbCredentials()
        # the path set, not parsed: parsing it as a connection string imports SQLAlchemy (0.2 s of a
        # routine incremental)
        credentials.database = str(settings.duckdb_path)
        credentials.global_config = {**settings.duckdb_config(), "preserve_insertion_order": False}
        from kore.dlt_duckdb import duckdb  # dlt's, with quoted file paths (a workdir may hold a ')

        return duckdb(credentials=credentials)
    return dlt.destinations.mssql(credentials=mssql_connection().dlt_credentials())


class _ProjectDltConfig:
    """dlt reads ``.dlt/config.toml`` from the current directory; this registers the repo's own
    ``.dlt/config.toml`` and ``secrets.toml`` as extra providers (after the environment, which still
    wins), so every pipeline and :func:`secret` see the project's settings from any working
    directory without ``os.environ`` being changed."""

    registered = False
    SECRETS_NAME = "kore project secrets.toml"
    CONFIG_NAME = "kore project config.toml"

    @classmethod
    def providers(cls, settings_dir: Path) -> list:
        """The two providers reading ``settings_dir`` (the secrets first, as dlt orders them)."""
        from dlt.common.configuration.providers import ConfigTomlProvider, SecretsTomlProvider

        class _Config(ConfigTomlProvider):
            @property
            def name(self) -> str:
                return cls.CONFIG_NAME

        class _Secrets(SecretsTomlProvider):
            @property
            def name(self) -> str:
                return cls.SECRETS_NAME

        return [_Secrets(settings_dir=str(settings_dir)), _Config(settings_dir=str(settings_dir))]

    @classmethod
    def ensure(cls) -> None:
        if cls.registered:
            return
        import dlt

        for provider in cls.providers(REPO_ROOT / ".dlt"):
            dlt.config.register_provider(provider)
        cls.registered = True


def secret(env_name: str, dlt_key: str) -> str:
    """A credential: the ``KORE_*`` variable if set, else dlt's secrets (``dlt.secrets[dlt_key]``:
    dlt's own variable such as ``CRM__CLIENT_SECRET``, then ``.dlt/secrets.toml`` in the working
    directory, then the project's ``.dlt/secrets.toml``). Empty when none has it. Never logged."""
    value = os.environ.get(env_name, "")
    if value:
        return value
    import dlt

    _ProjectDltConfig.ensure()
    found = dlt.secrets.get(dlt_key)
    return "" if found is None else str(found)


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
        pipelines_dir=str(settings.dlt_pipelines_dir),
        **kwargs,
    )
