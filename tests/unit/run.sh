#!/usr/bin/env bash
# Runs the unit test binaries given as arguments (Check, fork mode, one
# process per case with a timeout), then the script tests tests/unit/*.sh
# (each exits 0 on success). Prints each Check summary line and a final
# "N passed, N failed" line counting test cases, after a "FAIL: " line
# for each failed case or binary. Exits non-zero on any
# failure. VALGRIND=1 runs each binary under valgrind with leaks as errors.
# UNIT_JOBS binaries run at once (default: twice the number of CPUs: the
# slow ones, the mock-cluster fault cases, spend 98 % of their time
# waiting on timeouts), their output printed whole, in the order given.
set -u
B=${B:-build}
passed=0
failed=0
bad_lines=()   # repeated at the end, so that a log's tail names what failed
# bad MESSAGE: said now and again at the end
bad() {
    echo "$1"
    bad_lines+=("$1")
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
jobs_max=${UNIT_JOBS:-$(( 2 * $(nproc 2>/dev/null || echo 1) ))}

export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}

# run_one N BINARY: its output to $dir/N.out, its exit status to $dir/N.rc
run_one() {
    local n=$1 t=$2 rc
    if [ "${VALGRIND:-0}" = 1 ]; then
        CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect \
            --suppressions=tests/unit/valgrind.supp "$t" >"$dir/$n.out" 2>&1
    else
        "$t" >"$dir/$n.out" 2>&1
    fi
    rc=$?
    echo "$rc" >"$dir/$n.rc"
}

# The slowest first, so that the rest run beside them; output keeps the
# order given.
slow='test_faults test_rebalance test_offload test_budget test_client_mock test_process test_kafka'
order=()
for name in $slow; do
    for t in "$@"; do
        [ "$(basename "$t")" = "$name" ] && [ -x "$t" ] && order+=("$t")
    done
done
for t in "$@"; do
    case " $slow " in *" $(basename "$t") "*) continue ;; esac
    [ -x "$t" ] && order+=("$t")
done
bins=()
for t in "$@"; do
    [ -x "$t" ] && bins+=("$t")
done
# index in bins of each binary of order
idx=()
for t in "${order[@]}"; do
    for i in "${!bins[@]}"; do
        [ "${bins[$i]}" = "$t" ] && idx+=("$i")
    done
done
running=0
for i in "${idx[@]}"; do
    if [ "$running" -ge "$jobs_max" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$i" "${bins[$i]}" &
    running=$((running + 1))
done
wait

for i in "${!bins[@]}"; do
    t=${bins[$i]}
    out=$dir/$i.out
    rc=$(cat "$dir/$i.rc" 2>/dev/null || echo 1)
    echo "== $(basename "$t")"
    cat "$out"
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$out" | tail -1)
    if [ -z "$line" ]; then
        bad "$(basename "$t"): no Check summary (exit $rc)"
        failed=$((failed + 1))
        continue
    fi
    checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    bad=$((fails + errs))
    if [ "$bad" -gt 0 ]; then
        while IFS= read -r l; do
            bad_lines+=("$l")
        done < <(grep -E ':(F|E):' "$out")
    fi
    passed=$((passed + checks - bad))
    failed=$((failed + bad))
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad "$(basename "$t"): exit $rc (valgrind or sanitizer error)"
        failed=$((failed + 1))
    fi
done

for s in tests/unit/*.sh; do
    [ "$s" = tests/unit/run.sh ] && continue
    [ -f "$s" ] || continue
    echo "== $(basename "$s")"
    if B=$B bash "$s"; then
        passed=$((passed + 1))
    else
        bad "$(basename "$s"): FAILED"
        failed=$((failed + 1))
    fi
done

for l in "${bad_lines[@]}"; do
    echo "FAIL: $l"
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
