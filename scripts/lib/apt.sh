# scripts/lib/apt.sh — sourced by the setup scripts: install Debian packages that are missing.
#
#   apt_install_missing TAG LOG [--no-recommends] PKG...
#
# Installs those of PKG that dpkg does not list as installed. It first tries without `apt-get update`, since
# the lists may be fresh, and on failure updates them and tries again. Needs root; says clearly when it is
# not root or not on Debian. TAG prefixes messages; LOG collects apt's output.

apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

apt_install_missing() {
  local tag=$1 apt_log=$2
  shift 2
  local opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -y -q)
  if [ "${1:-}" = --no-recommends ]; then
    opts+=(--no-install-recommends)
    shift
  fi
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "[$tag] ERROR: installing needs Debian/Ubuntu with apt-get and dpkg-query; install these yourself: $*" >&2
    return 1
  fi
  local missing
  mapfile -t missing < <(apt_missing "$@")
  if [ ${#missing[@]} -eq 0 ]; then
    echo "[$tag] packages: all present ($*)" >&2
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "[$tag] ERROR: missing packages: ${missing[*]} — installing them needs root" >&2
    return 1
  fi
  local t0
  t0=$(date +%s%3N)
  echo "[$tag] installing: ${missing[*]} (log: $apt_log)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get "${opts[@]}" install "${missing[@]}" >"$apt_log" 2>&1; then
    echo "[$tag] install without update failed; running apt-get update and retrying" >&2
    if ! apt-get "${opts[@]}" update >>"$apt_log" 2>&1 || ! apt-get "${opts[@]}" install "${missing[@]}" >>"$apt_log" 2>&1; then
      tail -20 "$apt_log" >&2
      echo "[$tag] ERROR: apt-get install ${missing[*]} failed (see $apt_log)" >&2
      return 1
    fi
  fi
  echo "[$tag] apt done in $(($(date +%s%3N) - t0)) ms" >&2
}

# install_or_check "$@": the command line of the setup scripts that only install and check (ldap, ui, postgres,
# haproxy): runs their cmd_install or cmd_check, or prints the usage.
install_or_check() {
  case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
      echo "usage: $0 {install|check}" >&2
      exit 2
      ;;
  esac
}
