#!/usr/bin/env bash
# itest: alone: fault timing
# 0184 (G1, G2; issue 9 item 1): a restore runs from the loop, not inside
# the rebalance callback. w1 owns partition A with a live run; w2 owns B,
# and B's runs partition is held back by an open transaction (0160's
# technique: a transaction of a "previous owner" held open 20 s, longer
# than w1's max.poll.interval.ms of 8 s). w2 drains, w1 gets B and must
# wait for that transaction before it restores B. Meanwhile A goes on: a
# new run on A gets its final reply and the live run's heartbeats are
# committed while the transaction is still open; w1 stays in the group
# (no lost assignment, no max.poll.interval.ms exceeded) and, once the
# transaction commits, serves B. Before the fix the restore ran inside the
# callback: nothing of A was answered or committed until it returned, and
# the callback outlived max.poll.interval.ms.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=2
worker_env
T=$FLOQ_TEST_TMP
STATE_TOOL=$TOOLS/floq_state_tool
HOLD_MS=20000

start_worker w2
ok "w2 joins" wait_for 90 worker_assigned w2
start_worker w1 -X max.poll.interval.ms=8000
restored_part() {
    sed -n 's/.*\[restore\] partition \([0-9]\): .*/\1/p' "$T/$1.log" | head -1
}
w1_has_one() { [[ -n $(restored_part w1) ]]; }
ok "w1 takes one partition" wait_for 90 w1_has_one
A=$(restored_part w1)
B=$((1 - A))
# deployment names homed on A and B
dA=$(name_on "$A")
dB=$(name_on "$B")
echo "  w1 owns partition $A ($dA), w2 owns $B ($dB)"
{ deploy_cmd "$dA" sleep.sh "{secs}"; deploy_cmd "$dB" sleep.sh "{secs}"; } | produce >/dev/null
long=$(run_cmd "$dA" '{"secs":"300"}' | produce)
ok "a long run is RUNNING on w1" wait_for 60 has_status "$long" RUNNING

# B's previous owner left a transaction open on B's runs partition.
jq -cn --arg t "$FLOQ_TOPIC_RUNS" --argjson p "$B" \
    '{topic: $t, partition: $p, key: "0184-unrelated", type: "RunState"}' >"$T/txn.jsonl"
bg holder "$STATE_TOOL" hold-txn --txn-id "floq-0184-$$" --hold-ms "$HOLD_MS" --input "$T/txn.jsonl"
HOLDER=$!
holder_open() { grep -q '^open' "$T/holder.log"; }
holder_done() { grep -q '^committed' "$T/holder.log"; }
ok "the transaction is open" wait_for 30 holder_open
kill -TERM "${WPID[w2]}"
ok "w1 waits for it to restore B" wait_for 60 worker_log_has w1 "\[$B\]: waiting for an open transaction"
hb0=$(date +%s%3N)

# Partition A during B's restore: answered and committed.
short=$(run_cmd "$dA" '{"secs":"0"}' | produce)
ok "a run on A gets its final reply during B's restore" wait_for 15 has_final "$short"
ok "... while the transaction is still open" bash -c "! grep -q '^committed' '$T/holder.log'"
hb_now() {
    "$TOOL" runs --latest >"$T/runs.json"
    local hb
    hb=$(jq -r --arg c "$long" 'select(.command_id==$c)|.heartbeat_at' "$T/runs.json")
    [[ -n $hb && $hb -gt $hb0 ]]
}
ok "the live run's heartbeats are committed during B's restore" wait_for 10 hb_now
ok "... still before the transaction commits" bash -c "! grep -q '^committed' '$T/holder.log'"

ok "the transaction commits" wait_for 60 holder_done
wait "$HOLDER" 2>/dev/null
onb=$(run_cmd "$dB" '{"secs":"0"}' | produce)
ok "w1 serves B once restored" wait_for 60 has_final "$onb"
replies_now "$T/replies.json"
ok "... SUCCEEDED" test "$(statuses "$T/replies.json" "$onb")" = "ACCEPTED RUNNING SUCCEEDED"
ok "w1 restored B after the wait" worker_log_has w1 "partition $B restored and positioned"
ok "w1 is alive" worker_alive w1
ok "w1 never lost its assignment" bash -c "! grep -Eq 'lost [0-9]+ partition|max.poll|MAXPOLL' '$T/w1.log'"
ok "the long run is still RUNNING, once" test "$(statuses "$T/replies.json" "$long")" = "ACCEPTED RUNNING"
finish
