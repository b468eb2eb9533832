#!/usr/bin/env bash
# Runs the integration tests tests/integration/NNNN-*.sh against a real
# Apache Kafka broker: FLOQ_BROKERS when set, else one started here with
# ops/kafka/kafka.sh (and stopped at the end). TESTS=0003 (or "0003 0010")
# selects tests by number. Each test exits 0 (pass), 77 (skip) or other
# (fail); the last line is "N passed, N failed, N skipped".
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
trap stop_broker EXIT

passed=0 failed=0 skipped=0
failed_names=()
for t in tests/integration/[0-9][0-9][0-9][0-9]-*.sh; do
    [[ -e "$t" ]] || continue
    name=$(basename "$t" .sh)
    num=${name%%-*}
    if [[ -n "${TESTS:-}" ]] && [[ " $TESTS " != *" $num "* ]]; then
        continue
    fi
    tmp=$(mktemp -d)
    echo "== $name"
    start=$(date +%s)
    FLOQ_TEST_NAME=$name FLOQ_TEST_TMP=$tmp timeout -k 10 "${ITEST_TIMEOUT:-600}" bash "$t"
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
        0) passed=$((passed + 1)); echo "-- $name: PASS (${secs}s)" ;;
        77) skipped=$((skipped + 1)); echo "-- $name: SKIP" ;;
        *) failed=$((failed + 1)); failed_names+=("$name")
           echo "-- $name: FAIL (exit $rc, ${secs}s); logs:"
           for f in "$tmp"/*.log; do
               [[ -e "$f" ]] || continue
               echo "---- $f (last 40 lines)"; tail -40 "$f"
           done ;;
    esac
    if (( rc != 0 && rc != 77 )) && [[ -n "${FLOQ_KEEP_TMP:-}" ]]; then
        echo "-- $name: scratch directory kept: $tmp"
    else
        rm -rf "$tmp"
    fi
done
(( failed )) && echo "failed: ${failed_names[*]}"
echo "itest: $passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
