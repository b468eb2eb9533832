#!/usr/bin/env bash
# 0260: the worker's operator endpoint (metrics.listen). A real Prometheus
# (Debian's prometheus package) scrapes a worker under load every second; a
# query through its HTTP API sees floq_commands_total grow by the runs
# produced; `promtool check metrics` passes on the exposition; the consumer
# lag at rest is 0 on every partition, those ending with a transaction
# marker (forwarded commands) included.
# /readyz: 503 from its first answer until the group assigned and restored
# the partitions, 200 after; a second worker with the same worker id (its
# own lock dir, as on another host) restores the state the load left (503
# first, 200 after) and fences the first one, whose /readyz then says 503
# with the fence as the reason (until it has replaced its producer and
# committed again, or, fenced twice within a minute, exits). Skips (77) when
# prometheus, promtool or curl are missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
for c in prometheus promtool curl python3; do
    command -v "$c" >/dev/null || {
        echo "  $c not installed (apt-get install -y prometheus curl): skipped"
        exit 77; }
done
worker_env
T=$FLOQ_TEST_TMP
N=${FLOQ_METRICS_RUNS:-300}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
M1=$(free_port); M2=$(free_port); PP=$(free_port)

# probe PORT PATH NAME: the status code into $T/NAME.code, the body into
# $T/NAME.body; true when the worker answered at all.
probe() {
    local code
    code=$(curl -s -m 2 -o "$T/$3.body" -w '%{http_code}' "http://127.0.0.1:$1$2")
    echo "$code" >"$T/$3.code"
    [[ $code != 000 ]]
}
code_is() { probe "$1" "$2" "$3" && [[ $(cat "$T/$3.code") == "$4" ]]; }
# first_ready PORT NAME: waits for the first /readyz answer, keeps it.
first_ready() { wait_for 30 probe "$1" /readyz "$2.first"; }

start_worker w1 -o metrics.listen=127.0.0.1:$M1
ok "w1's first /readyz answer comes" first_ready "$M1" w1
ok "w1 is not ready before its partitions are restored (503: $(cat "$T/w1.first.body" 2>/dev/null))" \
    test "$(cat "$T/w1.first.code")" = 503
ok "w1 joins" wait_for 90 worker_assigned w1
ok "w1 /readyz 200 once restored" wait_for 30 code_is "$M1" /readyz w1 200
ok "w1 /healthz 200" code_is "$M1" /healthz w1h 200

# Prometheus, scraping every second.
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: floq
    static_configs:
      - targets: ["127.0.0.1:$M1"]
YML
bg prometheus prometheus --config.file="$T/prometheus.yml" \
    --storage.tsdb.path="$T/tsdb" --web.listen-address="127.0.0.1:$PP"
# query EXPR: the value of the first sample of an instant query, or empty.
query() {
    curl -s -m 5 --get --data-urlencode "query=$1" \
        "http://127.0.0.1:$PP/api/v1/query" |
        jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}
scraped() { [[ $(query 'up{job="floq"}') == 1 ]]; }
ok "Prometheus scrapes w1" wait_for 60 scraped
base=$(query 'sum(floq_commands_total)')
echo "  floq_commands_total before the load: ${base:-none}"

for i in $(seq 0 5); do deploy_cmd "m$i" ok.sh "{n}"; done | produce >/dev/null
for i in $(seq 1 "$N"); do
    printf '{"deployment":"m%d","body":{"RunBody":{"params":{"n":"%d"}}}}\n' $((i % 6)) "$i"
done | produce >"$T/ids"
ok "$N commands produced" test "$(wc -l <"$T/ids")" -eq "$N"
# grew_by EXPR N: Prometheus's value of EXPR is at least base + N
grew_by() {
    local v
    v=$(query "$1")
    [[ -n $v ]] && awk -v v="$v" -v b="${base:-0}" -v n="$2" 'BEGIN { exit !(v >= b + n) }'
}
ok "Prometheus sees floq_commands_total grow by the $N runs and 6 deploys" \
    wait_for 240 grew_by 'sum(floq_commands_total)' $((N + 6))
echo "  floq_commands_total now: $(query 'sum(floq_commands_total)')"
ok "all $N answered" wait_for 120 all_final "$T/ids"
succ() {
    local v
    v=$(query 'sum(floq_runs_finished_total{state="SUCCEEDED",backend="process"})')
    [[ -n $v ]] && (( ${v%.*} >= N ))
}
ok "Prometheus sees $N runs SUCCEEDED on the process backend" wait_for 30 succ
ok "Prometheus sees commits" test -n "$(query 'floq_transaction_commits_total > 0')"
ok "Prometheus has the run duration histogram" \
    test -n "$(query 'floq_run_duration_seconds_count > 0')"

probe "$M1" /metrics expo
ok "promtool check metrics passes on the exposition" \
    bash -c "promtool check metrics <'$T/expo.body'"
for name in floq_build_info floq_commands_total floq_replies_total \
        floq_dlq_records_total floq_runs_active floq_runs_started_total \
        floq_runs_finished_total floq_run_duration_seconds \
        floq_executor_slots_used floq_executor_slots_free \
        floq_transaction_commits_total floq_transaction_aborts_total \
        floq_transaction_commit_duration_seconds floq_rebalances_total \
        floq_owned_partitions floq_consumer_lag floq_schedule_fires_total \
        floq_schedule_misfires_total floq_restore_duration_seconds \
        floq_kafka_broker_rtt_seconds floq_kafka_queue_messages; do
    grep -q "^# TYPE $name " "$T/expo.body" || fail "no family $name"
