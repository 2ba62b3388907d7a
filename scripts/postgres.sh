#!/usr/bin/env bash
# scripts/postgres.sh — PostgreSQL 15 for the tests of the origin and control plane on PostgreSQL (the scale-out
# issue). The tests start their own private instance (test/helpers/postgres.ts: initdb and pg_ctl as the postgres
# user, in a temporary folder, on a free port); this script only makes sure Debian's binaries are installed.
#
#   bash scripts/postgres.sh install   install postgresql-15 when missing (apt-get; needs root)
#   bash scripts/postgres.sh check     exit 0 when initdb and pg_ctl are present, 1 otherwise
#
# No system cluster is made: postgresql-common's create_main_cluster is turned off before the install, so nothing
# listens on 5432 afterwards and no system database exists. Idempotent.
set -euo pipefail

PACKAGES="postgresql-15"
BIN=/usr/lib/postgresql/15/bin
log() { echo "[postgres] $*" >&2; }

# shellcheck source=lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

cmd_check() {
  local b
  for b in "$BIN/initdb" "$BIN/pg_ctl" "$BIN/postgres"; do
    [ -x "$b" ] || { log "$b not found — run: sudo bash $0 install"; return 1; }
  done
  id postgres >/dev/null 2>&1 || { log "no postgres user — run: sudo bash $0 install"; return 1; }
  command -v runuser >/dev/null 2>&1 || { log "runuser not found (util-linux)"; return 1; }
  log "postgres present: $("$BIN/postgres" --version)"
}

cmd_install() {
  if [ -z "$(apt_missing $PACKAGES)" ]; then
    log "packages: all present ($PACKAGES)"
  else
    if [ "$(id -u)" -eq 0 ] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      # the tests run private instances; the package's own cluster would be a service nobody asked for
      mkdir -p /etc/postgresql-common
      echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
    fi
    # shellcheck disable=SC2086 # PACKAGES is a word list
    apt_install_missing postgres "$(mktemp -t wharf-postgres-apt.XXXXXX.log)" --no-recommends $PACKAGES || exit 1
  fi
  cmd_check
}

install_or_check "$@"
