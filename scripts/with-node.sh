#!/bin/sh
# Runs a command with Node 24 and the project's dependencies, installing both on first use.
# Works from a fresh machine that has only an older system Node and npm.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools/node24"

is_node24() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null; }

if ! is_node24 "$tools/bin/node"; then
  if command -v node >/dev/null 2>&1 && is_node24 node; then
    tools=$(dirname "$(dirname "$(command -v node)")")
  else
    echo "muon: installing Node 24 into $tools (one time)" >&2
    npm install --global --prefix "$tools" --no-fund --no-audit --loglevel=error node@24 >&2
  fi
fi
PATH="$tools/bin:$root/node_modules/.bin:$PATH"
export PATH

stamp="$root/node_modules/.muon-lock"
if [ ! -f "$stamp" ] || [ "$root/package-lock.json" -nt "$stamp" ]; then
  echo "muon: installing dependencies (npm ci)" >&2
  (cd "$root" && npm ci --no-fund --no-audit --loglevel=error >&2)
  touch "$stamp"
fi
sh "$root/scripts/build-console.sh"
sh "$root/scripts/build-native.sh"
sh "$root/scripts/build-server.sh"
exec "$@"
