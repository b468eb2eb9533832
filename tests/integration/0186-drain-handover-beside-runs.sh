#!/usr/bin/env bash
# itest: alone: fault timing
# 0186 (G2, G6; issue 9 item 5): a drain's handover waits in the loop, not
# on it. w1 runs two jobs, one on each partition: X on A takes 6 s to stop
# after SIGTERM (slow_stop.sh, a job cleaning up), Y on B stops at once.
# w1 is drained (SIGTERM, grace 1 s): both are stopped and handed over.
# Y's handover (RETRYING at the same attempt, no worker named) must be
# committed while X is still stopping, and X's heartbeats must go on
# being committed meanwhile; X is handed over once it has ended, and only
# then does w1 leave (exit 0). Before the fix the handover waited on the
# loop for every stopped attempt: nothing was committed until X had
# ended (Y's handover and X's in one late transaction, no heartbeat).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=2
# X needs 6 s to stop: the kill grace above that, the heartbeat timeout
# by the timing rule (7000 + 500 + 100 < 24000 / 3).
export FLOQ_PROCESS_KILL_GRACE_MS=7000
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=24000
export FLOQ_WORKER_DRAIN_GRACE_MS=1000
worker_env
T=$FLOQ_TEST_TMP

start_worker w1
ok "w1 restores both partitions" wait_for 90 worker_positioned w1 2
dA=$(name_on 0)
dB=$(name_on 1)
{ deploy_cmd "$dA" slow_stop.sh 300 6; deploy_cmd "$dB" sleep.sh "{secs}"; } | produce >/dev/null
x=$(run_cmd "$dA" | produce)
y=$(run_cmd "$dB" '{"secs":"300"}' | produce)
ok "X is RUNNING" wait_for 60 has_status "$x" RUNNING
ok "Y is RUNNING" wait_for 60 has_status "$y" RUNNING

kill -TERM "${WPID[w1]}"
ok "w1 stops its attempts" wait_for 30 worker_log_has w1 "handing over 2 live run"
t0=$(date +%s%3N)
# field CMD_ID FIELD: FIELD of CMD_ID's run in the last runs snapshot.
field() { jq -r --arg c "$1" "select(.command_id==\$c)|.$2" "$T/runs.json"; }
y_handed() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(field "$y" status) == RETRYING ]]
}
ok "Y's handover is committed" wait_for 20 y_handed
ok "... while X is still stopping (RUNNING in Kafka)" test "$(field "$x" status)" = RUNNING
ok "... and w1 still in the group" worker_alive w1
x_hb() {
    "$TOOL" runs --latest >"$T/runs.json"
    local hb
    hb=$(field "$x" heartbeat_at)
    [[ $(field "$x" status) == RUNNING && -n $hb && $hb -gt $t0 ]]
}
ok "X's heartbeats are committed while it stops" wait_for 4 x_hb
x_handed() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(field "$x" status) == RETRYING ]]
}
ok "X is handed over once it has ended" wait_for 20 x_handed
ok "... at the same attempt, no worker named" \
    test "$(field "$x" attempt)/$(field "$x" worker)" = "1/null"
ok "Y: same attempt, no worker named" \
    test "$(field "$y" attempt)/$(field "$y" worker)" = "1/null"
w1_gone() { ! worker_alive w1; }
ok "w1 leaves" wait_for 20 w1_gone
wait "${WPID[w1]}"
ok "... drained (exit 0)" test $? -eq 0
finish
