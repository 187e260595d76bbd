#!/usr/bin/env bash
# Install the project into the current Python (system Python as root, or an active venv).
#   ./install.sh              runtime (kore CLI, dbt, dlt, dedup, GX) + the sandbox and benchmarks extras
#   ./install.sh --dev        plus the test and lint tools
#   ./install.sh --prod       runtime only (no sandbox, no benchmarks)
#   ACCEPT_EULA=Y ./install.sh --sqlserver [--prod|--dev]
#                             plus Microsoft's ODBC Driver 18 for SQL Server (its licence must be accepted)
# pyodbc (the SQL Server driver manager binding) needs the Debian package unixodbc; it is installed
# here when we can (root + apt); otherwise the SQL Server tests skip and say why.
set -euo pipefail
PY="${PYTHON:-python3}"
DRIVER="ODBC Driver 18 for SQL Server"

driver_registered() {
  "$PY" -c "import pyodbc, sys; sys.exit(0 if '$DRIVER' in pyodbc.drivers() else 1)" 2>/dev/null
}

# Microsoft's ODBC Driver 18 (README "SQL Server"): Microsoft's apt repository first (package
# msodbcsql18, learn.microsoft.com/sql/connect/odbc/linux-mac/installing-the-microsoft-odbc-driver-for-sql-server);
# where that repository is unreachable, the same driver from the mssql-python-odbc wheel, registered
# in unixODBC's odbcinst.ini (/etc, or $ODBCSYSINI without root: export ODBCSYSINI for every run
# then). Both need the licence accepted (ACCEPT_EULA=Y).
install_driver() {
  if driver_registered; then
    echo "install.sh: $DRIVER is already registered with unixODBC"
    return 0
  fi
  if [ "${ACCEPT_EULA:-}" != "Y" ]; then
    echo "install.sh: $DRIVER not installed: accept Microsoft's licence and rerun: ACCEPT_EULA=Y ./install.sh --sqlserver"
    return 1
  fi
  if [ -z "${ODBCSYSINI:-}" ] && { [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; }; then
    echo "install.sh: $DRIVER not installed: needs root and apt-get (README \"SQL Server\" lists the steps)," \
      "or ODBCSYSINI=DIR to register the wheel's driver in DIR/odbcinst.ini without root"
    return 1
  fi
  . /etc/os-release
  local deb=/tmp/packages-microsoft-prod.deb
  if [ -z "${ODBCSYSINI:-}" ] && curl -fsSL -o "$deb" "https://packages.microsoft.com/config/${ID}/${VERSION_ID%%.*}/packages-microsoft-prod.deb" \
    && dpkg -i "$deb" >/dev/null && apt-get update -qq \
    && ACCEPT_EULA=Y DEBIAN_FRONTEND=noninteractive apt-get install -y -qq msodbcsql18 >/dev/null; then
    rm -f "$deb"
    echo "install.sh: installed msodbcsql18 from Microsoft's repository"
  else
    rm -f "$deb"
    echo "install.sh: registering the driver of the mssql-python-odbc wheel in ${ODBCSYSINI:-/etc}/odbcinst.ini"
    local lib
    lib=$("$PY" -c "
import glob, os, mssql_python_odbc
d = os.path.join(os.path.dirname(mssql_python_odbc.__file__), 'libs', 'linux', 'debian_ubuntu', os.uname().machine)
print((sorted(glob.glob(os.path.join(d, 'lib', 'libmsodbcsql-18.*.so*'))) or [''])[-1])")
    if [ -z "$lib" ]; then
      echo "install.sh: no libmsodbcsql-18 in the mssql-python-odbc wheel for $(uname -m)"
      return 1
    fi
    printf '[%s]\nDescription=Microsoft ODBC Driver 18 for SQL Server\nDriver=%s\nUsageCount=1\n' "$DRIVER" "$lib" \
      >> "${ODBCSYSINI:-/etc}/odbcinst.ini"
  fi
  driver_registered && echo "install.sh: $DRIVER registered with unixODBC"
}

main() {
  cd "$(dirname "$0")"
  extras="sandbox,bench"
  sqlserver=no
  for arg in "$@"; do
    case "$arg" in
      --dev) extras="dev" ;;
      --prod) extras="" ;;
      --sqlserver) sqlserver=yes ;;
      *) echo "install.sh: unknown option $arg (use --dev, --prod, --sqlserver)" >&2; exit 2 ;;
    esac
  done
  [ "$sqlserver" = yes ] && extras="${extras:+$extras,}sqlserver"
  if ! ldconfig -p 2>/dev/null | grep -q 'libodbc.so.2'; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "install.sh: installing Debian package unixodbc (needed by pyodbc/dbt-sqlserver)"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unixodbc >/dev/null) \
        || echo "install.sh: could not install unixodbc; SQL Server tests will skip"
    else
      echo "install.sh: libodbc.so.2 not found and cannot apt-get install unixodbc; SQL Server tests will skip"
    fi
  fi

  "$PY" -m pip install --disable-pip-version-check -q -e ".${extras:+[$extras]}"
  # pyenv installs console scripts behind shims that need a rehash to appear on PATH
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true

  if [ "$sqlserver" = yes ]; then
    install_driver || echo "install.sh: the SQL Server target cannot connect until the driver is installed"
  fi
  echo "install.sh: done ($("$PY" --version)); run 'kore --help'"
}

# sourced (tests call install_driver): define the functions only
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
