# shellcheck shell=bash
# Where PostgreSQL's time goes, per posting (sourced by bench/throughput
# with PROFILE=1; docs/performance.md). pg_stat_statements with
# track = all counts every statement, including those inside plpgsql
# functions, so a function's time includes its callees' and the rows below
# overlap: read them as "this much of a posting is spent in or under X".
# The extension's bookkeeping slows PostgreSQL by some per cent, so a
# profiled run's rates are not the table's figures.
# Needs bench_psql and BENCH_PG (bench/lib.sh).

# Loads pg_stat_statements into the cluster (a restart) and DB.
pg_profile_enable() { # DB
    bench_psql -d postgres \
        -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" \
        -c "ALTER SYSTEM SET track_functions = 'all'"
    "$BENCH_SRCDIR/tests/pg-cluster" restart "$BENCH_PG" >/dev/null
    # known only once the library is loaded
    bench_psql -d postgres -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" \
        -c "SELECT pg_reload_conf()" >/dev/null
    bench_psql -d "$1" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
}

pg_profile_reset() { # DB
    bench_psql -d "$1" -tA -c "SELECT pg_stat_statements_reset()" \
        -c "SELECT pg_stat_reset()" -c "SELECT pg_stat_reset_shared('wal')" \
        -c "SELECT pg_stat_reset_shared('bgwriter')" >/dev/null
}

# The statements and functions that took the most time since the reset,
# in microseconds per unit of work (COUNT postings or answers), and the WAL
# and buffer traffic per unit: a ledger whose indexes outgrow the shared
# buffers shows it as pages read in and written out by the backends.
pg_profile_report() { # DB COUNT TITLE
    local db=$1 count=$2 title=$3
    ((count > 0)) || { echo "$title: nothing answered, no profile"; return 0; }
    echo "$title: PostgreSQL time per unit, $count units"
    bench_psql -d "$db" -P footer=off -P pager=off <<SQL
SELECT round((total_exec_time * 1000 / $count)::numeric, 1) AS "us/unit",
       round((calls::numeric / $count), 2) AS "calls/unit",
       round((total_exec_time * 1000 / greatest(calls, 1))::numeric, 1) AS "us/call",
       round((shared_blks_read::numeric / $count), 2) AS "reads/unit",
       round((shared_blks_dirtied::numeric / $count), 2) AS "dirtied/unit",
       round((shared_blks_written::numeric / $count), 2) AS "written/unit",
       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS statement
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT 15;
SELECT round((total_time * 1000 / $count)::numeric, 1) AS "us/unit",
       round((self_time * 1000 / $count)::numeric, 1) AS "self us/unit",
       round((calls::numeric / $count), 2) AS "calls/unit", funcname AS function
FROM pg_stat_user_functions WHERE funcname NOT LIKE 'pg_stat_statements%'
ORDER BY total_time DESC LIMIT 10;
SELECT round((wal_records::numeric / $count), 1) AS "WAL records/unit",
       round((wal_bytes::numeric / $count), 0) AS "WAL bytes/unit",
       round((wal_fpi::numeric / $count), 2) AS "full pages/unit"
FROM pg_stat_wal;
SELECT round((buffers_alloc::numeric / $count), 2) AS "buffers allocated/unit",
       round((buffers_backend::numeric / $count), 2) AS "written by backends/unit",
       round((buffers_clean::numeric / $count), 2) AS "written by bgwriter/unit",
       buffers_checkpoint AS "written by checkpoints"
FROM pg_stat_bgwriter;
SELECT relname AS "table or index", round((blks_read::numeric / $count), 2) AS "pages read in/unit"
FROM (SELECT relname, heap_blks_read AS blks_read FROM pg_statio_user_tables
      UNION ALL
      SELECT indexrelname, idx_blks_read FROM pg_statio_user_indexes) r
WHERE blks_read > 0 ORDER BY blks_read DESC LIMIT 10;
SQL
}
