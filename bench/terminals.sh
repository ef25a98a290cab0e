#!/usr/bin/env bash
# The card terminal benchmark of docs/performance.md: a private PostgreSQL
# cluster (tests/pg-cluster), a district with one branch centre, a course
# session, CARDS learners with cards and 256 terminal certificates, one lcbd
# with its LCBP listener, then lcb-term load (closed loop, one tap in flight
# per terminal) at 1, 16 and 256 terminals and lcb-term idle. Prints a table.
# Bounded: every point runs DURATION seconds (at most 20). Only 127.0.0.1.
#   bench/terminals.sh [BUILD_DIR]        (default: the source tree)
# Environment: DURATION (10), CARDS (1024), IDLE (10000), POINTS ("1 16 256"),
# DB_CONNECTIONS (8), KEEP=1 keeps the work directory.
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
build=$(cd "${1:-$srcdir}" && pwd -P)
duration=${DURATION:-10}
cards_n=${CARDS:-1024}
idle_n=${IDLE:-10000}
points=${POINTS:-"1 16 256"}
db_connections=${DB_CONNECTIONS:-8}
((duration <= 20)) || { echo "terminals: DURATION is at most 20 s" >&2; exit 2; }

lcbctl=$build/tools/lcbctl
lcbd=$build/daemon/lcbd
lcb_term=$build/tools/lcb-term
for program in "$lcbctl" "$lcbd" "$lcb_term"; do
    [[ -x "$program" ]] || { echo "terminals: $program is not built" >&2; exit 2; }
done

