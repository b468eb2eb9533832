#!/usr/bin/env bash
# itest: alone: fault timing
# 0185 (G1, G2; issue 9 item 5): the restore after an aborted transaction
# runs from the loop, a partition at a time, as on assignment. w1 owns
# both partitions A and B and runs a long job on A. A transaction of
# someone else is held open on B's runs partition (0160's technique), then
# w1 is fenced once (a producer with w1's transactional id), so its
# transaction aborts, its producer is replaced and every owned partition
# is restored again; B's restore must wait for the open transaction.
# Meanwhile A goes on (restored beside B, although B comes first): a new
# run on A gets its final reply and the live
# run's heartbeats are committed while the transaction is still open;
# once it commits, B is served again and the long run is still RUNNING,
# once. Before the fix the restore after an abort ran to its end at once
# on the loop: nothing of A was answered or committed until the open
# transaction ended.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=2
# A lease (a third of the heartbeat timeout) longer than w1's short stop.
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=15000
worker_env
T=$FLOQ_TEST_TMP
STATE_TOOL=$TOOLS/floq_state_tool
HOLD_MS=15000

start_worker w1
ok "w1 restores both partitions" wait_for 90 worker_positioned w1 2
# B, the held one, is restored first in partition order: the restore of A
# must not wait behind it.
A=1
B=0
dA=$(name_on "$A")
dB=$(name_on "$B")
{ deploy_cmd "$dA" sleep.sh "{secs}"; deploy_cmd "$dB" sleep.sh "{secs}"; } | produce >/dev/null
long=$(run_cmd "$dA" '{"secs":"300"}' | produce)
ok "a long run is RUNNING on w1" wait_for 60 has_status "$long" RUNNING

# Someone's transaction open on B's runs partition.
jq -cn --arg t "$FLOQ_TOPIC_RUNS" --argjson p "$B" \
    '{topic: $t, partition: $p, key: "0185-unrelated", type: "RunState"}' >"$T/txn.jsonl"
bg holder "$STATE_TOOL" hold-txn --txn-id "floq-0185-$$" --hold-ms "$HOLD_MS" --input "$T/txn.jsonl"
holder_open() { grep -q '^open' "$T/holder.log"; }
holder_done() { grep -q '^committed' "$T/holder.log"; }
ok "the transaction is open" wait_for 30 holder_open

# w1 fenced once: its open transaction is aborted by the coordinator.
# w1 is stopped meanwhile (well inside its session timeout and lease), so
# that its new producer's init does not race the fencer's (which would
# fence it a second time: a worker fenced twice in a minute stops).
jq -cn --arg t "$FLOQ_TOPIC_RUNS" --argjson p "$A" \
    '{topic: $t, partition: $p, key: "0185-fencer", type: "RunState"}' >"$T/fence.jsonl"
kill -STOP "${WPID[w1]}"
"$STATE_TOOL" hold-txn --txn-id "floq-w1-$$" --hold-ms 0 --input "$T/fence.jsonl" >"$T/fencer.log" 2>&1
kill -CONT "${WPID[w1]}"
ok "the fencer committed" grep -q '^committed' "$T/fencer.log"
ok "w1 is fenced and rewinds" wait_for 30 worker_log_has w1 "aborting the transaction"
ok "w1 waits for the open transaction to restore B again" \
    wait_for 30 worker_log_has w1 "\[$B\]: waiting for an open transaction"
hb0=$(date +%s%3N)
# cpu_ticks PID: the process's user + system clock ticks so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
c0=$(cpu_ticks "${WPID[w1]}") t0=$(date +%s%3N)

short=$(run_cmd "$dA" '{"secs":"0"}' | produce)
ok "a run on A gets its final reply during B's restore" wait_for 10 has_final "$short"
ok "... while the transaction is still open" bash -c "! grep -q '^committed' '$T/holder.log'"
hb_now() {
    "$TOOL" runs --latest >"$T/runs.json"
    local hb
    hb=$(jq -r --arg c "$long" 'select(.command_id==$c)|.heartbeat_at' "$T/runs.json")
    [[ -n $hb && $hb -gt $hb0 ]]
}
ok "the live run's heartbeats are committed during B's restore" wait_for 5 hb_now
ok "... still before the transaction commits" bash -c "! grep -q '^committed' '$T/holder.log'"
# While B's restore waits on the broker the loop waits too, it does not
# spin (it did: a core's worth of CPU for the whole hold).
cpu_pct=$(( ( $(cpu_ticks "${WPID[w1]}") - c0 ) * 1000 * 100 / $(getconf CLK_TCK) / ( $(date +%s%3N) - t0 + 1 ) ))
ok "... and w1 does not spin meanwhile (${cpu_pct}% of a core)" test "$cpu_pct" -lt 40

ok "the transaction commits" wait_for 30 holder_done
onb=$(run_cmd "$dB" '{"secs":"0"}' | produce)
ok "w1 serves B again once restored" wait_for 30 has_final "$onb"
replies_now "$T/replies.json"
ok "... SUCCEEDED" test "$(statuses "$T/replies.json" "$onb")" = "ACCEPTED RUNNING SUCCEEDED"
ok "the short run on A SUCCEEDED" test "$(statuses "$T/replies.json" "$short")" = "ACCEPTED RUNNING SUCCEEDED"
ok "the long run is still RUNNING, once" test "$(statuses "$T/replies.json" "$long")" = "ACCEPTED RUNNING"
ok "w1 is alive" worker_alive w1
finish
