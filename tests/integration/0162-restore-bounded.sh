#!/usr/bin/env bash
# itest: alone: a time bound
# 0162 (G2): a restore stays bounded as history grows. Four live runs on
# one partition, then days of their heartbeats written at speed (N small
# heartbeat records "<run_id>:hb", 2 s apart in heartbeat_at, as a worker
# writes them), on topics created as the worker creates them. With the
# state topics' segment.ms / max.compaction.lag.ms / min.cleanable.dirty.
# ratio (set small here so that hours pass in seconds) compaction keeps
# the partition near one record per key, and a new owner's restore reads
# about as many records as before the history, and takes a fraction of
# the time of the control: the same history on topics created with
# compaction alone (Kafka's defaults, as floq created them before: the
# active segment, 7 days, is never compacted), whose restore reads all N.
# The restored runs carry the last heartbeat (applied from the small
# records). No absolute time is asserted: the control is measured in the
# same run. (The broker's segment.bytes, 64 MiB from kafka.sh, is not
# reached by the N records, as Kafka's default 1 GiB is not by a day of
# a real fleet's heartbeats: only segment.ms and max.compaction.lag.ms
# roll the segment.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v kcat >/dev/null || { echo "  kcat is required"; exit 77; }
export FLOQ_TOPIC_PARTITIONS=1
worker_env
T=$FLOQ_TEST_TMP
STATE_TOOL=$TOOLS/floq_state_tool
N=${FLOQ_TEST_HEARTBEATS:-300000}
NOW=$(date +%s%3N)

# restore_of NAME: "RECORDS MS" of worker NAME's restore of partition 0.
restore_of() {
    sed -n 's/.*\[restore\] partition 0: .* runs from \([0-9]*\) records in \([0-9]*\) ms.*/\1 \2/p' \
        "$T/$1.log" | tail -1
}
restored() { [[ -n $(restore_of "$1") ]]; }
# records_in TOPIC: how many records a reader of TOPIC gets now.
records_in() {
    kcat -b "$FLOQ_BROKERS" -C -t "$1" -e -q -f '%o\n' 2>/dev/null | wc -l
}

# four live runs, as the worker wrote them (one transaction)
live_runs() {
    for i in 1 2 3 4; do
        jq -cn --arg t "$FLOQ_TOPIC_RUNS" --arg r "$(cat /proc/sys/kernel/random/uuid)" \
            --arg c "$(cat /proc/sys/kernel/random/uuid)" --argjson now "$NOW" \
            --arg w "ghost-$$" \
            '{topic: $t, partition: 0, key: $r, type: "RunState",
              value: {run_id: $r, deployment: "d", command_id: $c, status: "RUNNING",
                      attempt: 1, worker: $w, heartbeat_at: $now, created_at: $now,
                      started_at: $now, params: {day: "2026-12-01"}}}'
    done >"$T/$1.txn"
    "$STATE_TOOL" hold-txn --txn-id "floq-0162-$1-$$" --hold-ms 0 --input "$T/$1.txn" >/dev/null &&
        jq -c '.value + {partition: 0}' "$T/$1.txn" >"$T/$1.runs"
}

# history NAME: N heartbeats of NAME's runs, then a trickle until the
# partition is compacted (or, for the control, for as long), so the
# active segment rolls as it does under a live worker.
history() {
    "$STATE_TOOL" heartbeats --count "$N" --input "$T/$1.runs" >"$T/$1.hb"
}
poke() { "$STATE_TOOL" heartbeats --count 4 --input "$T/$1.runs" >"$T/$1.last"; }
compacted() { poke "$1"; (( $(records_in "$FLOQ_TOPIC_RUNS") < N / 20 )); }

# worker NAME: starts it (it never takes the ghost's runs over), waits
# for its restore, drains it.
worker() {
    start_worker "$1" -o worker.heartbeat.timeout.ms=3600000
    ok "$1 restores" wait_for 120 restored "$1"
    kill -TERM "${WPID[$1]}"
    gone() { ! worker_alive "$1"; }
    wait_for 60 gone "$1"
}

echo "  -- state topics as floq creates them (test timings: 1 s segments)"
export FLOQ_TOPIC_STATE_SEGMENT_MS=1000 FLOQ_TOPIC_STATE_MAX_COMPACTION_LAG_MS=1000
export FLOQ_TOPIC_STATE_MIN_CLEANABLE_DIRTY_RATIO=0.01
ok "topics created" "$STATE_TOOL" create-topics
ok "live runs written" live_runs a
worker wa
read -r base_rec base_ms <<<"$(restore_of wa)"
echo "  baseline restore: $base_rec records in $base_ms ms"
ok "$N heartbeats written" history a
echo "  history: $(cat "$T/a.hb" | cut -d' ' -f1) heartbeats, $(( N / 4 * 2 / 3600 )) h per run"
ok "compaction keeps the runs partition small" wait_for 180 compacted a
echo "  records on the runs partition: $(records_in "$FLOQ_TOPIC_RUNS")"
worker wb
read -r rec ms <<<"$(restore_of wb)"
echo "  restore after the history: $rec records in $ms ms"
ok "the restore reads about as many records as before ($rec vs $base_rec, bound $((base_rec + N / 20)))" \
    test "$rec" -le $((base_rec + N / 20))
last=$(cut -d' ' -f2 "$T/a.last")
rid=$(jq -r .run_id "$T/a.runs" | head -1)
st=$(printf '{"deployment":"d","body":{"StatusBody":{"run_id":"%s"}}}\n' "$rid" | produce)
start_worker wb2 -o worker.heartbeat.timeout.ms=3600000
ok "status answered" wait_for 60 has_final "$st"
replies_now "$T/replies.json"
hb=$(reply_field "$T/replies.json" "$st" STATUS detail | jq -r .run.heartbeat_at)
ok "the restored run has its last heartbeat ($hb = $last)" test "$hb" = "$last"
kill -TERM "${WPID[wb2]}"

echo "  -- control: the same history, topics with compaction alone"
floq_test_topics
export FLOQ_TOPIC_STATE_SEGMENT_MS=604800000 FLOQ_TOPIC_STATE_MAX_COMPACTION_LAG_MS=9223372036854775807
export FLOQ_TOPIC_STATE_MIN_CLEANABLE_DIRTY_RATIO=0.5
ok "control topics created" "$STATE_TOOL" create-topics
ok "live runs written" live_runs c
ok "$N heartbeats written" history c
poke c
worker wc
read -r crec cms <<<"$(restore_of wc)"
echo "  control restore: $crec records in $cms ms"
ok "the control restore reads the whole history" test "$crec" -ge "$N"
ok "the restore takes under a quarter of the control's time ($ms vs $cms ms)" \
    test $((ms * 4)) -lt "$cms"
finish
