#!/bin/sh
# Bundles the wharf tool (cli/wharf.ts and the modules it imports) into one plain JavaScript file,
# dist/bin/wharf.js, which bin/wharf runs: Node starts it in well under a second, with no TypeScript to compile
# at each call. `npm ci` runs this (postinstall); bin/wharf runs it again whenever a source is newer than the
# bundle. esbuild comes with tsx. The bundle is written beside its final name and renamed, so a wharf starting
# meanwhile reads the old file or the new one, never half of one.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/dist/bin/wharf.js
mkdir -p "$(dirname "$out")"
tmp=$out.$$.tmp
trap 'rm -f "$tmp"' EXIT
"$here/node_modules/.bin/esbuild" "$here/cli/wharf.ts" --bundle --platform=node --format=esm --target=node20 \
  --packages=external --log-level=warning --outfile="$tmp"
mv -f "$tmp" "$out"
