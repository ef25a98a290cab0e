# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, not run): a PostgreSQL cluster from
# tests/pg-cluster, a migrated database per script, a PKI and keys, a small
# district, lcbd processes, and the check of lcb-post's fates against the
# ledger. Only 127.0.0.1; every wait is bounded. Never touches a cluster it
# was not given.
#   bench_init (reads BENCH_SRCDIR, BENCH_BUILDDIR, BENCH_WORK, BENCH_PG)

bench_say() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
bench_die() {
    bench_say "error: $*"
    exit 2
}

# Paths of the tools and the work directory; starts the cluster in BENCH_PG
# (or BENCH_WORK/pg) unless it runs already.
bench_init() {
    BENCH_SRCDIR=$(cd "${BENCH_SRCDIR:?}" && pwd -P)
    BENCH_BUILDDIR=$(cd "${BENCH_BUILDDIR:?}" && pwd -P)
    mkdir -p "${BENCH_WORK:?}"
    chmod 0711 "$BENCH_WORK" # user postgres must reach $BENCH_WORK/pg
    BENCH_WORK=$(cd "$BENCH_WORK" && pwd -P)
    LCBCTL=$BENCH_BUILDDIR/tools/lcbctl
    LCBD=$BENCH_BUILDDIR/daemon/lcbd
    LCB_POST=$BENCH_BUILDDIR/bench/lcb-post
    local program
    for program in "$LCBCTL" "$LCBD" "$LCB_POST"; do
        [[ -x "$program" ]] || bench_die "$program is not built"
    done
    BENCH_PG=${BENCH_PG:-$BENCH_WORK/pg}
    "$BENCH_SRCDIR/tests/pg-cluster" start "$BENCH_PG" >/dev/null
    # shellcheck source=/dev/null
    . "$BENCH_PG/env"
    export PGHOST PGPORT PGUSER
    unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
}

bench_psql() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# A fresh database DB, migrated, with role lcbd, keys and a PKI in
# BENCH_WORK/DB/; exports LCB_DB (superuser) and sets BENCH_APP_DB.
bench_db_create() {
    local db=$1
    BENCH_DB=$db
    BENCH_DIR=$BENCH_WORK/$db
    rm -rf "$BENCH_DIR"
    mkdir -p "$BENCH_DIR"
    bench_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    export LCB_DB="host=$PGHOST port=$PGPORT user=postgres dbname=$db"
    BENCH_APP_DB="host=$PGHOST port=$PGPORT user=lcbd dbname=$db"
    "$LCBCTL" migrate --sql-dir "$BENCH_SRCDIR/sql" >/dev/null
    bench_psql -d "$db" -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lcbd') THEN
            CREATE ROLE lcbd LOGIN IN ROLE lcb_app;
        END IF; END \$\$"
    "$LCBCTL" ca init --dir "$BENCH_DIR/ca" >/dev/null
    "$LCBCTL" cert server --ca-dir "$BENCH_DIR/ca" --out "$BENCH_DIR/server" >/dev/null
    "$LCBCTL" keygen --out "$BENCH_DIR/signing.pem" --public-out "$BENCH_DIR/signing.pub" \
        --register >/dev/null
    "$LCBCTL" secret init --out "$BENCH_DIR/id_secret" >/dev/null
}

