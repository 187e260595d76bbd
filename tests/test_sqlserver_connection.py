"""One SQL Server connection builder (``kore.config.mssql_connection``) feeds all four consumers.

No SQL Server runs here, so each consumer is taken to the last step before the network: the ODBC
connection string it would hand to the driver. dbt's comes from dbt-sqlserver's own builder over the
profile dbt renders from ``profiles.yml`` (both as plain dbt reads the raw variables and as ``kore``
passes them); dlt's from its resolved ``MsSqlCredentials``; GX's from the SQLAlchemy engine's
``create_connect_args``; the Python steps' from what ``kore.warehouse`` passes to ``pyodbc.connect``.
The opt-in live test (``KORE_MSSQL_SERVER`` set) connects for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from kore.config import DBT_PROJECT_DIR, REPO_ROOT, ConfigError, dlt_destination, get_settings, mssql_connection

pyodbc = pytest.importorskip("pyodbc", reason="pyodbc needs libodbc.so.2: apt-get install unixodbc")

ENVS = {
    "sql login, self-signed server": {
        "KORE_MSSQL_SERVER": "db.example.invalid",
        "KORE_MSSQL_PORT": "14330",
        "KORE_MSSQL_DATABASE": "Kore",
        "KORE_MSSQL_USER": "kore_loader",
        "KORE_MSSQL_PASSWORD": "p;w}rd",
        "KORE_MSSQL_ENCRYPT": "Yes",
        "KORE_MSSQL_TRUST_CERT": "TRUE",
    },
    "service principal, defaults": {
        "KORE_MSSQL_SERVER": "kore.database.windows.net",
        "KORE_MSSQL_DATABASE": "kore",
        "KORE_MSSQL_AUTH": "service_principal",
        "KORE_MSSQL_CLIENT_ID": "00000000-1111-2222-3333-444444444444",
        "KORE_MSSQL_CLIENT_SECRET": "s3cr=t",
    },
    "no encryption": {
        "KORE_MSSQL_SERVER": "10.0.0.5",
        "KORE_MSSQL_DATABASE": "kore",
        "KORE_MSSQL_USER": "u",
        "KORE_MSSQL_PASSWORD": "p",
        "KORE_MSSQL_ENCRYPT": "no",
    },
}
KEYS = ("driver", "server", "database", "authentication", "uid", "pwd", "encrypt", "trustservercertificate")


def parse_odbc(conn_str: str) -> dict[str, str]:
    """An ODBC connection string as {lower-case keyword: value} (braced values unescaped)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(conn_str):
        eq = conn_str.index("=", i)
        key = conn_str[i:eq].strip().lower()
        if conn_str[eq + 1 : eq + 2] == "{":
            j, value = eq + 2, []
            while not (conn_str[j] == "}" and conn_str[j + 1 : j + 2] != "}"):
                value.append(conn_str[j])
                j += 2 if conn_str[j : j + 2] == "}}" else 1
            out[key], i = "".join(value), j + 2
        else:
            end = conn_str.find(";", eq)
            end = len(conn_str) if end < 0 else end
            out[key], i = conn_str[eq + 1 : end], end + 1
    return out


def canonical(conn_str: str) -> dict[str, str]:
    """The settings that must agree, spelled one way (yes/no flags; dlt lower-cases the database)."""
    params = parse_odbc(conn_str)
    flags = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
    out = {k: params[k] for k in KEYS if k in params}
    for k in ("encrypt", "trustservercertificate"):
        out[k] = flags[out[k].lower()]
    out["database"] = out["database"].lower()
    return out


