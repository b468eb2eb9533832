#!/bin/sh
# Runs the unit test binaries given as arguments (Check, fork mode, one
# process per case with a timeout), then the script tests tests/unit/*.sh
# (each exits 0 on success). Prints each Check summary line and a final
# "N passed, N failed" line counting test cases. Exits non-zero on any
# failure. VALGRIND=1 runs each binary under valgrind with leaks as errors.
set -u
B=${B:-build}
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
for t in "$@"; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    if [ "${VALGRIND:-0}" = 1 ]; then
        CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect \
            --suppressions=tests/unit/valgrind.supp "$t" >"$out" 2>&1
    else
        "$t" >"$out" 2>&1
    fi
    rc=$?
    cat "$out"
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$out" | tail -1)
    if [ -z "$line" ]; then
        echo "$(basename "$t"): no Check summary (exit $rc)"
        failed=$((failed + 1))
        continue
    fi
    checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    bad=$((fails + errs))
    passed=$((passed + checks - bad))
    failed=$((failed + bad))
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        echo "$(basename "$t"): exit $rc (valgrind or sanitizer error)"
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
        echo "$(basename "$s"): FAILED"
        failed=$((failed + 1))
    fi
done

echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
