#!/usr/bin/env bash
# itest: alone: fault timing
# 0180 (G2, never two live attempts): a new owner times a takeover on its
# own clock, never on the heartbeat_at another host's clock wrote. Two
# RUNNING runs are left by a "worker" whose clock is a day behind (its
# heartbeats look ancient) and a day ahead (they look fresh for a day).
# The worker that restores them must wait one full heartbeat timeout of
# its own, counted from its restore, before it declares either lost: not
# at once (the old attempt may still be dying) and not a day later. A
# RETRYING run the ghost left (it may have started that attempt before it
# vanished) waits as long before it is started again; it has no deployment
# here, so "cannot start" marks the moment.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
HB_TIMEOUT=$FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS
AVRO=$TOOLS/floq_avro_tool

# A first worker creates the topics and goes again.
start_worker w1
ok "w1 joins" wait_for 90 worker_assigned w1
kill -TERM "${WPID[w1]}"
ok "w1 drained" wait_for 60 worker_log_has w1 "exit 0"

dep=skewed
part=$("$TOOL" partition --key "$dep")
now=$(( $(date +%s%N) / 1000000 ))
day=86400000
# run_state RUN_ID CMD_ID HEARTBEAT_AT: a RunState RUNNING on a ghost.
run_state() {
    jq -cn --arg r "$1" --arg c "$2" --arg d "$dep" --argjson hb "$3" \
        --argjson now "$now" \
        '{run_id: $r, deployment: $d, command_id: $c, status: "RUNNING",
          attempt: 1, worker: "ghost-0", heartbeat_at: $hb,
          created_at: ($now - 60000), started_at: ($now - 60000),
          params: {}}'
}
retrying=33333333-3333-4333-8333-333333333333
jq -c --argjson hb $(( now - day )) '.status = "RETRYING" | .attempt = 2 |
    .run_id = "'$retrying'" | .command_id = "cmd-retrying" |
    .next_attempt_at = ($hb + 100)' <<<"$(run_state x x $(( now - day )))" |
    "$AVRO" encode RunState >"$T/retrying.bin"
past=11111111-1111-4111-8111-111111111111
future=22222222-2222-4222-8222-222222222222
run_state "$past" cmd-past $(( now - day )) | "$AVRO" encode RunState >"$T/past.bin"
run_state "$future" cmd-future $(( now + day )) | "$AVRO" encode RunState >"$T/future.bin"
declare -A ids=([past]=$past [future]=$future [retrying]=$retrying)
for r in past future retrying; do
    id=${ids[$r]}
    FLOQ_TOPIC_COMMANDS=$FLOQ_TOPIC_RUNS "$TOOL" produce-raw "$T/$r.bin" \
        --key "$id" --partition "$part"
done

start_worker w2
restored() { grep -q "partition $part: .* runs from" "$T/w2.log"; }
ok "w2 restores partition $part" wait_for 90 restored
lost_line() {
    if [[ $1 == "$retrying" ]]; then
        grep -m1 "run $1: cannot start" "$T/w2.log"
    else
        grep -m1 "run $1 (attempt 1): worker ghost-0 lost" "$T/w2.log"
    fi
}
both_lost() {
    lost_line "$past" >/dev/null && lost_line "$future" >/dev/null &&
        lost_line "$retrying" >/dev/null
}
# generous: a timeout and its slack, far below a day
ok "all three runs taken over" wait_for $(( HB_TIMEOUT / 1000 + 30 )) both_lost
ms_of() { date -d "$(cut -d' ' -f1 <<<"$1")" +%s%3N; }
t_restore=$(ms_of "$(grep -m1 "partition $part: .* runs from" "$T/w2.log")")
for r in past future retrying; do
    id=${ids[$r]}
    line=$(lost_line "$id")
    if [[ -z $line ]]; then
        fail "$r: no takeover"
        continue
    fi
    waited=$(( $(ms_of "$line") - t_restore ))
    echo "  $r: taken over $waited ms after the restore (timeout $HB_TIMEOUT ms)"
    ok "$r: waited a full heartbeat timeout of its own" test "$waited" -ge "$HB_TIMEOUT"
    # the upper bound only tells "waits its timeout" from "waits for ever";
    # a transaction that aborts meanwhile restores the partition, and a
    # restore starts the clock again (so up to two timeouts on a loaded
    # machine)
    ok "$r: not much longer" test "$waited" -le $(( 2 * HB_TIMEOUT + 4000 ))
done
R=$T/replies.json
replies_now "$R"
ok "past: one final LOST" test "$(statuses "$R" cmd-past)" = LOST
ok "future: one final LOST" test "$(statuses "$R" cmd-future)" = LOST
finish
