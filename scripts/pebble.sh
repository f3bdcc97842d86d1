#!/bin/sh
# Provides Pebble (Let's Encrypt's small ACME test server, Debian package `pebble`) for the ACME
# tests, idempotently: installs the package when missing and prints the pebble binary's path on
# stdout (everything else to stderr), so:
#   MUON_TEST_PEBBLE=$(sh scripts/pebble.sh) node --test test/e2e/acme*.test.ts
# The tests find the package's own test CA (minica) beside it through dpkg; nothing is downloaded
# but the Debian package.
set -eu

say() { echo "pebble.sh: $*" >&2; }
. "$(dirname "$0")/apt.sh"

command -v pebble >/dev/null 2>&1 || apt_install pebble
command -v pebble
