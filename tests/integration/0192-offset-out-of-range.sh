#!/usr/bin/env bash
# 0192 (start-up, G1): a committed offset outside its commands partition's
# offsets is replaced by the nearest one that exists. w1 answers commands
# on both partitions of a two-partition commands topic and stops. While no
# worker runs, partition 0 gets three more commands and Kafka's
# DeleteRecords (kafka-delete-records.sh) deletes all but the last of them:
# the committed offset is below the log start, as when retention deleted
# what was never consumed. Partition 1 gets a committed offset far above
# its end, as a worker commits it (a transaction of floq_state_tool): what
# a recreated topic leaves. (Kafka itself drops a deleted topic's committed
# offsets, so recreating the topic shows only the no-committed-offset
# case.) w2 must warn about both, position partition 0 at its log start
# and partition 1 at its end, answer the command that survived the
# deletion and a new one on each partition, and answer none of w1's
# commands again. Before the fix w2 sought the committed offsets, the
# fetches answered OFFSET_OUT_OF_RANGE, auto.offset.reset=error turned
# that into the reset error, and w2 asked for the same committed offsets
# again, for ever: neither partition answered a command again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=2
worker_env
T=$FLOQ_TEST_TMP
STATE_TOOL=$TOOLS/floq_state_tool

# Kafka's own command-line tools, from the jars ops/kafka/kafka.sh uses.
KLIBS=$(ops/kafka/kafka.sh fetch 2>/dev/null | tail -1)
if ! LC_ALL=C grep -qaF org/apache/kafka/tools/DeleteRecordsCommand.class \
        "$KLIBS"/kafka-tools-*.jar 2>/dev/null; then
    echo "  no Kafka tools (DeleteRecordsCommand) in '$KLIBS'"
    exit 77
fi
ktool() {
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -Dorg.slf4j.simpleLogger.logFile=System.err \
        -cp "$KLIBS/*" "org.apache.kafka.tools.$1" \
        --bootstrap-server "$FLOQ_BROKERS" "${@:2}"
}
# end_of P: the log end offset of commands partition P.
end_of() {
    ktool GetOffsetShell --topic "$FLOQ_TOPIC_COMMANDS" --partitions "$1" \
        --time -1 | awk -F: '{ print $NF }'
}
# committed_of P: the group's committed offset of commands partition P.
committed_of() {
    ktool consumer.group.ConsumerGroupCommand --describe --offsets \
        --group "$FLOQ_GROUP_ID" 2>/dev/null |
        awk -v t="$FLOQ_TOPIC_COMMANDS" -v p="$1" '$2 == t && $3 == p { print $4 }'
}

start_worker w1
ok "w1 has restored and positioned both partitions" wait_for 90 worker_positioned w1 2
d0=$(name_on 0)
d1=$(name_on 1)
{ deploy_cmd "$d0" ok.sh; deploy_cmd "$d1" ok.sh; } | produce >"$T/old"
for i in 1 2; do run_cmd "$d0"; run_cmd "$d1"; done | produce >>"$T/old"
ok "w1 answers 6 commands" wait_for 60 all_final "$T/old"
kill -TERM "${WPID[w1]}"
w1_gone() { ! kill -0 "${WPID[w1]}" 2>/dev/null; }
ok "w1 stops" wait_for 60 w1_gone

# Partition 0: below the log start.
c0=$(committed_of 0)
c1=$(committed_of 1)
ok "w1 committed its offsets ($c0, $c1)" test "${c0:--1}" -eq 3 -a "${c1:--1}" -eq 3
for i in 1 2 3; do run_cmd "$d0" "{\"n\":\"gap$i\"}"; done | produce >"$T/gap"
e0=$(end_of 0)
ok "partition 0 ends 3 commands later ($e0)" test "${e0:--1}" -eq $((c0 + 3))
lo0=$((e0 - 1))
printf '{"version":1,"partitions":[{"topic":"%s","partition":0,"offset":%d}]}\n' \
    "$FLOQ_TOPIC_COMMANDS" "$lo0" >"$T/delete.json"
ktool DeleteRecordsCommand --offset-json-file "$T/delete.json" >"$T/delete.log" 2>&1
ok "records of partition 0 deleted up to $lo0, above the committed $c0" \
    grep -q "low_watermark: $lo0" "$T/delete.log"

# Partition 1: far above the end, committed as a worker commits (the
# transaction carries a tombstone of a run that never was).
e1=$(end_of 1)
high=$((e1 + 1000000))
printf '{"topic":"%s","partition":1,"key":"oor-none"}\n' "$FLOQ_TOPIC_RUNS" |
    "$STATE_TOOL" hold-txn --txn-id "floq-itest-oor-$$" --hold-ms 0 \
        --group "$FLOQ_GROUP_ID" --partition 1 --offset "$high" >"$T/commit.log" 2>&1
p1_high() { [[ $(committed_of 1) == "$high" ]]; }
ok "partition 1's committed offset is $high, above its end $e1" wait_for 30 p1_high

start_worker w2
ok "w2 warns: partition 0's committed offset below its log start" \
    wait_for 60 worker_log_has w2 "partition 0: committed offset $c0 outside $lo0\\.\\.$e0: from $lo0"
ok "w2 warns: partition 1's committed offset above its end" \
    wait_for 30 worker_log_has w2 "partition 1: committed offset $high outside 0\\.\\.$e1: from $e1"
ok "w2 positions partition 0 at its log start" wait_for 30 worker_log_has w2 \
    "partition 0 restored and positioned (committed offset $lo0)"
ok "w2 positions partition 1 at its end" wait_for 30 worker_log_has w2 \
    "partition 1 restored and positioned (committed offset $e1)"
tail -1 "$T/gap" >"$T/kept"
ok "w2 answers the command the deletion kept" wait_for 60 all_final "$T/kept"
{ run_cmd "$d0" '{"n":"new"}'; run_cmd "$d1" '{"n":"new"}'; } | produce >"$T/new"
ok "w2 answers a new command on each partition" wait_for 60 all_final "$T/new"

replies_now "$T/replies.json"
R=$T/replies.json
dup=$(jq -r 'select(.final)|.command_id' "$R" | sort | uniq -d | wc -l)
ok "zero second final replies ($dup)" test "$dup" -eq 0
again=$(jq -r --arg w "w2-$$" 'select(.final and .worker == $w)|.command_id' "$R" |
    sort -u | comm -12 - <(sort -u "$T/old") | wc -l)
ok "w2 answered none of w1's commands again ($again)" test "$again" -eq 0
resets=$(grep -c "fetching its committed offset again" "$T/w2.log")
ok "w2 did not meet the reset error again ($resets)" test "$resets" -eq 0
finish
