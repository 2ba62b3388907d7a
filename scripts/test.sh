#!/usr/bin/env bash
# `npm test`: type-checks and lints everything (tests included), brings up the real registry clients the
# end-to-end tests drive (installing Debian's packages when they are missing and this user may), runs vitest,
# and stops the daemons it started. Where the clients cannot be set up the end-to-end tests are skipped with a
# loud warning; WHARF_REQUIRE_CLIENTS=1 (set by .ci/run) turns that into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "typecheck"
npx tsc -p tsconfig.json --noEmit || exit 1
step "lint"
npx eslint . || exit 1

step "real clients (docker, podman, skopeo, containerd, distribution)"
clients_ok=0
# this run's own daemons in a folder of their own (never those of another run, or of a shell that ran `up`)
unset WHARF_CLIENTS_DIR
if bash scripts/clients.sh install; then
  if env_lines=$(bash scripts/clients.sh up); then
    eval "$env_lines"
    clients_ok=1
  fi
fi
if [ "$clients_ok" = 1 ]; then
  trap 'bash scripts/clients.sh down >/dev/null 2>&1 || true' EXIT
else
  echo "!!! ================================================================== !!!" >&2
  echo "!!! Real clients could not be set up: end-to-end tests will be SKIPPED  !!!" >&2
  echo "!!! (run as root on Debian 12 so scripts/clients.sh can install them)   !!!" >&2
  echo "!!! ================================================================== !!!" >&2
fi

step "OpenLDAP slapd (the LDAP tests start their own on loopback)"
if ! bash scripts/ldap.sh install; then
  echo "!!! ================================================================== !!!" >&2
  echo "!!! slapd could not be installed: the LDAP tests will be SKIPPED        !!!" >&2
  echo "!!! (run as root on Debian so scripts/ldap.sh can install it)           !!!" >&2
  echo "!!! ================================================================== !!!" >&2
fi

step "PostgreSQL 15 (the storage tests start their own private instance)"
if ! bash scripts/postgres.sh install; then
  echo "!!! ================================================================== !!!" >&2
  echo "!!! PostgreSQL could not be installed: its tests will be SKIPPED        !!!" >&2
  echo "!!! (run as root on Debian so scripts/postgres.sh can install it)       !!!" >&2
  echo "!!! ================================================================== !!!" >&2
fi

step "HAProxy (the balancer tests start their own)"
if ! bash scripts/haproxy.sh install; then
  echo "!!! ================================================================== !!!" >&2
  echo "!!! HAProxy could not be installed: the balancer tests will be SKIPPED  !!!" >&2
  echo "!!! ================================================================== !!!" >&2
fi

step "chromium and busybox for the web UI's browser tests"
if ! bash scripts/ui.sh install; then
  echo "!!! ================================================================== !!!" >&2
  echo "!!! chromium could not be installed: the browser tests will be SKIPPED  !!!" >&2
  echo "!!! (run as root on Debian so scripts/ui.sh can install it)             !!!" >&2
  echo "!!! ================================================================== !!!" >&2
fi

step "tests"
report=$(mktemp -t wharf-vitest-XXXXXX.json)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
# one plain closing line that any CI reader understands
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  const skipped = r.numPendingTests + r.numTodoTests
  // a file that failed to load, or an error outside any test, fails the run without failing a test: count it
  const failed = Math.max(r.numFailedTests, r.success ? 0 : 1)
  console.log(`${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""))
' "$report" 2>/dev/null || echo "0 passed, 1 failed"
rm -f "$report"
exit $status
