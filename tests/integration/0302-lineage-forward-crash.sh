#!/usr/bin/env bash
# floq-lineage forward commits offsets only after a 2xx, so no crash or
# outage loses an event: (1) a forwarder that only ever got 503s is killed
# with SIGKILL and a new one still delivers from the first event (nothing
# was committed early); (2) the endpoint is stopped mid-stream and started
# again on the same port: connection errors are retried, nothing skipped;
# (3) the forwarder is killed with SIGKILL mid-stream and restarted: every
# event is delivered at least once, none is missing, and per key the first
# deliveries keep the produced order.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-lineage && -x $TOOLS/floq_lineage_tool ]] ||
    { echo "  floq-lineage not built"; exit 77; }
command -v kcat >/dev/null || { echo "  no kcat"; exit 77; }
floq_test_topics
PY=/usr/bin/python3
SINK=tests/integration/data/lineage_sink.py
T=$FLOQ_TEST_TMP
DLQ=$FLOQ_TEST_NS.lineage.dlq
N=300

ok "lineage topic with 4 partitions" \
    "$TOOLS/floq_lineage_tool" topic "$FLOQ_BROKERS" "$FLOQ_TOPIC_LINEAGE" 4
: >"$T/events"
for i in $(seq 1 $N); do
    j=$(( i % 10 ))
    printf 'run:crash/job%d\t{"eventType":"START","eventTime":"2025-01-01T00:00:00.000Z","run":{"runId":"00000000-0000-4000-8000-%012d"},"job":{"namespace":"crash","name":"job%d"},"inputs":[{"namespace":"pg","name":"in%d"}],"outputs":[],"producer":"https://example.com/itest","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","seq":%d}\n' \
        "$j" "$i" "$j" "$j" "$i" >>"$T/events"
done
ok "$N events produced with kcat" \
    kcat -b "$FLOQ_BROKERS" -P -t "$FLOQ_TOPIC_LINEAGE" -K $'\t' -l "$T/events"

forward() {  # forward NAME: start a forwarder in the test's group
    bg "$1" "$BIN/floq-lineage" -b "$FLOQ_BROKERS" \
        -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 forward \
        --url "http://127.0.0.1:$port/api/v1/lineage" \
        --group "$FLOQ_TEST_NS.fwd" --dlq-topic "$DLQ" \
        --retry-backoff-ms 50 --retry-max-ms 500 --max-in-flight 4 \
        --timeout-ms 5000
    fwd=$!
}
accepted() { $PY $SINK check --log "$T/requests.jsonl" --progress; }
at_least() { (( $(accepted) >= $1 )); }
n503() { grep -c '"status": 503' "$T/requests.jsonl" 2>/dev/null || true; }

# (1) only 503s, then SIGKILL: nothing may have been committed
touch "$T/down"
bg sink1 $PY $SINK --log "$T/requests.jsonl" --port-file "$T/port" \
    --fail-file "$T/down" --delay-ms 40
sink=$!
ok "sink listening" wait_for 20 test -s "$T/port"
port=$(cat "$T/port")
forward fwd1
some_503() { (( $(n503) >= 8 )); }
ok "forwarder retries 503s" wait_for 60 some_503
kill -KILL "$fwd"; wait "$fwd" 2>/dev/null
ok "nothing accepted before the kill" test "$(accepted)" -eq 0
rm -f "$T/down"

# (2) a new forwarder; the endpoint goes away mid-stream and comes back
forward fwd2
ok "deliveries start from the first event" wait_for 60 at_least 60
kill -TERM "$sink"; wait "$sink" 2>/dev/null
before=$(accepted)
refused() { grep -q "retry" "$T/fwd2.log" && (( $(grep -c "Connection refused\|Couldn't connect\|connect to" "$T/fwd2.log") >= 2 )); }
ok "connection errors are retried while the endpoint is down" wait_for 30 refused
bg sink2 $PY $SINK --log "$T/requests.jsonl" --port "$port" --delay-ms 40
sink=$!
more() { (( $(accepted) >= before + 60 )); }
ok "deliveries resume after the endpoint restarts" wait_for 60 more

# (3) SIGKILL mid-stream, then a new forwarder finishes the job
ok "the forwarder is mid-stream (not done yet)" test "$(accepted)" -lt $N
kill -KILL "$fwd"; wait "$fwd" 2>/dev/null
forward fwd3
ok "all $N events delivered after the restart" wait_for 120 at_least $N
$PY $SINK check --log "$T/requests.jsonl" --events "$T/events" >"$T/check.out"
ok "none missing, bodies unchanged, first deliveries in order per key: $(head -1 "$T/check.out")" \
    test $? -eq 0
sed -n '2,$p' "$T/check.out"
finish
