#!/bin/sh
# Provides Chromium for the console's browser tests, idempotently: installs Debian's `chromium`
# package when missing and prints the browser's path on stdout (everything else to stderr), so:
#   MUON_TEST_CHROMIUM=$(sh scripts/chromium.sh) node --test test/console/*.test.ts
# playwright-core drives it; `npx playwright install` is not used (it downloads from the Internet).
set -eu

say() { echo "chromium.sh: $*" >&2; }
. "$(dirname "$0")/apt.sh"

command -v chromium >/dev/null 2>&1 || apt_install chromium 'about a minute, one time'
command -v chromium
