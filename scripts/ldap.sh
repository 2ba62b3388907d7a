#!/usr/bin/env bash
# scripts/ldap.sh — OpenLDAP for Wharf's LDAP tests. The tests start their own private slapd on loopback
# (test/helpers/slapd.ts); this script only makes sure Debian's slapd and ldap-utils are installed.
#
#   bash scripts/ldap.sh install   install slapd + ldap-utils when missing (apt-get; needs root)
#   bash scripts/ldap.sh check     exit 0 when slapd and slaptest are present, 1 otherwise
#
# The package's own database is skipped (debconf slapd/no_configuration=true): nothing listens after the
# install, and no system-wide directory is created. Idempotent.
set -euo pipefail

PACKAGES="slapd ldap-utils openssl"
log() { echo "[ldap] $*" >&2; }

# shellcheck source=lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

cmd_check() {
  local b
  for b in /usr/sbin/slapd /usr/sbin/slaptest; do
    [ -x "$b" ] || { log "$b not found — run: sudo bash $0 install"; return 1; }
  done
  log "slapd present: $(/usr/sbin/slapd -VV 2>&1 | head -1)"
}

cmd_install() {
  if [ -z "$(apt_missing $PACKAGES)" ]; then
    log "packages: all present ($PACKAGES)"
  else
    # skip the package's own directory: the tests run a throw-away slapd with their own config
    [ "$(id -u)" -ne 0 ] || echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
    # shellcheck disable=SC2086 # PACKAGES is a word list
    apt_install_missing ldap "$(mktemp -t wharf-ldap-apt.XXXXXX.log)" --no-recommends $PACKAGES || exit 1
  fi
  cmd_check
}

install_or_check "$@"
