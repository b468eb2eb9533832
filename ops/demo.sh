#!/usr/bin/env bash
# The README's main command: installs what is missing, builds floq, starts
# the embedded default broker (librdkafka's mock cluster, in
# floq-mock-broker), a fleet of three floq-workers, and drives real jobs
# through the floq CLI: deploy, a run that succeeds, one that fails, a long
# one that is stopped, the status of the deployment, the OpenLineage events
# and graph, and a schedule; a floq-console serves every run's page (the
# run URL of each ACCEPTED reply) and the first worker its /metrics, and
# the demo fetches both and prints their addresses. Everything it started
# is stopped on exit.
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
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

# The console on its default port (what the default run URL names) when
# that is free, else on a free one, the run URL template following it.
# (python3 finds free ports and reads the console's JSON; without it the
# demo takes 8080 and 9464 and only prints the addresses.)
have_py=0; command -v python3 >/dev/null && have_py=1
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_free() {
    python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
cport=8080 mport=9464
if (( have_py )); then
    port_free "$cport" || cport=$(free_port)
    mport=$(free_port)
fi
console_url="http://localhost:$cport"
metrics_url="http://127.0.0.1:$mport/metrics"
export FLOQ_WORKER_RUN_URL_TEMPLATE="$console_url/runs/{run_id}"

say "starting $workers workers"
export FLOQ_PROCESS_ALLOWED_DIRS="$root/ops/demo/jobs"
export FLOQ_TOPIC_CREATE=false          # the mock broker made the topics
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=10000
export FLOQ_WORKER_HEARTBEAT_INTERVAL_MS=1000 FLOQ_PROCESS_KILL_GRACE_MS=1000  # the timing rule: 3 * 2500 < 10000
for i in $(seq "$workers"); do
    metrics=()
    (( i == 1 )) && metrics=(-o "metrics.listen=127.0.0.1:$mport")
    FLOQ_WORKER_ID="demo-$i" "$B/bin/floq-worker" "${metrics[@]}" \
        >"$tmp/worker-$i.log" 2>&1 &
    pids+=($!)
    echo "worker demo-$i: pid $!, log $tmp/worker-$i.log"
done
echo "worker demo-1 metrics: $metrics_url"

say "starting the console: $console_url/runs"
"$B/bin/floq-console" -l "127.0.0.1:$cport" >"$tmp/console.log" 2>&1 &
pids+=($!)
echo "floq-console: pid $!, log $tmp/console.log"

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

say "the console and the metrics (curl)"
# fetch URL [ACCEPT]: the body, or a failure within a deadline
fetch() {
    local deadline=$((SECONDS + 30))
    until curl -sf -m 5 -H "Accept: ${2:-text/html}" "$1"; do
        (( SECONDS < deadline )) || { echo "demo: $1 does not answer" >&2; return 1; }
        sleep 0.5
    done
}
if command -v curl >/dev/null && (( have_py )); then
    fetch "$console_url/healthz" >/dev/null
    runs=$(fetch "$console_url/runs?per_page=10" application/json)
    run_url=$(python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print([x for x in r if x["deployment"] == "hello"][0]["run_id"])' <<<"$runs")
    run_url="$console_url/runs/$run_url"
    echo "runs in the console:"
    python3 -c 'import json,sys
for r in json.load(sys.stdin)["runs"]:
    print("  %-36s %-6s %s" % (r["run_id"], r["deployment"], r["state"]))' <<<"$runs"
    echo "the hello run's page: $run_url"
    fetch "$run_url" | grep -o '<title>[^<]*</title>\|id="state" class="state [A-Z_]*"' | sed 's/^/  /'
    echo "worker demo-1: $metrics_url"
    fetch "$metrics_url" text/plain | grep -E '^floq_(commands_total|runs_started_total|build_info)' | head -8 | sed 's/^/  /'
else
    echo "curl or python3 is not installed: open $console_url/runs and $metrics_url yourself"
fi
echo "console: $console_url/runs   metrics: $metrics_url"

if (( keep )); then
    say "the fleet keeps running; try: FLOQ_BROKERS=$FLOQ_BROKERS $B/bin/floq --help"
    echo "the console: $console_url/runs, worker demo-1's metrics: $metrics_url"
    echo "Ctrl-C stops everything"
    wait
fi
say "demo done: stopping the fleet and the broker"
