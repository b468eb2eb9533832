#!/usr/bin/env bash
# itest: alone: fault timing
# 0160 (G1, G2): a restore waits for the previous owner's transaction. w1
# runs a long job and is killed with SIGKILL; its last transaction (the
# run SUCCEEDED, its final reply and the consumed offsets, as a worker
# commits them) is committed late, as when its commit markers are still
# pending (leader failover) or a zombie's commit is slow: a helper producer
# writes it and holds it open 15 s. w2 takes the partition meanwhile. It
# must wait for that transaction (the committed offsets are UNSTABLE, the
# runs partition's last stable offset is below its end) and then restore
# the SUCCEEDED run: one final reply, SUCCEEDED, never LOST, never run
# again, and the commands partition not re-read from the beginning.
# Twice: with the offsets in the transaction (the committed-offset fetch
# waits first) and without (a transaction of heartbeats and executor
# events carries none: only the wait for the last stable offset helps).
# Before the fix w2 restored at the last stable offset, saw RUNNING with a
# stale heartbeat and replied LOST: two final replies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=1
worker_env
T=$FLOQ_TEST_TMP
STATE_TOOL=$TOOLS/floq_state_tool

# scenario A B WAITED [--group G --partition 0 --offset 2]: on the topics
# of the last floq_test_topics, worker A killed, its transaction held
# open, worker B takes over and must log WAITED.
scenario() {
    local a=$1 b=$2 waited=$3; shift 3
    local offsets=("$@")
    start_worker $a
    ok "$a joins" wait_for 90 worker_assigned $a
    deploy_cmd slow sleep.sh "{secs}" | produce >/dev/null
    c=$(run_cmd slow '{"secs":"300"}' | produce)
    ok "the run is RUNNING on $a" wait_for 60 has_status "$c" RUNNING
    kill -KILL "${WPID[$a]}"

    # $a's last transaction, as it would have committed it: RunState
    # SUCCEEDED, the final reply, the offsets of the two commands consumed.
    "$TOOL" runs --latest >"$T/runs.json"
    replies_now "$T/replies0.json"
    rid=$(reply_field "$T/replies0.json" "$c" RUNNING run_id)
    ok "a run id" test -n "$rid"
    now=$(date +%s%3N)
    {
        jq -c --arg r "$rid" --argjson now "$now" --arg t "$FLOQ_TOPIC_RUNS" \
            'select(.run_id==$r) | {topic: $t, partition: 0, key: $r, type: "RunState",
              value: (. + {status: "SUCCEEDED", finished_at: $now, heartbeat_at: $now,
                           exit_code: 0, output_tail: "done"})}' "$T/runs.json"
        jq -c --arg c "$c" --arg t "$FLOQ_TOPIC_REPLIES" \
            'select(.command_id==$c and .status=="RUNNING") | {topic: $t, partition: 0, key: $c,
              type: "Reply", value: (. + {status: "SUCCEEDED", final: true, exit_code: 0})}' \
            "$T/replies0.json"
    } >"$T/txn.jsonl"
    ok "the last transaction has its two records" test "$(wc -l <"$T/txn.jsonl")" -eq 2
    bg "holder$a" "$STATE_TOOL" hold-txn --txn-id "floq-$a-$$" --hold-ms 15000 \
        --input "$T/txn.jsonl" "${offsets[@]}"
    HOLDER=$!
    holder_open() { grep -q '^open' "$T/holder$a.log"; }
    ok "the transaction is open" wait_for 30 holder_open

    start_worker $b
    ok "$b joins" wait_for 90 worker_assigned $b
    holder_done() { grep -q '^committed' "$T/holder$a.log"; }
    ok "the transaction commits" wait_for 60 holder_done
    wait "$HOLDER" 2>/dev/null
    ok "$b waited for it" wait_for 10 worker_log_has $b "$waited"

    # Another command through $b: by its answer $b has scanned its runs many
    # times (every 500 ms), so a LOST would have been written.
    c2=$(run_cmd slow '{"secs":"0"}' | produce)
    ok "$b serves the partition" wait_for 60 has_final "$c2"
    replies_now "$T/replies.json"
    ok "the run has one final reply ($(finals "$T/replies.json" "$c"))" \
        test "$(finals "$T/replies.json" "$c")" -eq 1
    ok "... SUCCEEDED" test "$(statuses "$T/replies.json" "$c")" = "ACCEPTED RUNNING SUCCEEDED"
    ok "$b did not declare it lost" bash -c "! grep -q 'run $rid.*lost' '$T/$b.log'"
    ok "$b did not start it again" bash -c "! grep -q 'run $rid of .slow. started' '$T/$b.log'"
    dup=$(jq -r 'select(.final)|.command_id' "$T/replies.json" | sort | uniq -d | wc -l)
    ok "no command answered twice (no re-read from offset 0)" test "$dup" -eq 0
    "$TOOL" runs --latest >"$T/runs.json"
    ok "its RunState is SUCCEEDED" \
        test "$(jq -r --arg r "$rid" 'select(.run_id==$r)|.status' "$T/runs.json")" = SUCCEEDED
}

echo "  -- the transaction commits the consumed offsets too"
scenario w1 w2 "committed offsets stable after" --group "$FLOQ_GROUP_ID" --partition 0 --offset 2
echo "  -- the transaction carries no offsets"
floq_test_topics
scenario w3 w4 "' \[0\]: stable after"
finish
