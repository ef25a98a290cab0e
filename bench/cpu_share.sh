# shellcheck shell=bash
# Where the machine's CPU goes during a bench/throughput point: CPU time of
# lcbd, of PostgreSQL (the postmaster and every process it runs, read from
# /proc before and after) and of the load generator (the children this shell
# waited for, /proc/$$/stat), per unit of work. On a machine whose cores are
# all busy, these say what a posting costs and who pays it. A PostgreSQL
# process that exits within the point (an autovacuum worker) is not counted.
# Needs BENCH_PG (bench/lib.sh).

cpu_share_tick=$(getconf CLK_TCK)

# Fields N and M of /proc/PID/stat, counted from the state (field 3), since
# the command name before it may hold spaces.
cpu_share_stat() { # PID N M
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    cut -d ' ' -f "$(($2 - 2)),$(($3 - 2))" <<<"${stat##*) }"
}

# utime + stime of the processes given, in ticks; gone ones count 0.
cpu_share_ticks() { # PID...
    local pid total=0 fields
    for pid in "$@"; do
        fields=$(cpu_share_stat "$pid" 14 15) || continue
        total=$((total + ${fields% *} + ${fields#* }))
    done
    echo "$total"
}

cpu_share_postgres() {
    local postmaster
    postmaster=$(head -n 1 "$BENCH_PG/data/postmaster.pid" 2>/dev/null) || return 0
    # shellcheck disable=SC2046
    cpu_share_ticks "$postmaster" $(pgrep -P "$postmaster")
}

# cutime + cstime of this shell: the load generators it ran and waited for.
cpu_share_children() { cpu_share_stat $$ 16 17 | awk '{ print $1 + $2 }'; }

cpu_share_start() { # LCBD_PID
    cpu_share_from=("$(cpu_share_ticks "$1")" "$(cpu_share_postgres)" "$(cpu_share_children)")
}

# Ends the interval cpu_share_start began.
cpu_share_stop() { # LCBD_PID
    cpu_share_used=($(($(cpu_share_ticks "$1") - cpu_share_from[0]))
        $(($(cpu_share_postgres) - cpu_share_from[1]))
        $(($(cpu_share_children) - cpu_share_from[2])))
}

# One line: microseconds of CPU per unit of work for each party in the
# interval.
cpu_share_line() { # COUNT LABEL
    awk -v l="${cpu_share_used[0]}" -v p="${cpu_share_used[1]}" -v c="${cpu_share_used[2]}" \
        -v n="$1" -v t="$cpu_share_tick" -v label="$2" 'BEGIN {
            if (n <= 0) { printf "%-28s nothing answered\n", label; exit }
            f = 1e6 / t / n
            printf "%-28s %8.0f %10.0f %8.0f %8.0f\n", label, l * f, p * f, c * f, (l + p + c) * f
        }'
}