# A district centre, a school with N_COURSES courses BD-C1.. (2.00, 3.50,
# 5.00 and 6.50 vocational credits in turn) and N learners. A course counts
# once per learner, so N x N_COURSES bounds the postings of one database.
# Sets BENCH_LEARNERS (ids, comma-separated), BENCH_COURSES (lcb-post's
# --course), BENCH_SCHOOL_ID and BENCH_CERT (the school's certificate).
# The registry is written in SQL, as lcbctl would, but in one statement.
bench_district() {
    local n=$1 courses=$2
    "$LCBCTL" institution add --code BD-DC --kind district_centre --region 330206 \
        --name "Bench district centre" >/dev/null
    "$LCBCTL" institution add --code BD-VS --kind vocational_school --parent BD-DC \
        --region 330206 --name "Bench vocational school" >/dev/null
    BENCH_LEARNERS=$(bench_psql -d "$BENCH_DB" -tA <<SQL
SELECT count(lcb_add_catalogue_item('BD-C' || g, 'course', 'BD-VS', 'Bench course ' || g,
                                    'vocational', 200 + 150 * (g % 4), 60, 3::smallint))
FROM generate_series(1, $courses) g \\g /dev/null
SELECT string_agg(lcb_add_learner(sha256(convert_to('$BENCH_DB-' || g, 'UTF8')),
                                  'Learner ' || g, 'BD-DC')::text, ',' ORDER BY g)
FROM generate_series(1, $n) g;
SQL
    )
    BENCH_COURSES=BD-C:$courses
    BENCH_SCHOOL_ID=$(bench_psql -d "$BENCH_DB" -tAc "SELECT id FROM institutions WHERE code = 'BD-VS'")
    "$LCBCTL" cert issue --ca-dir "$BENCH_DIR/ca" --role institution --institution BD-VS \
        --name "Bench registrar" --out "$BENCH_DIR/school" >/dev/null
    BENCH_CERT=$BENCH_DIR/school
}

