#!/usr/bin/env bash
# scripts/haproxy.sh — HAProxy, the load balancer the scale-out tests put in front of origin replicas. The tests
# start their own haproxy with a generated configuration on free loopback ports (test/helpers/haproxy.ts); this
# script only makes sure Debian's haproxy is installed, without starting the package's own service.
#
#   bash scripts/haproxy.sh install   install haproxy when missing (apt-get; needs root)
#   bash scripts/haproxy.sh check     exit 0 when /usr/sbin/haproxy is present, 1 otherwise
#
# Idempotent.
set -euo pipefail

PACKAGES="haproxy"
HAPROXY=/usr/sbin/haproxy
log() { echo "[haproxy] $*" >&2; }

# shellcheck source=lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

cmd_check() {
  [ -x "$HAPROXY" ] || { log "$HAPROXY not found — run: sudo bash $0 install"; return 1; }
  log "haproxy present: $("$HAPROXY" -v 2>/dev/null | head -1)"
}

cmd_install() {
  if [ -z "$(apt_missing $PACKAGES)" ]; then
    log "packages: all present ($PACKAGES)"
  else
    local guard=""
    if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
      # the package would start a system haproxy: the tests run their own, so services stay down during the install
      guard=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' > "$guard"
      chmod 755 "$guard"
    fi
    # shellcheck disable=SC2086 # PACKAGES is a word list
    apt_install_missing haproxy "$(mktemp -t wharf-haproxy-apt.XXXXXX.log)" --no-recommends $PACKAGES || {
      [ -z "$guard" ] || rm -f "$guard"
      exit 1
    }
    [ -z "$guard" ] || rm -f "$guard"
  fi
  cmd_check
}

install_or_check "$@"
