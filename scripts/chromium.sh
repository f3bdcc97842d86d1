#!/bin/sh
# Provides Chromium for the console's browser tests, idempotently: installs Debian's `chromium`
# package when missing and prints the browser's path on stdout (everything else to stderr), so:
#   MUON_TEST_CHROMIUM=$(sh scripts/chromium.sh) node --test test/console/*.test.ts
# playwright-core drives it; `npx playwright install` is not used (it downloads from the Internet).
set -eu
# Debian keeps apt-get and the admin tools in sbin, which a non-login PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { echo "chromium.sh: $*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
else
  as_root() { sudo "$@"; }
fi

if ! command -v chromium >/dev/null 2>&1; then
  if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "apt-get update"
    as_root apt-get update -qq >&2
  fi
  say "installing chromium (about a minute, one time)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
command -v chromium
