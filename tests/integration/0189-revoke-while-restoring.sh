#!/usr/bin/env bash
# itest: alone: fault timing
# 0189 (G1, G2): a partition revoked while it is restored again after an
# aborted transaction. w1 (concurrency 2) owns partitions 0 and 1, runs a
# long job on each and holds a queued run of each. Transactions of
# someone else are held open on both runs partitions, then w1 is fenced
# once: it aborts, and both partitions are restored again, held by those
# transactions; the long jobs end meanwhile (their ends wait for the
# restores). w2 joins and one partition (M) moves while it is still
# restoring on w1. Then: w1 announces M's ended long job to w2 by a
# handover notice keyed by the run's deployment (it was sent with an
# empty key: the ids were dropped before the ended attempts were named);
# w2 retries it at attempt 1 and runs the queued one; nothing of M starts
# on w1 again and M's queued run runs once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=2
export FLOQ_WORKER_CONCURRENCY=2
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=15000
worker_env
T=$FLOQ_TEST_TMP
STATE_TOOL=$TOOLS/floq_state_tool
HOLD_MS=30000

start_worker w1
ok "w1 restores both partitions" wait_for 90 worker_positioned w1 2
d[0]=$(name_on 0)
d[1]=$(name_on 1)
{ deploy_cmd "${d[0]}" sleep.sh "{secs}"; deploy_cmd "${d[1]}" sleep.sh "{secs}"; } | produce >/dev/null
long[0]=$(run_cmd "${d[0]}" '{"secs":"12"}' | produce)
long[1]=$(run_cmd "${d[1]}" '{"secs":"12"}' | produce)
ok "a long job RUNNING on partition 0" wait_for 60 has_status "${long[0]}" RUNNING
ok "a long job RUNNING on partition 1" wait_for 60 has_status "${long[1]}" RUNNING
q[0]=$(run_cmd "${d[0]}" '{"secs":"1"}' | produce)
q[1]=$(run_cmd "${d[1]}" '{"secs":"1"}' | produce)
ok "a queued run on partition 0 (ACCEPTED)" wait_for 30 has_status "${q[0]}" ACCEPTED
ok "a queued run on partition 1 (ACCEPTED)" wait_for 30 has_status "${q[1]}" ACCEPTED

for p in 0 1; do
    jq -cn --arg t "$FLOQ_TOPIC_RUNS" --argjson p "$p" \
        '{topic: $t, partition: $p, key: "0189-unrelated", type: "RunState"}' >"$T/txn$p.jsonl"
    bg "holder$p" "$STATE_TOOL" hold-txn --txn-id "floq-0189-$p-$$" --hold-ms "$HOLD_MS" --input "$T/txn$p.jsonl"
done
holders_open() { grep -q '^open' "$T/holder0.log" && grep -q '^open' "$T/holder1.log"; }
ok "both transactions are open" wait_for 30 holders_open
jq -cn --arg t "$FLOQ_TOPIC_RUNS" \
    '{topic: $t, partition: 0, key: "0189-fencer", type: "RunState"}' >"$T/fence.jsonl"
kill -STOP "${WPID[w1]}"
"$STATE_TOOL" hold-txn --txn-id "floq-w1-$$" --hold-ms 0 --input "$T/fence.jsonl" >"$T/fencer.log" 2>&1
kill -CONT "${WPID[w1]}"
ok "w1 is fenced and rewinds" wait_for 30 worker_log_has w1 "aborting the transaction"
waiting_both() { [[ $(grep -c "waiting for an open transaction" "$T/w1.log") -ge 2 ]]; }
ok "both restores wait for the open transactions" wait_for 30 waiting_both
# The long jobs end while their partitions are still restoring: their
# ends wait for the restores (not in Kafka yet, where they are RUNNING).
no_long_jobs() { ! pgrep -x -f "sleep 12" >/dev/null; }
ok "the long jobs end during the restores" wait_for 30 no_long_jobs
ok "... before the transactions end" bash -c "! grep -q '^committed' '$T/holder0.log' '$T/holder1.log'"

start_worker w2
ok "w1 gives a partition up while restoring it" wait_for 60 worker_log_has w1 "revoked 1 partition"
ok "... before the transactions end" bash -c "! grep -q '^committed' '$T/holder0.log' '$T/holder1.log'"
moved() { sed -n 's/.*\[rebalance\] partition \([0-9]\) restored and positioned.*/\1/p' "$T/w2.log" | head -1; }
has_moved() { [[ -n $(moved) ]]; }
ok "w2 takes it once restored" wait_for 60 has_moved
M=$(moved)
K=$((1 - M))
echo "  w1 keeps partition $K, partition $M moved to w2"
ok "w1 announces the moved, ended long job" \
    wait_for 30 worker_log_has w1 "partition $M was lost: handover notice sent"
keys() {
    kcat -b "$FLOQ_BROKERS" -C -e -o beginning -q -t "$FLOQ_TOPIC_COMMANDS" -p "$M" \
        -f '%k %h\n' 2>/dev/null | grep 'floq.handover' | cut -d' ' -f1
}
ok "... keyed by its deployment (keys: $(keys | tr '\n' ' '))" test "$(keys | sort -u)" = "${d[$M]}"
ok "w2 retries it at the same attempt" \
    wait_for 30 worker_log_has w2 "attempt 1 handed over by worker w1-$$"
moved_running() { has_status "${q[$M]}" RUNNING; }
ok "w2 runs the moved partition's queued run" wait_for 60 moved_running
final_q() { has_final "${q[$M]}"; }
ok "... to its end" wait_for 30 final_q
replies_now "$T/replies.json"
ok "... once, SUCCEEDED" test "$(statuses "$T/replies.json" "${q[$M]}")" = "ACCEPTED RUNNING SUCCEEDED"
run_of() { reply_field "$T/replies.json" "$1" ACCEPTED run_id; }
qrun=$(run_of "${q[$M]}")
ok "w1 never started the moved queued run" bash -c "! grep -q 'run $qrun of .* started' '$T/w1.log'"
ok "w1 is alive" worker_alive w1
finish
