#!/usr/bin/env bash
# scripts/ui.sh — what the web UI's tests need: Debian's chromium, run by playwright-core (whose own
# `playwright install` cannot download browsers here), and a static busybox, the shell of the image the browser
# journey builds with docker (RUN lines need one; FROM scratch has none).
#
#   bash scripts/ui.sh install   install chromium and busybox-static when missing (apt-get; needs root)
#   bash scripts/ui.sh check     exit 0 when /usr/bin/chromium and /bin/busybox are present, 1 otherwise
#
# Idempotent.
set -euo pipefail

PACKAGES="chromium busybox-static"
CHROMIUM=/usr/bin/chromium
BUSYBOX=/bin/busybox
log() { echo "[ui] $*" >&2; }

# shellcheck source=lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

cmd_check() {
  [ -x "$CHROMIUM" ] || { log "$CHROMIUM not found — run: sudo bash $0 install"; return 1; }
  [ -x "$BUSYBOX" ] || { log "$BUSYBOX not found — run: sudo bash $0 install"; return 1; }
  log "chromium present: $("$CHROMIUM" --version 2>/dev/null | head -1); busybox at $BUSYBOX"
}

cmd_install() {
  # recommended packages are fonts and the like the headless tests do not need
  # shellcheck disable=SC2086 # PACKAGES is a word list
  apt_install_missing ui "$(mktemp -t wharf-ui-apt.XXXXXX.log)" --no-recommends $PACKAGES || exit 1
  cmd_check
}

install_or_check "$@"
