#!/usr/bin/env bash
# 0117 (G1, G2): the broker itself dies. On a single-node Kafka of its own,
# two workers run a few hundred short runs and a dozen runs of a few
# seconds; while they are in flight the broker is killed with SIGKILL (no
# clean shutdown), the workers notice, and the broker is restarted on the
# same data. The workers are not restarted: they reconnect, and every run
# command still gets exactly one final reply (read_committed), none missing,
# none duplicated; the long runs end SUCCEEDED (possibly after a retry) or
# LOST, never silently.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/broker_lib.sh"
broker_start 1
worker_env
export FLOQ_WORKER_CONCURRENCY=4
T=$FLOQ_TEST_TMP
N=${FLOQ_RESTART_RUNS:-300}
SLOW=12
start_worker w1
start_worker w2
ok "w1 joins" wait_for 90 worker_assigned w1
ok "w2 joins" wait_for 90 worker_assigned w2
retry='{"max_attempts":3,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.1}'
{
    for i in 0 1 2 3 4 5; do
        deploy_cmd "slow$i" sleep.sh "{secs}" | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r'
        deploy_cmd "short$i" ok.sh "{n}"
    done
} | produce >/dev/null
short_runs() {
    local i
    for i in $(seq "$1" "$2"); do
        printf '{"deployment":"short%d","body":{"RunBody":{"params":{"n":"%d"}}}}\n' $((i % 6)) "$i"
    done
}
# a third of the short runs, then the long ones, then the rest: when the
# broker dies, some runs have ended, the long ones hold the executor slots,
# short ones are queued behind them and more commands are still unread
short_runs 1 $((N / 3)) | produce >"$T/short"
for i in $(seq 1 $SLOW); do run_cmd "slow$((i % 6))" '{"secs":"4"}'; done | produce >"$T/slow"
short_runs $((N / 3 + 1)) "$N" | produce >>"$T/short"
cat "$T/slow" "$T/short" >"$T/ids"
ok "$((N + SLOW)) commands produced" test "$(wc -l <"$T/ids")" -eq $((N + SLOW))
slow_running() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(jq -r 'select(.status=="RUNNING" and (.deployment|startswith("slow")))|.run_id' "$T/runs.json" | wc -l) -ge 4 ]]
}
ok "long runs are running" wait_for 60 slow_running
replies_now "$T/before.json"
done_before=$(jq -r 'select(.final)|.command_id' "$T/before.json" | sort -u | comm -12 - <(sort "$T/ids") | wc -l)
l1=$(wc -l <"$T/w1.log") l2=$(wc -l <"$T/w2.log")
kafka kill 1 2>/dev/null
echo "  broker killed with $done_before of $((N + SLOW)) runs answered"
ok "broker down" node_down 1
lost_broker() {
    tail -n +$((l1 + 1)) "$T/w1.log" | grep -qE "Connection refused|brokers are down" &&
    tail -n +$((l2 + 1)) "$T/w2.log" | grep -qE "Connection refused|brokers are down"
}
ok "both workers notice" wait_for 30 lost_broker
t0=$(date +%s)
ok "broker restarted on its data" kafka restart-node 1 2>"$T/restart.log"
echo "  broker back after $(( $(date +%s) - t0 )) s"
ok "all $((N + SLOW)) answered" wait_for 180 all_final "$T/ids" 2>>"$T/tool.log"
R=$T/replies.json
assert_one_final "$T/ids" "$R"
ok "short runs all SUCCEEDED" test "$(final_count "$T/short" "$R" SUCCEEDED)" -eq "$N"
ok "long runs end SUCCEEDED or LOST" test "$(final_count "$T/slow" "$R" 'SUCCEEDED|LOST')" -eq $SLOW
"$TOOL" runs --latest >"$T/runs.json"
ok "no run left unfinished" test "$(jq -r 'select(.status|IN("SUCCEEDED","FAILED","CANCELLED","TIMED_OUT","LOST")|not)|.run_id' "$T/runs.json" | wc -l)" -eq 0
echo "  retried runs: $(jq -r 'select(.attempt > 1)|.run_id' "$T/runs.json" | wc -l), LOST: $(jq -r 'select(.status=="LOST")|.run_id' "$T/runs.json" | wc -l)"
ok "w1 still serving (never restarted)" worker_alive w1
ok "w2 still serving (never restarted)" worker_alive w2
finish
