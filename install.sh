#!/usr/bin/env bash
# Install the project into the current Python (system Python as root, or an active venv).
#   ./install.sh          runtime (kore CLI, dbt, dlt, dedup, GX) + the sandbox and benchmarks extras
#   ./install.sh --dev    plus the test and lint tools
#   ./install.sh --prod   runtime only (no sandbox, no benchmarks)
# pyodbc (the SQL Server driver manager binding) needs the Debian package unixodbc; it is installed
# here when we can (root + apt); otherwise the SQL Server tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")"
extras="[sandbox,bench]"
[ "${1:-}" = "--dev" ] && extras="[dev]"
[ "${1:-}" = "--prod" ] && extras=""
PY="${PYTHON:-python3}"

if ! ldconfig -p 2>/dev/null | grep -q 'libodbc.so.2'; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: installing Debian package unixodbc (needed by pyodbc/dbt-sqlserver)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unixodbc >/dev/null) \
      || echo "install.sh: could not install unixodbc; SQL Server tests will skip"
  else
    echo "install.sh: libodbc.so.2 not found and cannot apt-get install unixodbc; SQL Server tests will skip"
  fi
fi

"$PY" -m pip install --disable-pip-version-check -q -e ".${extras}"
# pyenv installs console scripts behind shims that need a rehash to appear on PATH
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
echo "install.sh: done ($("$PY" --version)); run 'kore --help'"
