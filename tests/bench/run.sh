#!/bin/sh
# Runs the benchmark binaries given as arguments (make bench passes
# $(B)/bench/*) against a real Kafka broker: FLOQ_BROKERS when set, else one
# started here with ops/kafka/kafka.sh and stopped at the end. Each
# benchmark gets topics of its own and prints its result with a ratio
# against a baseline measured in the same run (see each bench_*.c). A
# failing benchmark makes the script exit non-zero. BENCH_N sets the
# message count of bench_publish (default 10000); BENCH_QUICK=1 runs
# bench_worker's short version (and bench_latency's, bench_soak's and
# bench_restore's, which read it from the environment).
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}

started=0
if [ -z "${FLOQ_BROKERS:-}" ]; then
    FLOQ_BROKERS=$(ops/kafka/kafka.sh start | tail -1) || {
        echo "bench: cannot start the Kafka broker" >&2; exit 1; }
    started=1
fi
export FLOQ_BROKERS
stop_broker() { [ "$started" = 1 ] && ops/kafka/kafka.sh stop >&2; }
trap stop_broker EXIT
trap 'exit 130' INT TERM

failed=0
for b in "$@"; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    ns="bench-$name-$$-$(date +%s)"
    for t in commands replies lineage deployments schedules runs dlq; do
        T=$(echo "$t" | tr a-z A-Z)
        export "FLOQ_TOPIC_$T=$ns.$t"
    done
    export FLOQ_GROUP_ID="$ns.workers"
    echo "== $name"
    case $name in
        bench_publish) set -- -n "${BENCH_N:-10000}" ;;
        bench_worker) set -- ${BENCH_QUICK:+--quick} ;;
        *) set -- ;;
    esac
    if ! timeout -k 10 "${BENCH_TIMEOUT:-600}" "$b" "$@"; then
        echo "-- $name: FAILED"
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