say() { printf 'terminals: %s\n' "$*" >&2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lcb-bench-terminals.XXXXXX")
chmod 0711 "$work" # user postgres must reach $work/pg
lcbd_pid=

cleanup() {
    local status=$?
    if [[ -n "$lcbd_pid" ]] && kill -0 "$lcbd_pid" 2>/dev/null; then
        kill -TERM "$lcbd_pid"
        wait "$lcbd_pid" 2>/dev/null || true
    fi
    "$srcdir/tests/pg-cluster" stop "$work/pg" >/dev/null 2>&1 || true
    if ((status == 0)) && [[ -z "${KEEP:-}" ]]; then
        rm -rf "$work"
    else
        say "work files kept in $work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both lcbd and lcb-term need a file descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- database, PKI, district ----------------------------------------------------
say "PostgreSQL cluster and database"
"$srcdir/tests/pg-cluster" start "$work/pg" >/dev/null
# shellcheck source=/dev/null
. "$work/pg/env"
export PGHOST PGPORT PGUSER
unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE lcb_bench'
export LCB_DB="host=$PGHOST port=$PGPORT user=postgres dbname=lcb_bench"
"$lcbctl" migrate --sql-dir "$srcdir/sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d lcb_bench -c 'CREATE ROLE lcbd LOGIN IN ROLE lcb_app' 2>/dev/null ||
    true
"$lcbctl" ca init --dir "$work/ca" >/dev/null
"$lcbctl" cert server --ca-dir "$work/ca" --out "$work/server" >/dev/null
"$lcbctl" keygen --out "$work/signing.pem" --register >/dev/null
"$lcbctl" secret init --out "$work/id_secret" >/dev/null

say "district, course session, $cards_n learners with cards, 256 terminal certificates"
"$lcbctl" institution add --code BT-DC --kind district_centre --region 330206 \
    --name "Bench district centre" >/dev/null
"$lcbctl" institution add --code BT-BR --kind branch_centre --parent BT-DC --region 330206 \
    --name "Bench branch centre" >/dev/null
"$lcbctl" course add --code BT-TEA --owner BT-BR --unit community --credits 100 \
    --hours-minutes 600 --level 1 --title "Tea culture" >/dev/null
"$lcbctl" session add --code BT-TEA-1 --course BT-TEA --title "Bench session" >/dev/null

# Four at a time: each lcbctl call is its own process and connection.
learner_with_card() { # N
    local id
    id=$("$lcbctl" learner add --id-document "BENCH-T-$1" --name "Learner $1" \
        --institution BT-BR --secret-file "$work/id_secret" | grep -oE '[0-9]+' | tail -n 1)
    "$lcbctl" card issue --learner "$id" --region 330206 | grep -oE '[0-9]{19}' | tail -n 1
}
export -f learner_with_card
export lcbctl work
seq 1 "$cards_n" | xargs -P 4 -I{} bash -c 'learner_with_card {}' >"$work/cards.txt"
(($(wc -l <"$work/cards.txt") == cards_n)) || { say "not every card was issued"; exit 1; }

mkdir -p "$work/terminals"
terminal_cert() { # N
    "$lcbctl" cert issue --ca-dir "$work/ca" --role terminal --institution BT-BR \
        --name "BT-T$1" --out "$work/terminals/t$1" >/dev/null && echo "$work/terminals/t$1"
}
export -f terminal_cert
seq 1 256 | xargs -P 4 -I{} bash -c 'terminal_cert {}' >"$work/certs.txt"

# ---- lcbd ----------------------------------------------------------------------
free_port() {
    local port
    for ((;;)); do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}
https_port=$(free_port)
lcbp_port=$(free_port)
# The per-terminal rate limit (default 50/s) is lifted: the benchmark
# measures lcbd, not the limit.
cat >"$work/lcbd.conf" <<CONF
listen = 127.0.0.1:$https_port
db = host=$PGHOST port=$PGPORT user=lcbd dbname=lcb_bench
db_connections = $db_connections
tls_cert = $work/server.crt
tls_key = $work/server.key
tls_ca = $work/ca/ca.crt
signing_key = $work/signing.pem
id_secret_file = $work/id_secret
log_level = warning
log_target = stderr
lcbp_listen = 127.0.0.1:$lcbp_port
lcbp_rate_per_s = 100000
lcbp_max_connections = $((idle_n + 1000))
CONF
"$lcbd" --config "$work/lcbd.conf" >>"$work/lcbd.log" 2>&1 &
lcbd_pid=$!
for ((i = 0; i < 200; i++)); do
    curl -sS -o /dev/null --max-time 2 --cacert "$work/ca/ca.crt" \
        "https://127.0.0.1:$https_port/healthz" 2>/dev/null && break
    kill -0 "$lcbd_pid" 2>/dev/null || { tail -n 20 "$work/lcbd.log" >&2; exit 1; }
    sleep 0.1
done

term() {
    "$lcb_term" --addr "127.0.0.1:$lcbp_port" --ca "$work/ca/ca.crt" \
        --cert "$work/terminals/t1.crt" --key "$work/terminals/t1.key" --json "$@"
}
term hello >/dev/null || { tail -n 20 "$work/lcbd.log" >&2; exit 1; }

# ---- the runs ---------------------------------------------------------------------
rows=()
for n in $points; do
    say "load: $n terminals, closed loop, taps, $duration s"
    term load --terminals "$n" --duration "$duration" --closed-loop --op tap \
        --cards "$work/cards.txt" --session BT-TEA-1 --certs "$work/certs.txt" \
        >"$work/load-$n.json"
    rows+=("$(jq -r --arg n "$n" '[$n, (.throughput_per_s | floor), .latency_ms.p50,
        .latency_ms.p99, .latency_ms["p99.9"], .ok, ([.errors[]] | add // 0)] | @tsv' \
        "$work/load-$n.json")")
done
say "idle: $idle_n connections held 10 s"
term idle --terminals "$idle_n" --hold 10 --pid "$lcbd_pid" --max-connecting 128 \
    >"$work/idle.json" || true
checked_out=$(psql -X -tA -d lcb_bench -c "SELECT count(*) FROM taps WHERE status = 'applied'")

printf '\n%-10s %10s %10s %10s %10s %10s %8s\n' terminals "taps/s" "p50 ms" "p99 ms" \
    "p99.9 ms" "taps ok" errors
for row in "${rows[@]}"; do
    IFS=$'\t' read -r n rate p50 p99 p999 ok errors <<<"$row"
    printf '%-10s %10s %10.2f %10.2f %10.2f %10s %8s\n' "$n" "$rate" "$p50" "$p99" "$p999" \
        "$ok" "$errors"
done
jq -r '"\nidle: \(.held) of \(.terminals) connections held (\(.failed) failed, " +
    "\(.closed_by_lcbd) closed by lcbd); lcbd RSS \(.lcbd_rss_before_kb / 1024 | floor) MiB -> " +
    "\(.lcbd_rss_after_kb / 1024 | floor) MiB: \(.lcbd_kb_per_connection * 10 | round / 10) KiB " +
    "per connection"' "$work/idle.json"
echo "taps applied in the database: $checked_out"
echo "(lcbd: db_connections = $db_connections; $(nproc) CPUs; PostgreSQL on the same machine)"
