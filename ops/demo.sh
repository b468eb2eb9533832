#!/usr/bin/env bash
# The README's main command: installs what is missing, builds floq, starts
# the embedded default broker (librdkafka's mock cluster, in
# floq-mock-broker), a fleet of three floq-workers, and drives real jobs
# through the floq CLI: deploy, a run that succeeds, one that fails, a long
# one that is stopped, the status of the deployment, the OpenLineage events
# and graph, and a schedule. Everything it started is stopped on exit.
#
# Usage: ops/demo.sh [--workers N] [--keep]   (--keep: leave the fleet
# running until Ctrl-C, to play with `build/bin/floq`)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
workers=3 keep=0
while (( $# )); do
    case $1 in
        --workers) workers=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing and building"
ops/install-deps.sh --build-only
make -j"$(nproc)" all >/dev/null

B=${B:-build}
tmp=$(mktemp -d /tmp/floq-demo.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the embedded broker (librdkafka mock cluster)"
export FLOQ_TOPIC_PARTITIONS=6
mkfifo "$tmp/broker.out"
"$B/bin/floq-mock-broker" >"$tmp/broker.out" 2>"$tmp/broker.log" &
pids+=($!)
read -r FLOQ_BROKERS <"$tmp/broker.out"
export FLOQ_BROKERS
echo "brokers: $FLOQ_BROKERS"

say "starting $workers workers"
export FLOQ_PROCESS_ALLOWED_DIRS="$root/ops/demo/jobs"
export FLOQ_TOPIC_CREATE=false          # the mock broker made the topics
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=10000
export FLOQ_WORKER_HEARTBEAT_INTERVAL_MS=1000 FLOQ_PROCESS_KILL_GRACE_MS=1000  # the timing rule: 3 * 2500 < 10000
for i in $(seq "$workers"); do
    FLOQ_WORKER_ID="demo-$i" "$B/bin/floq-worker" >"$tmp/worker-$i.log" 2>&1 &
    pids+=($!)
    echo "worker demo-$i: pid $!, log $tmp/worker-$i.log"
done

floq() { "$B/bin/floq" "$@"; }

say "floq deploy hello --backend process --input ... --output ... -- ops/demo/jobs/hello.sh {name}"
floq deploy hello --backend process \
    --input 'postgres://db:5432,shop.orders' --output 's3://lake,daily/orders' \
    -- "$root/ops/demo/jobs/hello.sh" '{name}'

say "floq run hello -p name=floq --wait"
floq run hello -p name=floq --wait

say "a failing job: floq run flaky --wait (exit status 1 expected)"
floq deploy flaky --backend process -- "$root/ops/demo/jobs/flaky.sh" 3 '{table}'
floq run flaky -p table=orders --wait || echo "(floq exited $?: the run failed, as it should)"

say "a long job, stopped: floq run slow, then floq stop slow"
floq deploy slow --backend process -- "$root/ops/demo/jobs/slow.sh" 600
floq run slow
floq stop slow

say "floq status hello"
floq status hello

say "the lineage topic: floq-lineage tail --from-beginning -e"
"$B/bin/floq-lineage" tail --from-beginning -e

say "the lineage graph: floq-lineage graph --format dot"
"$B/bin/floq-lineage" graph --format dot

say "a schedule: floq schedule hello --cron '*/15 * * * *' --tz Europe/Berlin"
floq schedule hello --cron '*/15 * * * *' --tz Europe/Berlin -p name=cron
floq unschedule hello

if (( keep )); then
    say "the fleet keeps running; try: FLOQ_BROKERS=$FLOQ_BROKERS $B/bin/floq --help"
    echo "Ctrl-C stops everything"
    wait
fi
say "demo done: stopping the fleet and the broker"
