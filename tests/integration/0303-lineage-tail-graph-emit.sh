#!/usr/bin/env bash
# floq-lineage tail and graph against the real broker, and the emitting API
# of libfloq (floq_lineage_emit) to Kafka and to HTTP: events of floq runs
# (built by the same code the worker calls, keyed as the worker keys them)
# and of a producer's own job go to the lineage topic; `tail -e` prints one
# readable line per event, `tail --json` the events unchanged and valid
# against OpenLineage 2-0-2; `tail` started at the end shows an event
# emitted later; `graph` reads the topic to its end and draws the chain
# orders -> nightly-orders -> orders/daily -> load -> mart with each job's
# last state; an event emitted over HTTP arrives as application/json.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-lineage && -x $TOOLS/floq_lineage_tool ]] ||
    { echo "  floq-lineage not built"; exit 77; }
command -v kcat >/dev/null || { echo "  no kcat"; exit 77; }
floq_test_topics
PY=/usr/bin/python3
TOOL=$TOOLS/floq_lineage_tool
L=("$BIN/floq-lineage" -b "$FLOQ_BROKERS")
T=$FLOQ_TEST_TMP
R=tests/data/openlineage/runs
RUN1=3f2a7c1e-8b4d-4e5f-9a6b-7c8d9e0f1a2b
RUN2=4a3b8d2f-9c5e-4f60-8b7c-8d9e0f1a2b3c
RUN3=11111111-2222-4333-8444-555555555555
RUN4=11111111-2222-4333-8444-666666666666

ok "lineage topic with 2 partitions" "$TOOL" topic "$FLOQ_BROKERS" "$FLOQ_TOPIC_LINEAGE" 2

# the worker's events: (key, value) from the library, produced with kcat
: >"$T/worker"
add() {  # add TYPE RUNSTATE: one event of deployment.json
    local ev key
    ev=$("$TOOL" event "$1" $R/deployment.json "$R/$2.json") || return 1
    key=$(printf '%s' "$ev" | "$TOOL" key /dev/stdin) || return 1
    printf '%s\t%s\n' "$key" "$ev" >>"$T/worker"
}
add START run_succeeded && add COMPLETE run_succeeded &&
    add START run_failed && add FAIL run_failed
ok "worker events keyed run:{namespace}/{job}" \
    test "$(cut -f1 "$T/worker" | sort -u)" = "run:analytics/nightly-orders"
ok "worker events produced" \
    kcat -b "$FLOQ_BROKERS" -P -t "$FLOQ_TOPIC_LINEAGE" -K $'\t' -l "$T/worker"

# a producer's own job through floq_lineage_emit(): reads what floq wrote
ok "emit START to Kafka" "$TOOL" emit --brokers "$FLOQ_BROKERS" \
    --topic "$FLOQ_TOPIC_LINEAGE" START etl load $RUN3 \
    --in s3://lake orders/daily --out dw mart
ok "emit COMPLETE to Kafka" "$TOOL" emit --brokers "$FLOQ_BROKERS" \
    --topic "$FLOQ_TOPIC_LINEAGE" COMPLETE etl load $RUN3 \
    --in s3://lake orders/daily --out dw mart
ok "emitted events keyed like the OpenLineage transports" bash -c \
    "kcat -b '$FLOQ_BROKERS' -C -t '$FLOQ_TOPIC_LINEAGE' -e -q -f '%k\n' | grep -c '^run:etl/load$' | grep -qx 2"

"${L[@]}" tail --from-beginning -e >"$T/tail.txt" 2>"$T/tail.err"
ok "tail -e exits at the end" test $? -eq 0
ok "tail printed 6 lines" test "$(wc -l <"$T/tail.txt")" -eq 6
ok "readable line: time, type, job, run, datasets" \
    grep -Eq "^2025-11-23T10:01:00.000Z COMPLETE +analytics/nightly-orders run $RUN1 in:2 out:2$" "$T/tail.txt"
ok "FAIL line carries the error message" \
    grep -q "FAIL .* run $RUN2 .* error: non-zero exit (exit status 2)" "$T/tail.txt"
ok "emitted job shows" grep -q "COMPLETE .*etl/load run $RUN3 in:1 out:1" "$T/tail.txt"

"${L[@]}" tail --json --from-beginning -e >"$T/events.jsonl"
ok "tail --json gives the events unchanged" bash -c \
    "cut -f2 '$T/worker' | sort >'$T/a'; grep nightly-orders '$T/events.jsonl' | sort >'$T/b'; cmp -s '$T/a' '$T/b'"
$PY tests/data/openlineage/validate.py "$T/events.jsonl" >"$T/validate.out"
ok "every event on the topic is valid OpenLineage 2-0-2: $(tail -1 "$T/validate.out")" \
    test $? -eq 0

# tail from the end sees what comes later
bg tail "${L[@]}" tail
later() {  # emitted again on every try: the tail may not be assigned yet
    "$TOOL" emit --brokers "$FLOQ_BROKERS" --topic "$FLOQ_TOPIC_LINEAGE" \
        RUNNING etl load $RUN4 >/dev/null 2>&1
    grep -q "RUNNING .*etl/load" "$T/tail.log"
}
ok "tail shows an event emitted after it started" wait_for 30 later
ok "tail from the end skips the old events" \
    bash -c "! grep -q nightly-orders '$T/tail.log'"

# graph from the topic
"${L[@]}" graph --format json --output "$T/graph.json"
ok "graph --format json from the topic" test $? -eq 0
$PY - "$T/graph.json" >"$T/graph.check" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))
nodes = {n["id"]: n for n in g["nodes"]}
edges = {(e["from"], e["to"]) for e in g["edges"]}
want_nodes = {
    "dataset:postgres://db:5432/shop.public.orders",
    "dataset:postgres://db:5432/shop.public.customers",
    "dataset:s3://lake/orders/daily", "dataset:s3://lake/orders/by_region",
    "dataset:dw/mart", "job:analytics/nightly-orders", "job:etl/load"}
want_edges = {
    ("dataset:postgres://db:5432/shop.public.orders",
     "job:analytics/nightly-orders"),
    ("job:analytics/nightly-orders", "dataset:s3://lake/orders/daily"),
    ("dataset:s3://lake/orders/daily", "job:etl/load"),
    ("job:etl/load", "dataset:dw/mart")}
ok = (set(nodes) == want_nodes and want_edges <= edges
      and nodes["job:analytics/nightly-orders"]["lastState"] == "FAIL"
      and nodes["job:analytics/nightly-orders"]["runs"] == 2
      and nodes["job:etl/load"]["runs"] == 2)
print("nodes", sorted(nodes), "edges", sorted(edges))
sys.exit(0 if ok else 1)
EOF
ok "graph nodes, edges and last states as expected" test $? -eq 0
"${L[@]}" graph >"$T/graph.dot"
ok "graph DOT edge orders/daily -> load" \
    grep -q '"dataset:s3://lake/orders/daily" -> "job:etl/load"' "$T/graph.dot"

# emit over HTTP
bg sink $PY tests/integration/data/lineage_sink.py --log "$T/http.jsonl" \
    --port-file "$T/port"
ok "sink listening" wait_for 20 test -s "$T/port"
ok "emit over HTTP" "$TOOL" emit --url "http://127.0.0.1:$(cat "$T/port")/api/v1/lineage" \
    COMPLETE etl http-job $RUN3 --out dw mart
ok "the endpoint got it as application/json" bash -c \
    "grep -q '\"content_type\": \"application/json\"' '$T/http.jsonl' && grep -q 'http-job' '$T/http.jsonl'"
finish
