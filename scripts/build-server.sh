#!/bin/sh
# Bundles the `muon` command into dist/muon.js (scripts/bundle.config.ts) when src/ or the
# dependencies are newer than the last bundle, or there is none. scripts/with-node.sh runs it
# before any command, so `npm start` and bin/muon run a current bundle from a fresh clone. Tests
# run src/ directly; test/cli/bundle.test.ts checks the bundle. Needs Node 24 and the
# dependencies on PATH.
set -eu
cd "$(dirname "$0")/.."
built=dist/muon.js
if [ -f "$built" ] && [ -z "$(find src package.json package-lock.json scripts/bundle.config.ts \
  -newer "$built" 2>/dev/null | head -n 1)" ]; then
  exit 0
fi
echo "muon: bundling the muon command (dist/muon.js)" >&2
# Quiet unless it fails: rolldown lists every chunk it writes.
if ! out=$(node_modules/.bin/rolldown --config scripts/bundle.config.ts --logLevel warn 2>&1); then
  echo "$out" >&2
  exit 1
fi
