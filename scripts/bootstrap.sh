# shellcheck shell=bash
# Shared set-up for ./dev-up and ./run-tests: everything a fresh Debian machine needs.
#
#   1. PostgreSQL 15 server, pgTAP and pg_prove from Debian's packages -- installed
#      with apt when running as root and something is missing; an ordinary user who
#      lacks them is told the one command to run.
#   2. A virtual environment at .venv/ with tessera-db installed (editable, with the
#      test extras), refreshed whenever pyproject.toml changes.
#
# Sourced, not executed. Leaves REPO and VENV set.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PG_BIN="/usr/lib/postgresql/15/bin"
# postgresql-15-cron: the dev cluster preloads pg_cron (tessera-db jobs schedule; tests/test_jobs.py);
# postgresql-15-partman: tests/test_partitions.py builds a partition through pg_partman (docs/partitions.md).
APT_PACKAGES=(postgresql-15 postgresql-client-15 postgresql-15-pgtap postgresql-15-plpgsql-check postgresql-15-cron postgresql-15-partman libtap-parser-sourcehandler-pgtap-perl chromium chromium-driver)

say() { printf '==> %s\n' "$*" >&2; }

missing_system_parts() {
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/postgres" ] || echo postgresql-15
    command -v psql >/dev/null 2>&1 || echo postgresql-client-15
    compgen -G "/usr/share/postgresql/15/extension/pgtap.control" >/dev/null || echo postgresql-15-pgtap
    compgen -G "/usr/share/postgresql/15/extension/plpgsql_check.control" >/dev/null || echo postgresql-15-plpgsql-check
    compgen -G "/usr/share/postgresql/15/extension/pg_cron.control" >/dev/null || echo postgresql-15-cron
    compgen -G "/usr/share/postgresql/15/extension/pg_partman.control" >/dev/null || echo postgresql-15-partman
    command -v pg_prove >/dev/null 2>&1 || echo libtap-parser-sourcehandler-pgtap-perl
    command -v runuser >/dev/null 2>&1 || [ "$(id -u)" != 0 ] || echo util-linux
    # tests only: the policy matrix's HTML page is opened in a headless browser
    command -v chromium >/dev/null 2>&1 || echo chromium
    command -v chromedriver >/dev/null 2>&1 || echo chromium-driver
}

ensure_system_packages() {
    local missing
    missing="$(missing_system_parts | sort -u | tr '\n' ' ')"
    [ -z "${missing// /}" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        say "missing system packages: $missing"
        say "install them with: sudo apt-get install -y ${APT_PACKAGES[*]}"
        exit 1
    fi
    say "installing Debian packages: ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Do not let the package create and start a default cluster on port 5432: tessera-db
    # runs its own. (Only affects first installs; harmless if the file already exists.)
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" python3-venv >/dev/null
}

ensure_python() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null; then
        say "Python 3.11-3.13 is required (found: $("$python" --version 2>&1 || echo none)); set PYTHON=/path/to/python3.11"
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtual environment in .venv/"
        "$python" -m venv "$VENV"
    fi
    local stamp="$VENV/.tessera-installed"
    if [ ! -f "$stamp" ] || [ "$REPO/pyproject.toml" -nt "$stamp" ]; then
        say "installing tessera-db and its test dependencies into .venv/"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$REPO[test]"
        touch "$stamp"
    fi
}

ensure_system_packages
ensure_python
