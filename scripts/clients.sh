#!/usr/bin/env bash
# scripts/clients.sh — private real registry clients (dockerd, containerd, podman, skopeo) for Wharf's
# end-to-end tests. Debian 12, root, no systemd needed; everything lives under one base dir and
# talks over unix sockets / loopback only. Idempotent.
#
#   bash scripts/clients.sh install   install missing Debian packages (apt-get; needs root)
#   bash scripts/clients.sh up        start private dockerd + containerd in a new folder of their own, print exports
#   bash scripts/clients.sh env       print the export lines only
#   bash scripts/clients.sh status    show what is running
#   bash scripts/clients.sh down      stop what `up` started there, unmount leftovers, remove the folder
#
# Typical use:   eval "$(bash scripts/clients.sh up)"  …  bash scripts/clients.sh down
#
# Each `up` without WHARF_CLIENTS_DIR makes a new folder (mktemp -d /tmp/wharf-clients.XXXXXX) and prints it as
# WHARF_CLIENTS_DIR among the export lines, so two runs on one machine never share daemons, and `down`, `env` and
# `status` act on the folder WHARF_CLIENTS_DIR names and on nothing else: `down` signals only the daemons whose
# pid files are in that folder and whose command lines name it. The daemons listen on unix sockets in the folder
# only, never on a TCP port.
#
# Knobs:
#   WHARF_CLIENTS_DIR       the run's folder: given to `up`, it reuses (or starts) the daemons there
#   WHARF_CLIENTS_STORAGE   dockerd storage driver (default vfs)
#   WHARF_CLIENTS_PACKAGES  override the package list for `install`
#   WHARF_CLIENTS_INSTALL=1 make `up` run `install` first (CI on a fresh machine)
#   WHARF_CLIENTS_KEEP=1    make `down` keep the folder (logs, images) after stopping the daemons
#
# Gotchas (see also test/helpers/clients.ts):
#   * /usr/local/bin/docker may be a static CLI 28 that shadows Debian's 20.10 CLI; it talks to
#     dockerd 20.10 by downgrading the API. Use DOCKER_BUILDKIT=0 for `docker build`.
#   * podman/skopeo need --tls-verify=false for plain-HTTP 127.0.0.1 registries.
#   * podman run needs `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024` in this kind of sandbox.
set -euo pipefail

log() { echo "[clients] $*" >&2; }
die() { echo "[clients] ERROR: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# a folder `up` made carries this file; `down` removes only such a folder (one given in WHARF_CLIENTS_DIR stays)
MARKER=.wharf-clients
if [ -n "${WHARF_CLIENTS_DIR:-}" ]; then
  BASE=$WHARF_CLIENTS_DIR
elif [ "${1:-}" = up ]; then
  BASE=$(mktemp -d "${TMPDIR:-/tmp}/wharf-clients.XXXXXX")
  touch "$BASE/$MARKER"
else
  case "${1:-}" in down | env | status)
    # shellcheck disable=SC2016 # the backquotes are text
    die "WHARF_CLIENTS_DIR is not set: name the folder \`up\` printed, e.g. WHARF_CLIENTS_DIR=/tmp/wharf-clients.abc123 bash $0 ${1}" ;;
  esac
  BASE=/nonexistent
