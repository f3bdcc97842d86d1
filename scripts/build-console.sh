#!/bin/sh
# Builds the web console into console/dist when its sources are newer than the last build (or
# there is none). scripts/with-node.sh runs it before any command, so `npm start` serves a
# current console from a fresh clone. Needs Node 24 and the dependencies on PATH.
set -eu
cd "$(dirname "$0")/.."
built=console/dist/index.html
if [ -f "$built" ] && [ -z "$(find console/src console/public console/index.html console/vite.config.ts \
  package-lock.json -newer "$built" 2>/dev/null | head -n 1)" ]; then
  exit 0
fi
echo "muon: building the web console (console/dist)" >&2
vite build console --logLevel warn >&2
