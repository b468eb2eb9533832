#!/usr/bin/env bash
# 0108 (G1, G2): kill -9 a worker in the middle of a batch of runs. Every
# command still gets exactly one final reply (read_committed); runs that
# were running on the dead worker are noticed by their missing heartbeat
# and end SUCCEEDED after a retry (attempt 2) or LOST, never silently.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
start_worker w2
ok "w1 joins" wait_for 90 worker_assigned w1
ok "w2 joins" wait_for 90 worker_assigned w2
T=$FLOQ_TEST_TMP
retry='{"max_attempts":3,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.1}'
for i in 0 1 2 3 4 5; do
    deploy_cmd "k$i" sleep.sh "{secs}" | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r'
done | produce >/dev/null
for i in $(seq 1 30); do run_cmd "k$((i % 6))" '{"secs":"3"}'; done | produce >"$T/ids"
w1_running() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(jq -r --arg w "w1-$$" 'select(.worker==$w and .status=="RUNNING")|.run_id' "$T/runs.json" | wc -l) -ge 1 ]]
}
ok "w1 is running runs" wait_for 60 w1_running
jq -r --arg w "w1-$$" 'select(.worker==$w and .status=="RUNNING")|.run_id' "$T/runs.json" >"$T/victims"
kill -KILL "${WPID[w1]}"
echo "  killed w1 with $(wc -l <"$T/victims") run(s) running"
ok "every command answered" wait_for 180 all_final "$T/ids"
R=$T/replies.json
replies_now "$R"
dup=$(jq -r 'select(.final)|.command_id' "$R" | sort | uniq -d | wc -l)
ok "exactly one final reply per command" test "$dup" -eq 0
bad=$(jq -r 'select(.final and .status!="SUCCEEDED" and .status!="LOST")|.command_id' "$R" |
    grep -c -F -f "$T/ids")
ok "finals are SUCCEEDED or LOST" test "$bad" -eq 0
"$TOOL" runs --latest >"$T/runs.json"
retried=0
while read -r rid; do
    a=$(jq -r --arg r "$rid" 'select(.run_id==$r)|"\(.status) \(.attempt)"' "$T/runs.json")
    [[ $a == "SUCCEEDED 2" || $a == "SUCCEEDED 3" || $a == LOST* ]] && retried=$((retried + 1))
done <"$T/victims"
ok "runs of the dead worker retried or LOST ($retried of $(wc -l <"$T/victims"))" \
    test "$retried" -eq "$(wc -l <"$T/victims")"
ok "survivor took over" worker_log_has w2 "worker w1-$$ lost"
finish
