#!/usr/bin/env bash
# The integration tests' automake entry: starts a private PostgreSQL cluster,
# migrates a fresh database with lcbctl, makes a PKI and keys, then runs
# tests/test_integration against them. The cluster is always stopped.
# Works in VPATH builds: sources from $srcdir, binaries from $top_builddir.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
srcdir=$(cd "${srcdir:-$here/..}" && pwd -P)
top_builddir=$(cd "${top_builddir:-.}" && pwd -P)

lcbctl=$top_builddir/tools/lcbctl
lcbd=$top_builddir/daemon/lcbd
test_program=$top_builddir/tests/test_integration

for program in "$lcbctl" "$test_program"; do
    if [[ ! -x "$program" ]]; then
        echo "integration: $program is not built" >&2
        exit 99 # a hard error, not a skip
    fi
done

test_dir=$(mktemp -d "${TMPDIR:-/tmp}/lcb-itest.XXXXXX")
chmod 0711 "$test_dir" # user postgres must reach $test_dir/pg
cluster=$test_dir/pg

cleanup() {
    local status=$?
    "$srcdir/tests/pg-cluster" stop "$cluster" || true
    if ((status == 0)) && [[ -z "${LCB_TEST_KEEP:-}" ]]; then
        rm -rf "$test_dir"
    else
        echo "integration: test files kept in $test_dir" >&2
        if [[ -f "$cluster/postgres.log" ]]; then
            echo "----- tail of $cluster/postgres.log -----" >&2
            tail -n 30 "$cluster/postgres.log" >&2 || true
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$srcdir/tests/pg-cluster" start "$cluster" >/dev/null
# shellcheck source=/dev/null
. "$cluster/env"
export PGHOST PGPORT PGUSER
unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS

superuser_db="host=$PGHOST port=$PGPORT user=postgres dbname=lcb_test"
app_db="host=$PGHOST port=$PGPORT user=lcbd dbname=lcb_test"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE lcb_test'
export LCB_DB=$superuser_db
"$lcbctl" migrate --sql-dir "$srcdir/sql"
psql -X -q -v ON_ERROR_STOP=1 -d lcb_test -c 'CREATE ROLE lcbd LOGIN IN ROLE lcb_app'

pki=$test_dir/pki
keys=$test_dir/keys
mkdir -p "$pki" "$keys"
"$lcbctl" ca init --dir "$pki/ca"
"$lcbctl" cert server --ca-dir "$pki/ca" --out "$pki/server"
"$lcbctl" keygen --out "$keys/signing.pem" --public-out "$keys/signing.pub" --register
"$lcbctl" secret init --out "$keys/id_secret"

export LCB_TEST_DIR=$test_dir
export LCB_TEST_SUPERUSER_DB=$superuser_db
export LCB_TEST_APP_DB=$app_db
export LCB_TEST_PG_CLUSTER=$cluster
export LCB_LCBD=$lcbd
export LCB_LCBCTL=$lcbctl
export LCB_SRCDIR=$srcdir
export LCB_TEST_CA_DIR=$pki/ca
export LCB_TEST_SERVER_PREFIX=$pki/server
export LCB_TEST_SIGNING_KEY=$keys/signing.pem
export LCB_TEST_ID_SECRET=$keys/id_secret

"$test_program"
