#!/bin/sh
# Provides Pebble (Let's Encrypt's small ACME test server, Debian package `pebble`) for the ACME
# tests, idempotently: installs the package when missing and prints the pebble binary's path on
# stdout (everything else to stderr), so:
#   MUON_TEST_PEBBLE=$(sh scripts/pebble.sh) node --test test/e2e/acme*.test.ts
# The tests find the package's own test CA (minica) beside it through dpkg; nothing is downloaded
# but the Debian package.
set -eu
# Debian keeps apt-get and the admin tools in sbin, which a non-login PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { echo "pebble.sh: $*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
else
  as_root() { sudo "$@"; }
fi

if ! command -v pebble >/dev/null 2>&1; then
  if ! apt-cache policy pebble 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "apt-get update"
    as_root apt-get update -qq >&2
  fi
  say "installing pebble"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >&2
fi
command -v pebble
