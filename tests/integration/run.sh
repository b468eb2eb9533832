#!/usr/bin/env bash
# Runs the integration tests tests/integration/NNNN-*.sh against a real
# Apache Kafka broker: FLOQ_BROKERS when set, else one started here with
# ops/kafka/kafka.sh (and stopped at the end). TESTS=0003 (or "0003 0010")
# selects tests by number. Each test exits 0 (pass), 77 (skip) or other
# (fail); the last line is "N passed, N failed, N skipped".
#
# ITEST_JOBS=N runs up to N tests at once (default 1). Tests have their
# own topics and group, so they share the broker; a test whose header has
# the line "# itest: alone" (its own cluster, an orchestrator, timing that
# needs the machine) runs with no other beside it. With N > 1 each test's
# output is printed whole when it ends, in the tests' order.
set -uo pipefail
cd "$(dirname "$0")/../.."
export B=${B:-build}

started=0
if [[ -z "${FLOQ_BROKERS:-}" ]]; then
    # a broker someone else started (another test run) is used, not stopped
    ops/kafka/kafka.sh status >/dev/null 2>&1 || started=1
    FLOQ_BROKERS=$(ops/kafka/kafka.sh start | tail -1) || {
        echo "itest: cannot start the Kafka broker" >&2
        echo "0 passed, 1 failed"; exit 1; }
fi
export FLOQ_BROKERS
stop_broker() { if (( started )); then ops/kafka/kafka.sh stop >&2 || true; fi; }

jobs_max=${ITEST_JOBS:-1}
live=0
(( jobs_max <= 1 )) && live=1
# per test I: I.out its output, I.sum what failed (repeated at the end,
# where a CI log shown only by its tail keeps it), I.crash, I.rc last
dir=$(mktemp -d)
trap 'rm -rf "$dir"; stop_broker' EXIT

# run_one I NAME FILE: run the test FILE as NAME, its report in $dir/I.*
# (printed as it goes when live).
run_one() {
    local i=$1 name=$2 t=$3 tmp rc secs start f out=$dir/$1.out
    emit() { if (( live )); then tee -a "$out"; else cat >>"$out"; fi; }
    tmp=$(mktemp -d)
    start=$(date +%s)
    echo "== $name" | emit
    FLOQ_TEST_NAME=$name FLOQ_TEST_TMP=$tmp timeout -k 10 "${ITEST_TIMEOUT:-600}" \
        bash "$t" 2>&1 | emit
    rc=${PIPESTATUS[0]}
    secs=$(( $(date +%s) - start ))
    case $rc in
        0) echo "-- $name: PASS (${secs}s)" | emit ;;
        77) echo "-- $name: SKIP" | emit ;;
        *) { echo "-- $name: FAIL (exit $rc, ${secs}s); logs:"
             for f in "$tmp"/*.log; do
                 [[ -e "$f" ]] || continue
                 echo "---- $f (last 40 lines)"; tail -40 "$f"
             done; } | emit
           { echo "$name (exit $rc, ${secs}s):"
             grep -E '^  FAIL|^  [0-9a-z-]+: [0-9]+ passed' "$out" | tail -20
           } >"$dir/$i.sum" ;;
    esac
    # a floq program that crashed (common/prog.c prints the signal and
    # its stack) is told whether or not the test passed
    if grep -l "^floq: fatal signal" "$tmp"/*.log >/dev/null 2>&1; then
        : >"$dir/$i.crash"
        for f in $(grep -l "^floq: fatal signal" "$tmp"/*.log); do
            echo "-- $name: a program crashed: $f"
            grep -A24 "^floq: fatal signal" "$f"
        done | emit
    fi
    if (( rc != 0 && rc != 77 )) && [[ -n "${FLOQ_KEEP_TMP:-}" ]]; then
        echo "-- $name: scratch directory kept: $tmp" | emit
    else
        rm -rf "$tmp"
    fi
    echo "$rc" >"$dir/$i.rc"
}

names=() files=()
for t in tests/integration/[0-9][0-9][0-9][0-9]-*.sh; do
    [[ -e "$t" ]] || continue
    name=$(basename "$t" .sh)
    num=${name%%-*}
    if [[ -n "${TESTS:-}" ]] && [[ " $TESTS " != *" $num "* ]]; then
        continue
    fi
    names+=("$name") files+=("$t")
done

passed=0 failed=0 skipped=0 shown=0
failed_names=() crashed=()
# report: print and count, in order, every test that has ended
report() {
    local rc
    while (( shown < ${#names[@]} )) && [[ -e $dir/$shown.rc ]]; do
        (( live )) || cat "$dir/$shown.out"
        rc=$(<"$dir/$shown.rc")
        case $rc in
            0) passed=$((passed + 1)) ;;
            77) skipped=$((skipped + 1)) ;;
            *) failed=$((failed + 1)); failed_names+=("${names[$shown]}") ;;
        esac
        [[ -e $dir/$shown.crash ]] && crashed+=("${names[$shown]}")
        shown=$((shown + 1))
    done
}

running=0
for i in "${!names[@]}"; do
    if (( live )); then
        run_one "$i" "${names[$i]}" "${files[$i]}"
        report
        continue
    fi
    alone=0
    head -30 "${files[$i]}" | grep -q '^# itest: alone' && alone=1
    while (( running > 0 && (alone || running >= jobs_max) )); do
        wait -n; running=$((running - 1)); report
    done
    if (( alone )); then
        run_one "$i" "${names[$i]}" "${files[$i]}"
    else
        run_one "$i" "${names[$i]}" "${files[$i]}" &
        running=$((running + 1))
    fi
    report
done
wait
report

if (( failed )); then
    echo "failed: ${failed_names[*]}"
    for i in "${!names[@]}"; do
        [[ -e $dir/$i.sum ]] && sed 's/^/  /' "$dir/$i.sum"
    done
fi
(( ${#crashed[@]} )) && echo "crashed (see '-- NAME: a program crashed' above): ${crashed[*]}"
echo "itest: $passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
