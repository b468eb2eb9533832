#!/usr/bin/env bash
# floq-lineage forward against a real local HTTP endpoint that records
# requests (tests/integration/data/lineage_sink.py): events produced with
# kcat on a 3-partition lineage topic are POSTed unchanged, with
# Content-Type application/json and the bearer token from
# FLOQ_LINEAGE_TOKEN; while the endpoint answers 503 nothing is lost or
# skipped (retried with backoff, the partition paused); once it is back
# every event arrives, in order per key; 4xx events and an event that is not
# JSON land in the dead-letter topic with floq.http.status /
# floq.http.body / floq.error headers, and the forwarder keeps going; it
# stops cleanly on SIGTERM.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-lineage && -x $TOOLS/floq_lineage_tool ]] ||
    { echo "  floq-lineage not built"; exit 77; }
command -v kcat >/dev/null || { echo "  no kcat"; exit 77; }
floq_test_topics
PY=/usr/bin/python3
SINK=tests/integration/data/lineage_sink.py
T=$FLOQ_TEST_TMP
DLQ=$FLOQ_TEST_NS.lineage.dlq
MARK=REJECT-ME

ok "lineage topic with 3 partitions" \
    "$TOOLS/floq_lineage_tool" topic "$FLOQ_BROKERS" "$FLOQ_TOPIC_LINEAGE" 3

# 6 jobs x 20 events, every 17th carries the marker (400), one is not JSON
: >"$T/events"
for i in $(seq 1 120); do
    j=$(( i % 6 ))
    note=""
    (( i % 17 == 0 )) && note=",\"note\":\"$MARK\""
    printf 'run:itest/job%d\t{"eventType":"RUNNING","eventTime":"2025-01-01T00:00:%02d.000Z","run":{"runId":"00000000-0000-4000-8000-%012d"},"job":{"namespace":"itest","name":"job%d"},"inputs":[],"outputs":[],"producer":"https://example.com/itest","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","seq":%d%s}\n' \
        "$j" $(( i % 60 )) "$j" "$j" "$i" "$note" >>"$T/events"
    (( i == 60 )) && printf 'run:itest/job0\tthis is not json\n' >>"$T/events"
done
ok "events produced with kcat" \
    kcat -b "$FLOQ_BROKERS" -P -t "$FLOQ_TOPIC_LINEAGE" -K $'\t' -l "$T/events"

# the endpoint starts out down
touch "$T/down"
bg sink $PY $SINK --log "$T/requests.jsonl" --port-file "$T/port" \
    --fail-file "$T/down" --reject-marker "$MARK" --require-token s3cret
ok "sink listening" wait_for 20 test -s "$T/port"
port=$(cat "$T/port")

export FLOQ_LINEAGE_TOKEN=s3cret
bg forward "$BIN/floq-lineage" -b "$FLOQ_BROKERS" forward \
    --url "http://127.0.0.1:$port/api/v1/lineage" \
    --group "$FLOQ_TEST_NS.fwd" --dlq-topic "$DLQ" \
    --retry-backoff-ms 50 --retry-max-ms 400 --max-in-flight 4
fwd=$!
unset FLOQ_LINEAGE_TOKEN

n503() { grep -c '"status": 503' "$T/requests.jsonl" 2>/dev/null || true; }
several_503() { (( $(n503) >= 12 )); }
ok "retries while the endpoint answers 503" wait_for 60 several_503
ok "nothing accepted while down" \
    bash -c "! grep -q '\"status\": 201' '$T/requests.jsonl'"
ok "retries are logged with backoff" grep -q "HTTP 503; retry" "$T/forward.log"

rm -f "$T/down"
want=$(grep -vc "$MARK\|not json" "$T/events")
all_in() { (( $($PY $SINK check --log "$T/requests.jsonl" --progress) >= want )); }
ok "all $want good events accepted once the endpoint is back" wait_for 90 all_in
$PY $SINK check --log "$T/requests.jsonl" --events "$T/events" --marker "$MARK" \
    >"$T/check.out"
ok "bodies unchanged, in order per key, none missing: $(head -1 "$T/check.out")" \
    test $? -eq 0
sed -n '2,$p' "$T/check.out"
ok "bearer token sent" \
    bash -c "grep '\"status\": 201' '$T/requests.jsonl' | head -1 | grep -q '\"auth\": \"Bearer s3cret\"'"
ok "posted to the path of the url" \
    grep -q '"path": "/api/v1/lineage"' "$T/requests.jsonl"

# dead letters: the 7 marker events (400) and the one that is not JSON
kdlq() { kcat -b "$FLOQ_BROKERS" -C -t "$DLQ" -e -q -f '%k|%h|%s\n' 2>/dev/null; }
dlq_full() { (( $(kdlq | wc -l) >= 8 )); }
ok "4xx and broken events in the dead-letter topic" wait_for 30 dlq_full
kdlq >"$T/dlq"
ok "7 events answered 400 dead-lettered with status and body headers" \
    test "$(grep -c "floq.http.status=400.*floq.http.body=rejected: marker.*$MARK" "$T/dlq")" -eq 7
ok "the key is kept" bash -c "grep '$MARK' '$T/dlq' | head -1 | grep -q '^run:itest/job'"
ok "the non-JSON event is dead-lettered without a request" \
    bash -c "grep 'this is not json' '$T/dlq' | grep -q 'floq.error=not a JSON object'"
ok "the forwarder is still running" kill -0 "$fwd"

# a late event after the dead letters still flows
printf 'run:itest/job1\t{"eventType":"COMPLETE","eventTime":"2025-01-01T00:01:00.000Z","run":{"runId":"00000000-0000-4000-8000-000000000001"},"job":{"namespace":"itest","name":"job1"},"inputs":[],"outputs":[],"producer":"https://example.com/itest","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","seq":1000}\n' \
    >>"$T/events"
tail -1 "$T/events" | kcat -b "$FLOQ_BROKERS" -P -t "$FLOQ_TOPIC_LINEAGE" -K $'\t'
late() { grep -q '"seq": 1000' "$T/requests.jsonl"; }
ok "a later event is forwarded too" wait_for 30 late

kill -TERM "$fwd"
stopped() { ! kill -0 "$fwd" 2>/dev/null; }
ok "SIGTERM stops the forwarder" wait_for 20 stopped
wait "$fwd"; rc=$?
ok "clean exit (got $rc)" test "$rc" -eq 0
ok "it reports what it did" grep -q "delivered" "$T/forward.log"
finish