def _clean_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for k in list(os.environ):
        if k.startswith("KORE_MSSQL_"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("KORE_TARGET", "sqlserver")


def dbt_connection_string(env: dict[str, str]) -> str:
    """What dbt-sqlserver would connect with: the profile rendered by dbt from ``env``."""
    from dbt.adapters.sqlserver.sqlserver_backend import build_pyodbc_connection_string
    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_invocation_context(env)  # dbt's env_var() reads this mapping, not os.environ
    set_from_args(Namespace(), None)
    profile = Profile.from_raw_profiles(read_profile(str(DBT_PROJECT_DIR)), "kore", ProfileRenderer({}))
    assert profile.target_name == "sqlserver"
    return build_pyodbc_connection_string(profile.credentials)


def consumer_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    from expectations.frames import mssql_engine
    from kore.warehouse import Warehouse

    _clean_env(monkeypatch, env)
    settings = get_settings(tmp_path)
    out = {
        "dbt (plain, raw variables)": dbt_connection_string({**env, "KORE_TARGET": "sqlserver"}),
        "dbt (kore subprocess env)": dbt_connection_string(settings.env()),
    }
    dest = dlt_destination(settings)
    out["dlt mssql destination"] = dest.configuration(
        dest.spec()._bind_dataset_name(dataset_name="raw_x")
    ).credentials.to_odbc_dsn()
    engine = mssql_engine(settings)
    out["GX / SQLAlchemy"] = engine.dialect.create_connect_args(engine.url)[0][0]

    class Reached(Exception):
        pass

    def connect(conn_str: str, **kw):  # the network step: no SQL Server runs here
        out["Python steps (pyodbc)"] = conn_str
        raise Reached

    monkeypatch.setattr(pyodbc, "connect", connect)
    with pytest.raises(Reached):
        Warehouse(settings)
    return out


@pytest.mark.parametrize("case", list(ENVS))
def test_every_consumer_connects_with_the_builders_settings(case: str, tmp_path: Path, monkeypatch) -> None:
    env = ENVS[case]
    expected = canonical(mssql_connection(env).odbc_connect_string())
    got = consumer_strings(tmp_path, monkeypatch, env)
    assert set(got) == {"dbt (plain, raw variables)", "dbt (kore subprocess env)", "dlt mssql destination",
                        "GX / SQLAlchemy", "Python steps (pyodbc)"}  # fmt: skip
    for consumer, conn_str in got.items():
        assert canonical(conn_str) == expected, consumer
    if "KORE_MSSQL_TRUST_CERT" in env:  # dlt used to drop Encrypt/TrustServerCertificate
        assert expected["trustservercertificate"] == "yes"
    if env.get("KORE_MSSQL_AUTH") == "service_principal":
        assert expected["authentication"] == "ActiveDirectoryServicePrincipal"
        assert expected["uid"] == env["KORE_MSSQL_CLIENT_ID"]


def test_builder_defaults_and_named_instance() -> None:
    conn = mssql_connection(
        {
            "KORE_MSSQL_SERVER": r"sql01\KORE",
            "KORE_MSSQL_DATABASE": "kore",
            "KORE_MSSQL_USER": "u",
            "KORE_MSSQL_PASSWORD": "p",
        }  # fmt: skip
    )
    params = conn.odbc_params()
    assert params["SERVER"] == r"sql01\KORE" and conn.port is None  # a named instance has no port
    assert params["DRIVER"] == "ODBC Driver 18 for SQL Server"
    assert (params["Encrypt"], params["TrustServerCertificate"]) == ("yes", "no")  # Driver 18's defaults
    assert "p" not in repr(conn).replace("port", "").split("pwd")[0][-3:]  # the secret is not in repr
    assert "pwd" not in repr(conn)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KORE_MSSQL_PASSWORD": "hunter2-secret"}, ["KORE_MSSQL_SERVER", "KORE_MSSQL_DATABASE", "KORE_MSSQL_USER"]),
        ({"KORE_MSSQL_AUTH": "service_principal", "KORE_MSSQL_SERVER": "s", "KORE_MSSQL_DATABASE": "d",
          "KORE_MSSQL_USER": "u", "KORE_MSSQL_PASSWORD": "hunter2-secret"},
         ["KORE_MSSQL_CLIENT_ID", "KORE_MSSQL_CLIENT_SECRET"]),
    ],
)  # fmt: skip
def test_missing_variables_are_named_in_one_line(env: dict[str, str], named: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        mssql_connection(env)
    message = str(err.value)
    assert "\n" not in message and "hunter2-secret" not in message
    assert message.endswith(": " + ", ".join(named))


@pytest.mark.parametrize(
    ("key", "value"), [("KORE_MSSQL_ENCRYPT", "maybe"), ("KORE_MSSQL_AUTH", "windows"), ("KORE_MSSQL_PORT", "14x")]
)
def test_bad_values_are_user_errors(key: str, value: str) -> None:
    env = {"KORE_MSSQL_SERVER": "s", "KORE_MSSQL_DATABASE": "d", "KORE_MSSQL_USER": "u", "KORE_MSSQL_PASSWORD": "p"}
    with pytest.raises(ConfigError, match=key):
        mssql_connection({**env, key: value})


def test_a_kore_run_on_sqlserver_without_variables_fails_before_dbt(tmp_path: Path, monkeypatch) -> None:
    """Settings.env() (what dbt and the sandbox get) needs the connection: the error names the variables."""
    _clean_env(monkeypatch, {})
    with pytest.raises(ConfigError, match="KORE_MSSQL_SERVER, KORE_MSSQL_DATABASE"):
        get_settings(tmp_path).env()


@pytest.mark.sqlserver
@pytest.mark.skipif(not os.environ.get("KORE_MSSQL_SERVER"), reason="KORE_MSSQL_SERVER not set (no SQL Server here)")
def test_live_python_and_gx_connections(tmp_path: Path, monkeypatch) -> None:
    """Opt-in: the Python steps and GX reach the configured server with the builder's settings."""
    from expectations.frames import mssql_engine
    from kore.warehouse import connect

    monkeypatch.setenv("KORE_TARGET", "sqlserver")
    settings = get_settings(tmp_path)
    with connect(settings) as wh:
        assert wh.scalar("select 1") == 1
    with mssql_engine(settings).connect() as con:
        assert con.exec_driver_sql("select 1").scalar() == 1


def test_install_sh_registers_odbc_driver_18_and_the_builders_string_reaches_it(tmp_path: Path) -> None:
    """`install.sh --sqlserver`'s driver step, without root (ODBCSYSINI): Microsoft's ODBC Driver 18 from
    the mssql-python-odbc wheel is registered with unixODBC; the driver then parses the builder's
    connection string (SQL login and service principal) and fails only at the network."""
    pytest.importorskip("mssql_python_odbc", reason="pip install -e '.[sqlserver]'")
    install = ["bash", "-c", "source ./install.sh && install_driver"]
    env = {**os.environ, "ODBCSYSINI": str(tmp_path), "PYTHON": sys.executable}
    env.pop("ACCEPT_EULA", None)
    refused = subprocess.run(install, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "ACCEPT_EULA=Y" in refused.stdout  # the licence is the user's call
    done = subprocess.run(install, cwd=REPO_ROOT, env=env | {"ACCEPT_EULA": "Y"}, capture_output=True, text=True)
    assert done.returncode == 0 and "registered" in done.stdout, done.stdout + done.stderr
    probe = (
        "import pyodbc, sys; from kore.config import mssql_connection as m\n"
        "assert 'ODBC Driver 18 for SQL Server' in pyodbc.drivers(), pyodbc.drivers()\n"
        "base = {'KORE_MSSQL_SERVER': '127.0.0.1', 'KORE_MSSQL_PORT': '9', 'KORE_MSSQL_DATABASE': 'kore'}\n"
        "for auth in ({'KORE_MSSQL_USER': 'u', 'KORE_MSSQL_PASSWORD': 'p;}x'}, {'KORE_MSSQL_AUTH': 'service_principal',"
        " 'KORE_MSSQL_CLIENT_ID': '00000000-1111-2222-3333-444444444444', 'KORE_MSSQL_CLIENT_SECRET': 's'}):\n"
        "    try:\n"
        "        pyodbc.connect(m({**base, **auth}).odbc_connect_string(), timeout=2)\n"
        "    except pyodbc.Error as err:\n"
        "        print(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": str(REPO_ROOT)})  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 2, proc.stdout + proc.stderr
    for line in lines:  # the driver itself answered: it took the string and tried to log in
        assert "[Microsoft][ODBC Driver 18 for SQL Server]" in line and "timeout" in line.lower(), line
