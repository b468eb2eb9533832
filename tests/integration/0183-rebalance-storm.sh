#!/usr/bin/env bash
# itest: alone: fault timing
# 0183 (G2 under rebalances): a rebalance storm (workers joining and
# leaving again and again) while runs with max_attempts=1 are live. A
# rebalance is a handover, never a failure: 0 LOST, every run SUCCEEDED
# with exactly one final reply, and no attempt consumed (attempt 1).
# First a worker stalls (SIGSTOP) past its session timeout while it runs
# attempts and wakes again: its assignment is *lost*. Its attempts are
# stopped (or were by their lease) and handed over by a handover notice
# (docs/worker.md, "Revocation"), so the new owner retries them without
# consuming an attempt; before, they ended LOST. STORM_STALL=0 skips that
# part.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
start_worker w0
ok "w0 joins" wait_for 90 worker_assigned w0
one='{"max_attempts":1,"backoff_ms":100,"backoff_multiplier":1.0,"max_backoff_ms":100,"jitter":0.0}'
for i in 0 1 2 3 4 5; do
    deploy_cmd "s$i" sleep.sh "{secs}" | jq -c --argjson r "$one" '.body.DeployBody.retry = $r'
done | produce >/dev/null
for i in $(seq 1 24); do run_cmd "s$((i % 6))" '{"secs":"4"}'; done | produce >"$T/ids"
running() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(jq -r 'select(.status=="RUNNING")|.run_id' "$T/runs.json" | wc -l) -ge 4 ]]
}
ok "runs are live" wait_for 60 running
if [[ ${STORM_STALL:-1} != 0 ]]; then
    # w0 stalls past its session timeout while its attempts run, the group
    # gives its partitions to st, and w0 wakes to a lost assignment.
    start_worker st
    wait_for 60 worker_assigned st || fail "st never got partitions"
    w0_running() {
        "$TOOL" runs --latest >"$T/runs.json"
        [[ $(jq -r --arg w "w0-$$" 'select(.worker==$w and .status=="RUNNING")|.run_id' "$T/runs.json" | wc -l) -ge 1 ]]
    }
    ok "w0 runs attempts" wait_for 60 w0_running
    n_assigned=$(grep -c "assigned [1-9]" "$T/st.log")
    kill -STOP "${WPID[w0]}"
    trap 'kill -CONT "${WPID[w0]}" 2>/dev/null; cleanup' EXIT
    st_took_more() { (( $(grep -c "assigned [1-9]" "$T/st.log") > n_assigned )); }
    ok "the group gives w0's partitions to st" wait_for 60 st_took_more
    kill -CONT "${WPID[w0]}"
    ok "w0 notices its lost assignment" wait_for 30 worker_log_has w0 "lost"
    ok "w0 hands its ended attempts over" wait_for 30 worker_log_has w0 "handover notice sent"
    honoured() { grep -q "handed over by worker w0-$$ (it lost partition" "$T"/*.log; }
    ok "their new owner takes the notices" wait_for 30 honoured
    # st leaves again (a drain), so the storm's six joiners find partitions.
    kill -TERM "${WPID[st]}" 2>/dev/null
fi
# The storm: extra workers join, and leave (drain) or die, while runs live.
cycles=${STORM_CYCLES:-6}
declare -A told
for c in $(seq 1 "$cycles"); do
    start_worker "j$c"
    wait_for 60 worker_assigned "j$c" || fail "j$c never got partitions"
    if (( c % 3 == 0 )); then
        kill -TERM "${WPID[j$((c - 1))]}" 2>/dev/null
        told[j$((c - 1))]=1
    fi
    for i in $(seq 1 4); do run_cmd "s$(( (c + i) % 6 ))" '{"secs":"3"}'; done | produce >>"$T/ids"
done
# Once each: a second SIGTERM ends a draining worker at once (_exit), its
# runs unhanded, which is what an operator's double signal asks for.
for c in $(seq 1 "$cycles"); do
    [[ -n ${told[j$c]:-} ]] || kill -TERM "${WPID[j$c]}" 2>/dev/null
done
ok "every command answered" wait_for 240 all_final "$T/ids"
assert_one_final "$T/ids"
R=$T/replies.json
lost=$(final_count "$T/ids" "$R" LOST)
ok "0 LOST ($lost)" test "$lost" -eq 0
ok "every run SUCCEEDED" test "$(final_count "$T/ids" "$R" SUCCEEDED)" -eq "$(wc -l <"$T/ids")"
# librdkafka 2.0.2 #4059 workaround (no commit during a cooperative
# rebalance): transactions whose offsets met a newer generation, told, not
# asserted (a rebalance that starts after an assignment is not seen).
echo "  transactions refused for a stale generation: $(cat "$T"/*.log | grep -c 'generation id is not valid')"
later=$(jq -r 'select(.final and .attempt != 1)|.command_id' "$R" | sort -u | comm -12 - <(sort -u "$T/ids") | wc -l)
ok "no attempt consumed: every final reply is of attempt 1 ($later not)" test "$later" -eq 0
finish
