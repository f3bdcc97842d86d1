#!/bin/sh
# Builds the kernel relay (native/kernel-relay.c) into build/kernel-relay.node when the source is
# newer than the build, or there is none. It needs a C compiler and Node-API headers (any Node's:
# Node-API is ABI-stable); a machine without them gets a note and no build, and Muon relays every
# session in JavaScript (docs/architecture.md, "Raw sessions and the kernel relay").
# scripts/with-node.sh runs it before any command.
set -eu
cd "$(dirname "$0")/.."
src=native/kernel-relay.c
out=build/kernel-relay.node
if [ -f "$out" ] && [ ! "$src" -nt "$out" ]; then
  exit 0
fi
cc=$(command -v cc || command -v gcc || true)
headers=
node_bin=$(command -v node || true)
for dir in ${node_bin:+"$(dirname "$(dirname "$node_bin")")/include/node"} \
  $(find .tools -type d -path '*/include/node' 2>/dev/null) /usr/include/node /usr/local/include/node; do
  if [ -f "$dir/node_api.h" ]; then
    headers=$dir
    break
  fi
done
if [ -z "$cc" ] || [ -z "$headers" ]; then
  echo "muon: no C compiler or Node-API headers: the kernel relay (native/) is not built" >&2
  exit 0
fi
echo "muon: building the kernel relay (build/kernel-relay.node)" >&2
mkdir -p build
if ! "$cc" -O2 -Wall -Wextra -std=gnu11 -shared -fPIC -fvisibility=hidden -I"$headers" \
  -o "$out.tmp" "$src" -lpthread; then
  rm -f "$out.tmp"
  echo "muon: the kernel relay (native/) did not build" >&2
  exit 0
fi
mv "$out.tmp" "$out"
