#!/bin/sh
# The whole test suite: formatting + lint, type check, then every test file.
# Run through scripts/with-node.sh (npm test does that), which provides Node 24 and dependencies.
set -eu
cd "$(dirname "$0")/.."
# Tests use `ip` (a private network namespace), which Debian keeps in sbin.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
echo "== biome (format + lint)"
biome check .
echo "== tsc --noEmit (server) and vue-tsc --noEmit (console)"
tsc --noEmit -p .
vue-tsc --noEmit -p console
echo "== PostgreSQL for the store suite (scripts/postgres.sh)"
MUON_TEST_PG_URL=${MUON_TEST_PG_URL:-$(sh scripts/postgres.sh)}
export MUON_TEST_PG_URL
echo "== Chromium for the console's browser tests (scripts/chromium.sh)"
MUON_TEST_CHROMIUM=${MUON_TEST_CHROMIUM:-$(sh scripts/chromium.sh)}
export MUON_TEST_CHROMIUM
echo "== Pebble for the ACME tests (scripts/pebble.sh)"
MUON_TEST_PEBBLE=${MUON_TEST_PEBBLE:-$(sh scripts/pebble.sh)}
export MUON_TEST_PEBBLE
echo "== node --test"
exec node --test --test-reporter=spec --test-concurrency=2 --test-timeout=120000 'test/**/*.test.ts'
