#!/bin/sh
# Provides a local PostgreSQL for the store tests, idempotently: installs the Debian package if
# missing, starts a cluster, creates the role and database `muon_test`, and prints its URL on
# stdout (everything else goes to stderr), so that:
#   MUON_TEST_PG_URL=$(sh scripts/postgres.sh) node --test 'test/store/*.test.ts'
# Needs root (or sudo) for apt-get and for acting as the `postgres` system user.
set -eu

db=muon_test
password=${MUON_TEST_PG_PASSWORD:-muon_test}

say() { echo "postgres.sh: $*" >&2; }
. "$(dirname "$0")/apt.sh"
as_postgres() { as_root runuser -u postgres -- "$@"; }

if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt_install postgresql
fi

# The first cluster of the newest installed version; create one if the package left none.
cluster=$(pg_lsclusters -h | sort -k1,1V | tail -n 1)
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  say "creating cluster $version/main"
  as_root pg_createcluster "$version" main >&2
  cluster=$(pg_lsclusters -h | sort -k1,1V | tail -n 1)
fi
# shellcheck disable=SC2086
set -- $cluster
version=$1 name=$2 port=$3 status=$4

if [ "$status" != online ]; then
  say "starting cluster $version/$name on port $port"
  as_root pg_ctlcluster "$version" "$name" start >&2
fi
tries=0
until pg_isready -q -h 127.0.0.1 -p "$port"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 50 ]; then
    say "cluster $version/$name did not accept connections on 127.0.0.1:$port"
    exit 1
  fi
  sleep 0.2
done

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@"; }

if [ "$(psql_admin -tAc "select 1 from pg_roles where rolname = '$db'")" != 1 ]; then
  say "creating role $db"
  psql_admin -c "create role $db login" >&2
fi
# Set the password every time, so a changed MUON_TEST_PG_PASSWORD takes effect. CREATEDB lets a
# test make its own database (the store-outage test cuts its connections without disturbing others).
psql_admin -c "alter role $db with login createdb password '$password'" >&2
if [ "$(psql_admin -tAc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
  say "creating database $db"
  psql_admin -c "create database $db owner $db" >&2
fi

echo "postgres://$db:$password@127.0.0.1:$port/$db"
