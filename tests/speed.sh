#!/usr/bin/env bash
# bench/lcb-speed, the machine-speed line of bench/throughput: it signs for
# the time asked, prints a positive rate that agrees with its own count and
# time, and refuses a bad duration with its usage and status 2.
set -euo pipefail

top_builddir=$(cd "${top_builddir:-.}" && pwd -P)
speed=$top_builddir/bench/lcb-speed
status=0

fail() {
    echo "speed: FAIL: $*"
    status=1
}

out=$("$speed" 0.2) || fail "lcb-speed 0.2 exited $?"
rate=$(jq -r .ed25519_signatures_per_s <<<"$out")
count=$(jq -r .signatures <<<"$out")
seconds=$(jq -r .seconds <<<"$out")
awk -v s="$seconds" 'BEGIN { exit !(s >= 0.2 && s < 5) }' || fail "ran $seconds s for 0.2"
((count > 0)) || fail "no signatures: $out"
awk -v r="$rate" -v n="$count" -v s="$seconds" 'BEGIN { d = r - n / s; exit !(r > 0 && d < 1 && d > -1) }' ||
    fail "rate $rate is not $count / $seconds"

for bad in 0 0.05 31 abc "2 3" -1; do
    # shellcheck disable=SC2086 # "2 3" is two arguments on purpose
    if err=$("$speed" $bad 2>&1 >/dev/null); then
        fail "lcb-speed $bad was accepted"
    else
        rc=$?
        ((rc == 2)) || fail "lcb-speed $bad exited $rc, not 2"
        [[ $err == usage:* ]] || fail "lcb-speed $bad printed: $err"
    fi
done

((status == 0)) && echo "speed: ok ($rate signatures/s on one core)"
exit "$status"