done
ok "run ids never appear as labels" \
    bash -c "! grep -Eq '[0-9a-f]{8}-[0-9a-f]{4}-' '$T/expo.body'"
# Commands on another partition than their home one: the worker forwards
# each in a transaction, so every home partition now ends with a commit
# marker. At rest every partition's lag counts no record (the marker is not
# one: high watermark - committed offset would say 1 there).
for i in $(seq 0 5); do
    home=$("$TOOL" partition --key "m$i")
    run_cmd "m$i" '{"n":"fwd"}' | produce --partition $(( (home + 1) % FLOQ_TOPIC_PARTITIONS ))
done >"$T/fwd"
ok "6 forwarded runs answered" wait_for 60 all_final "$T/fwd"
lag_zero() {
    probe "$M1" /metrics expo2 || return 1
    local n bad
    n=$(grep -c '^floq_consumer_lag{' "$T/expo2.body")
    bad=$(grep '^floq_consumer_lag{' "$T/expo2.body" | awk '$2 != 0' | wc -l)
    (( n == FLOQ_TOPIC_PARTITIONS && bad == 0 ))
}
ok "at rest the lag is 0 on all $FLOQ_TOPIC_PARTITIONS partitions" wait_for 30 lag_zero
grep '^floq_consumer_lag{' "$T/expo2.body" | sed 's/^/    /'

# Live runs on w1, so that it commits heartbeats and has attempts to stop.
for i in $(seq 0 5); do deploy_cmd "s$i" slow_stop.sh 30 1; done | produce >/dev/null
for i in $(seq 0 5); do run_cmd "s$i"; done | produce >"$T/slow"
live() { [[ $(curl -s "http://127.0.0.1:$M1/metrics" | awk '$1 == "floq_runs_active" { print $2 }') -ge 6 ]]; }
ok "six live runs on w1" wait_for 60 live

# A second worker with the same worker id (its own lock dir, as on another
# host): it restores what the load left, and its producer fences w1's.
# Its restore is held back for certain: a transaction of another producer
# (a tombstone on the runs topic's partition 0) is open for 6 s, and a
# restore waits until the last stable offset reaches the end, so w2 is
# seen while it owns partitions and restores them. (Without it the probes
# could miss that window on a loaded machine.)
printf '{"topic":"%s","partition":0,"key":"hold-%s","type":"RunState"}\n' \
    "$FLOQ_TOPIC_RUNS" "$$" >"$T/hold.jsonl"
bg holder "$TOOLS/floq_state_tool" hold-txn --txn-id "floq-hold-$$" \
    --hold-ms 6000 --input "$T/hold.jsonl"
holder_open() { grep -q "^open" "$T/holder.log"; }
ok "a transaction on the runs topic is open" wait_for 30 holder_open
# w1 not ready, the fence being the reason, until it has replaced its
# producer and committed again (docs/worker.md, "Metrics and probes"); the
# window is short (the rewind's restore), so w1's answers are sampled, from
# before w2 starts: w2's producer fences w1's as it starts, and w1 can be
# back to 200 before w2's restore is seen (a CI run missed the window when
# the sampler began only then).
: >"$T/w1.samples"
bg sampler bash -c "while :; do curl -s -m 1 -w ' %{http_code}\n' http://127.0.0.1:$M1/readyz | tr -d '\n' >>'$T/w1.samples'; echo >>'$T/w1.samples'; sleep 0.05; done"
sampled() { [[ $(wc -l <"$T/w1.samples") -gt 0 ]]; }
ok "w1's /readyz is sampled before w2 starts" wait_for 10 sampled
mkdir -p "$T/lock2"
start_worker w2 -o worker.id="w1-$$" -o worker.lock.dir="$T/lock2" \
    -o metrics.listen=127.0.0.1:$M2
ok "w2's first /readyz answer comes" first_ready "$M2" w2
# Not ready while a partition it owns is being restored. (Its first answer
# may be 200: a member that owns nothing yet, between the rebalances of
# the cooperative protocol, has nothing to restore.)
ok "w2's restore waits for the open transaction" \
    wait_for 30 worker_log_has w2 "waiting for an open transaction"
ok "w2 is not ready while it restores (503: $(probe "$M2" /readyz w2r; cat "$T/w2r.body" 2>/dev/null))" \
    test "$(cat "$T/w2r.code")" = 503
ok "... saying so" grep -q "restoring partitions" "$T/w2r.body"
fenced_503() { grep -q 'fenced.* 503$' "$T/w1.samples"; }
ok "w1 /readyz 503 once its producer is fenced" wait_for 60 fenced_503
echo "  w1 /readyz said: $(grep -m1 'fenced.* 503$' "$T/w1.samples")"
ok "w1's log says it was fenced" worker_log_has w1 "fenced"
ok "w2 /readyz 200 after its restore" wait_for 60 code_is "$M2" /readyz w2 200
restored() {
    probe "$M2" /metrics expo3 &&
        awk '$1 == "floq_restore_duration_seconds_count" && $2 > 0 { f = 1 } END { exit !f }' "$T/expo3.body"
}
ok "w2 reports its restore duration" restored
finish