# A port below the kernel's ephemeral range (a client's local port there
# could take it between this check and lcbd's bind).
bench_free_port() {
    local port tries low
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    ((low > 11000)) || low=32768
    for ((tries = 0; tries < 200; tries++)); do
        port=$((10000 + RANDOM % (low - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    bench_die "no free port"
}

# bench_lcbd_config NAME PORT [EXTRA LINES]: BENCH_DIR/NAME.conf
bench_lcbd_config() {
    local name=$1 port=$2
    cat >"$BENCH_DIR/$name.conf" <<CONF
listen = 127.0.0.1:$port
db = $BENCH_APP_DB
db_connections = ${BENCH_DB_CONNECTIONS:-4}
tls_cert = $BENCH_DIR/server.crt
tls_key = $BENCH_DIR/server.key
tls_ca = $BENCH_DIR/ca/ca.crt
signing_key = $BENCH_DIR/signing.pem
id_secret_file = $BENCH_DIR/id_secret
log_level = info
log_target = stderr
${3:-}
CONF
    echo "$port" >"$BENCH_DIR/$name.port"
}

bench_lcbd_port() { cat "$BENCH_DIR/$1.port"; }

bench_lcbd_pid() {
    local pid
    [[ -f "$BENCH_DIR/$1.pid" ]] || return 1
    pid=$(cat "$BENCH_DIR/$1.pid")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Starts lcbd NAME (configured before) and waits until it answers /healthz
# (20 s at most). Its log is appended to BENCH_DIR/NAME.log. When another
# program took its port meanwhile, it moves to a new one (3 tries).
bench_lcbd_start() {
    local name=$1 port i attempt
    for ((attempt = 1; attempt <= 3; attempt++)); do
        port=$(bench_lcbd_port "$name")
        "$LCBD" --config "$BENCH_DIR/$name.conf" >>"$BENCH_DIR/$name.log" 2>&1 &
        echo $! >"$BENCH_DIR/$name.pid"
        for ((i = 0; i < 200; i++)); do
            if "$LCB_POST" --probe --port "$port" --ca "$BENCH_DIR/ca/ca.crt" --timeout 2; then
                return 0
            fi
            bench_lcbd_pid "$name" >/dev/null || break
            sleep 0.1
        done
        tail -n 1 "$BENCH_DIR/$name.log" | grep -q "cannot listen" || break
        port=$(bench_free_port)
        sed -i "s/^listen = .*/listen = 127.0.0.1:$port/" "$BENCH_DIR/$name.conf"
        echo "$port" >"$BENCH_DIR/$name.port"
    done
    tail -n 20 "$BENCH_DIR/$name.log" >&2
    bench_die "lcbd $name did not start"
}

# SIGKILL: a crash at whatever moment this is.
bench_lcbd_kill() {
    local pid
    pid=$(bench_lcbd_pid "$1") || return 0
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
}

# SIGTERM and wait (30 s, then SIGKILL); returns lcbd's exit status.
bench_lcbd_stop() {
    local pid i status=0
    pid=$(bench_lcbd_pid "$1") || return 0
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" || status=$?
    return "$status"
}

# Waits until lcbd NAME has a database connection again (/healthz 200).
bench_lcbd_wait_db() {
    local port i
    port=$(bench_lcbd_port "$1")
    for ((i = 0; i < 300; i++)); do
        if curl -sk --max-time 2 "https://127.0.0.1:$port/healthz" 2>/dev/null | grep -q '"up"'; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# bench_post ARGS...: lcb-post against this database's school.
bench_post() {
    "$LCB_POST" --ca "$BENCH_DIR/ca/ca.crt" --cert "$BENCH_CERT" --learners "$BENCH_LEARNERS" \
        --course "$BENCH_COURSES" "$@"
}

# bench_check_fates FATES PREFIX: every acknowledged posting of FATES is in
# the ledger exactly once with the transaction id and hash it was answered
# with; every unknown one at most once; a refused one not at all. Prints
# "acked unknown landed violations" and returns 1 on any violation.
bench_check_fates() {
    local fates=$1 prefix=$2 line
    line=$(bench_psql -d "$BENCH_DB" -tA -F ' ' <<SQL
CREATE TEMP TABLE fates (idx bigint, key text, fate text, detail text, tx text, hash text,
                         sends int, posted int, conflict text);
\\copy fates FROM '$fates'
WITH ledger AS (
    SELECT idempotency_key AS key, count(*) AS n, min(id::text) AS tx,
           min(encode(hash, 'hex')) AS hash
    FROM transactions WHERE institution_id = $BENCH_SCHOOL_ID
      AND idempotency_key LIKE '$prefix-%' GROUP BY 1)
SELECT count(*) FILTER (WHERE f.fate = 'acked'),
       count(*) FILTER (WHERE f.fate = 'unknown'),
       count(*) FILTER (WHERE f.fate = 'unknown' AND l.n = 1),
       count(*) FILTER (WHERE (f.fate = 'acked' AND (l.n IS DISTINCT FROM 1 OR l.tx <> f.tx
                                                     OR l.hash <> f.hash))
                           OR (f.fate = 'unknown' AND l.n > 1)
                           OR (f.fate = 'refused' AND l.n IS NOT NULL))
FROM fates f LEFT JOIN ledger l ON l.key = f.key;
SQL
    )
    echo "$line"
    [[ "$line" =~ ' 0'$ ]]
}

# lcbctl verify on this database; prints its line; returns its status.
bench_verify() {
    "$LCBCTL" verify 2>&1
}

# Makes the current database a template and switches to a fresh copy NEW of
# it (the district, keys and credentials come along); lcbd must be
# reconfigured. Keeps each ledger small enough to verify after every round.
bench_db_clone() {
    local new=$1
    BENCH_BASE=${BENCH_BASE:-$BENCH_DB}
    bench_psql -d postgres -c "DROP DATABASE IF EXISTS $new" \
        -c "CREATE DATABASE $new TEMPLATE $BENCH_BASE"
    BENCH_DB=$new
    export LCB_DB="host=$PGHOST port=$PGPORT user=postgres dbname=$new"
    BENCH_APP_DB="host=$PGHOST port=$PGPORT user=lcbd dbname=$new"
}

# Stops every lcbd this script started (for traps).
bench_cleanup_lcbd() {
    local pidfile pid
    for pidfile in "$BENCH_WORK"/*/*.pid; do
        [[ -f "$pidfile" ]] || continue
        pid=$(cat "$pidfile")
        # only if that pid is still an lcbd of ours, not a recycled number
        if grep -qs "$BENCH_WORK" "/proc/$pid/cmdline"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}