fi
# the base dir must be absolute: pid ownership checks match it against /proc/PID/cmdline
case "$BASE" in /*) ;; *) BASE="$(pwd)/$BASE" ;; esac
BASE=${BASE%/}
PIDS=$BASE/pids
LOGS=$BASE/logs
D=$BASE/docker
DOCKER_SOCK=$D/docker.sock
C=$BASE/containerd
CONTAINERD_SOCK=$C/containerd.sock
STORAGE=${WHARF_CLIENTS_STORAGE:-vfs}
PACKAGES=${WHARF_CLIENTS_PACKAGES:-"docker.io containerd runc skopeo podman buildah docker-registry jq"}
# binaries the tests need (`up` refuses to start without them)
REQUIRED_BINS="dockerd docker containerd ctr runc podman skopeo"

# ---------------------------------------------------------------------------------------------- install

# shellcheck source=lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

cmd_install() {
  # apt's output goes to the run's folder when there is one, else to a file written only if apt runs
  local apt_log=${TMPDIR:-/tmp}/wharf-clients-apt.$$.log
  if [ -n "${WHARF_CLIENTS_DIR:-}" ]; then mkdir -p "$LOGS" && apt_log=$LOGS/apt.log; fi
  # shellcheck disable=SC2086 # PACKAGES is a word list
  apt_install_missing clients "$apt_log" $PACKAGES || exit 1
}

# ------------------------------------------------------------------------------------------ pid helpers

# every daemon we start carries $BASE in its command line: guards against signalling a reused pid
is_ours() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF "$BASE/"; }
pid_of() { cat "$1" 2>/dev/null || true; }
# alive = exists and is not a zombie (a killed daemon stays a zombie until init reaps it)
proc_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
pid_alive() { # pidfile
  local pid; pid=$(pid_of "$1")
  proc_alive "$pid" && is_ours "$pid"
}

docker_ok() { DOCKER_HOST=unix://$DOCKER_SOCK timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
containerd_ok() { timeout 10 ctr -a "$CONTAINERD_SOCK" version >/dev/null 2>&1; }

wait_ready() { # label check_fn pid timeout_s logfile
  local label=$1 check=$2 pid=$3 timeout_s=$4 logfile=$5 i
  for ((i = 0; i < timeout_s * 10; i++)); do
    "$check" && return 0
    if ! proc_alive "$pid"; then
      log "$label exited during startup; last log lines ($logfile):"
      tail -20 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  log "$label not answering after ${timeout_s}s; last log lines ($logfile):"
  tail -20 "$logfile" >&2 || true
  return 1
}

# ------------------------------------------------------------------------------------------------- up

check_bins() {
  local b missing=()
  for b in $REQUIRED_BINS; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing client binaries: ${missing[*]}. Install them with: sudo bash $0 install"
  fi
  [ "$(id -u)" -eq 0 ] || die "dockerd/containerd need root (running as uid $(id -u))"
}

dockerd_bin() { command -v dockerd 2>/dev/null || echo /usr/sbin/dockerd; }
containerd_bin() { command -v containerd 2>/dev/null || echo /usr/sbin/containerd; }

start_dockerd() {
  mkdir -p "$D/data" "$D/exec" "$PIDS" "$LOGS"
  # an empty config file keeps /etc/docker/daemon.json (if any) out of the picture
  [ -f "$D/daemon.json" ] || echo '{}' >"$D/daemon.json"
  if pid_alive "$PIDS/dockerd.pid"; then
    if docker_ok; then
      log "dockerd already running (pid $(pid_of "$PIDS/dockerd.pid"))"
      return 0
    fi
    log "dockerd (pid $(pid_of "$PIDS/dockerd.pid")) is not answering; restarting it"
    stop_pids 30 "$PIDS/dockerd.pid"
  fi
  rm -f "$PIDS/dockerd.pid" "$DOCKER_SOCK"
  # a containerd left behind by a killed dockerd (or its stale pid file) makes the new dockerd wait for it
  # forever ("timeout waiting for containerd to start"): stop it / drop the pid file first
  if [ -e "$D/exec/containerd/containerd.pid" ]; then
    cp "$D/exec/containerd/containerd.pid" "$PIDS/docker-containerd.pid" 2>/dev/null || true
    stop_pids 15 "$PIDS/docker-containerd.pid"
    rm -f "$D/exec/containerd/containerd.pid"
  fi
  local t0 pid
  t0=$(now_ms)
  # `bash -c 'echo $$ >…; exec …'` records the daemon's own pid whatever setsid does
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDS/dockerd.launch.pid" \
    "$(dockerd_bin)" \
    --data-root "$D/data" --exec-root "$D/exec" -H "unix://$DOCKER_SOCK" \
    --pidfile "$PIDS/dockerd.pid" --config-file "$D/daemon.json" \
    --storage-driver="$STORAGE" --iptables=false --ip-masq=false --bridge=none \
    >>"$LOGS/dockerd.log" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 50; i++)); do [ -s "$PIDS/dockerd.launch.pid" ] && break; sleep 0.02; done
  pid=$(pid_of "$PIDS/dockerd.launch.pid")
  [ -n "$pid" ] || die "could not launch dockerd"
  if ! wait_ready dockerd docker_ok "$pid" 60 "$LOGS/dockerd.log"; then
    stop_pids 10 "$PIDS/dockerd.launch.pid"
    return 1
  fi
  # dockerd wrote its own pid file; keep the launch one only if that failed
  if [ -s "$PIDS/dockerd.pid" ]; then rm -f "$PIDS/dockerd.launch.pid"; else mv "$PIDS/dockerd.launch.pid" "$PIDS/dockerd.pid"; fi
  log "dockerd ready in $(($(now_ms) - t0)) ms (pid $(pid_of "$PIDS/dockerd.pid"), storage $STORAGE)"
}

write_containerd_config() {
  cat >"$C/config.toml" <<EOF
# generated by scripts/clients.sh — a private containerd for Wharf's e2e tests
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[debug]
  address = "$C/debug.sock"

[metrics]
  address = ""
EOF
}

start_containerd() {
  mkdir -p "$C/root" "$C/state" "$PIDS" "$LOGS"
  write_containerd_config
  if pid_alive "$PIDS/containerd.pid"; then
    if containerd_ok; then
      log "containerd already running (pid $(pid_of "$PIDS/containerd.pid"))"
      return 0
    fi
    log "containerd (pid $(pid_of "$PIDS/containerd.pid")) is not answering; restarting it"
    stop_pids 30 "$PIDS/containerd.pid"
  fi
  rm -f "$PIDS/containerd.pid" "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc" "$C/debug.sock"
  local t0 pid i
  t0=$(now_ms)
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDS/containerd.pid" \
    "$(containerd_bin)" --config "$C/config.toml" \
    >>"$LOGS/containerd.log" 2>&1 </dev/null &
  for ((i = 0; i < 50; i++)); do [ -s "$PIDS/containerd.pid" ] && break; sleep 0.02; done
  pid=$(pid_of "$PIDS/containerd.pid")
  [ -n "$pid" ] || die "could not launch containerd"
  if ! wait_ready containerd containerd_ok "$pid" 60 "$LOGS/containerd.log"; then
    stop_pids 10 "$PIDS/containerd.pid"
    return 1
  fi
  log "containerd ready in $(($(now_ms) - t0)) ms (pid $pid)"
}

print_env() {

  q() { printf '%q' "$1"; }
  echo "export DOCKER_HOST=$(q "unix://$DOCKER_SOCK")"
  # private client config dirs: keep `docker login` / `podman login` out of ~/.docker and ~/.config
  echo "export DOCKER_CONFIG=$(q "$BASE/docker-config")"
  echo "export REGISTRY_AUTH_FILE=$(q "$BASE/containers-auth.json")"
  echo "export WHARF_DOCKERD_SOCK=$(q "$DOCKER_SOCK")"
  echo "export WHARF_CONTAINERD_SOCK=$(q "$CONTAINERD_SOCK")"
  echo "export WHARF_PODMAN_FLAGS=$(q "--root $BASE/podman/root --runroot $BASE/podman/run --storage-driver vfs")"
  echo "export WHARF_CLIENTS_DIR=$(q "$BASE")"
}

cmd_up() {
  # a folder made for this `up` is stopped and removed again when the start fails
  if [ -z "${WHARF_CLIENTS_DIR:-}" ]; then trap 'rc=$?; [ $rc = 0 ] || cmd_down >/dev/null 2>&1; exit $rc' EXIT; fi
  if [ "${WHARF_CLIENTS_INSTALL:-0}" = 1 ]; then cmd_install; fi
  check_bins
  mkdir -p "$BASE" "$PIDS" "$LOGS" "$BASE/docker-config" "$BASE/podman/root" "$BASE/podman/run"
  [ -f "$BASE/containers-auth.json" ] || echo '{}' >"$BASE/containers-auth.json"
  local t0; t0=$(now_ms)
  start_containerd
  start_dockerd
  log "up in $(($(now_ms) - t0)) ms (logs in $LOGS)"
  print_env
}

# ----------------------------------------------------------------------------------------------- down

# TERM every pid named in the given pid files (only ours), wait up to timeout_s, then KILL.
stop_pids() { # timeout_s pidfile...
  local timeout_s=$1 f pid i
  shift
  local waitlist=()
  for f in "$@"; do
    [ -e "$f" ] || continue
    pid=$(pid_of "$f")
    if proc_alive "$pid"; then
      if is_ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        waitlist+=("$pid:$(basename "$f" .pid)")
      else
        log "pid $pid in $f is not one of ours (reused pid?) — leaving it alone"
      fi
    fi
    rm -f "$f"
  done
  local e
  for e in "${waitlist[@]+"${waitlist[@]}"}"; do
    pid=${e%%:*}
    for ((i = 0; i < timeout_s * 10; i++)); do proc_alive "$pid" || break; sleep 0.1; done
    if proc_alive "$pid"; then
      log "${e#*:} ($pid) ignored TERM — sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do proc_alive "$pid" || break; sleep 0.1; done
    fi
    log "stopped ${e#*:} ($pid)"
  done
}

cmd_down() {
  [ -d "$BASE" ] || { log "nothing to stop ($BASE does not exist)"; return 0; }
  # dockerd stops the containerd it manages itself; our own containerd is independent
  stop_pids 30 "$PIDS/dockerd.pid" "$PIDS/dockerd.launch.pid" "$PIDS/containerd.pid"
  # if dockerd had to be KILLed, the containerd it manages (cmdline under $D/exec) survives it
  if [ -e "$D/exec/containerd/containerd.pid" ]; then
    cp "$D/exec/containerd/containerd.pid" "$PIDS/docker-containerd.pid" 2>/dev/null || true
    stop_pids 15 "$PIDS/docker-containerd.pid"
    rm -f "$D/exec/containerd/containerd.pid"
  fi
  # a hard-killed daemon can leave netns / overlay / shm mounts behind; only touch mounts under BASE
  local m
  awk -v b="$BASE/" 'index($2, b) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    m=$(printf '%b' "$m") # /proc/mounts escapes spaces as \040
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  rm -f "$DOCKER_SOCK" "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc" "$C/debug.sock"
  if [ "${WHARF_CLIENTS_KEEP:-0}" = 1 ] || [ ! -e "$BASE/$MARKER" ]; then
    log "down (kept $BASE)"
  elif awk -v b="$BASE/" 'index($2, b) == 1 {found = 1} END {exit !found}' /proc/mounts; then
    log "down (kept $BASE: something is still mounted under it)"
  else
    rm -rf "$BASE"
    log "down (removed $BASE)"
  fi
}

cmd_status() {
  local f rc=0
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    if pid_alive "$f"; then echo "running  $(basename "$f" .pid) pid $(pid_of "$f")"; else echo "stale    $(basename "$f" .pid) (not running, or not ours)"; rc=1; fi
  done
  docker_ok && echo "dockerd answers on $DOCKER_SOCK" || { echo "dockerd not answering"; rc=1; }
  containerd_ok && echo "containerd answers on $CONTAINERD_SOCK" || { echo "containerd not answering"; rc=1; }
  return $rc
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) print_env ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {install|up|down|env|status}" >&2
    exit 2
    ;;
esac
