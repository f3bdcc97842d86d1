#!/bin/sh
# The whole test suite: formatting + lint, type check, then every test file.
# Run through scripts/with-node.sh (npm test does that), which provides Node 24 and dependencies.
set -eu
cd "$(dirname "$0")/.."
echo "== biome (format + lint)"
biome check .
echo "== tsc --noEmit"
tsc --noEmit -p .
echo "== node --test"
exec node --test --test-reporter=spec --test-concurrency=2 --test-timeout=120000 'test/**/*.test.ts'
