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
die() { echo "[ldap] ERROR: $*" >&2; exit 1; }

missing_packages() {
  local p
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

cmd_check() {
  local b
  for b in /usr/sbin/slapd /usr/sbin/slaptest; do
    [ -x "$b" ] || { log "$b not found — run: sudo bash $0 install"; return 1; }
  done
  log "slapd present: $(/usr/sbin/slapd -VV 2>&1 | head -1)"
}

cmd_install() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    die "install needs a Debian/Ubuntu system with apt-get and dpkg-query (not found). Install these packages yourself: $PACKAGES"
  fi
  local missing
  mapfile -t missing < <(missing_packages)
  if [ ${#missing[@]} -eq 0 ]; then
    log "packages: all present ($PACKAGES)"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    die "missing packages: ${missing[*]} — installing them needs root. Run: sudo bash $0 install"
  fi
  export DEBIAN_FRONTEND=noninteractive
  # skip the package's own directory: the tests run a throw-away slapd with their own config
  echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
  local apt_log t0
  apt_log=$(mktemp -t wharf-ldap-apt.XXXXXX.log)
  t0=$(date +%s%3N)
  log "installing: ${missing[*]} (log: $apt_log)"
  local APT=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -y -q --no-install-recommends)
  # fast path without `update` (lists may already be fresh); on failure update the lists and retry
  if ! "${APT[@]}" install "${missing[@]}" >"$apt_log" 2>&1; then
    log "install without update failed; running apt-get update and retrying"
    if ! "${APT[@]}" update >>"$apt_log" 2>&1; then
      tail -20 "$apt_log" >&2
      die "apt-get update failed (see $apt_log)"
    fi
    if ! "${APT[@]}" install "${missing[@]}" >>"$apt_log" 2>&1; then
      tail -20 "$apt_log" >&2
      die "apt-get install ${missing[*]} failed (see $apt_log)"
    fi
  fi
  log "apt done in $(($(date +%s%3N) - t0)) ms"
  cmd_check
}

case "${1:-}" in
  install) cmd_install ;;
  check) cmd_check ;;
  *)
    echo "usage: $0 {install|check}" >&2
    exit 2
    ;;
esac
