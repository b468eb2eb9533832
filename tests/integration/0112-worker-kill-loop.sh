#!/usr/bin/env bash
# 0112 (G1, G2): three workers under load while one of them is killed with
# SIGKILL and restarted, five times. Every command still gets exactly one
# terminal reply; runs in flight on a killed worker end SUCCEEDED after a
# retry or LOST, never silently.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
N=${FLOQ_KILL_RUNS:-300}
KILLS=${FLOQ_KILLS:-5}
for w in w1 w2 w3; do start_worker $w; done
for w in w1 w2 w3; do ok "$w joins" wait_for 90 worker_assigned $w; done
T=$FLOQ_TEST_TMP
retry='{"max_attempts":4,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.2}'
for i in $(seq 0 11); do
    deploy_cmd "kl$i" sleep.sh "{secs}" | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r'
done | produce >/dev/null
for i in $(seq 1 "$N"); do
    printf '{"deployment":"kl%d","body":{"RunBody":{"params":{"secs":"1"}}}}\n' $((i % 12))
done | produce >"$T/ids"
someone_running() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(jq -r 'select(.status=="RUNNING")|.run_id' "$T/runs.json" | wc -l) -ge 1 ]]
}
for k in $(seq 1 "$KILLS"); do
    v=w$(( (k % 3) + 1 ))
    wait_for 60 someone_running || true
    kill -KILL "${WPID[$v]}" 2>/dev/null
    wait "${WPID[$v]}" 2>/dev/null
    echo "  kill $k: $v"
    # the same worker id comes back: its new producer fences the old one
    mv "$T/$v.log" "$T/$v.$k.log"
    start_worker "$v"
    wait_for 90 worker_assigned "$v" || true
done
ok "all $N answered" wait_for 300 all_final "$T/ids"
R=$T/replies.json
replies_now "$R"
jq -r 'select(.final)|.command_id' "$R" | sort >"$T/finals"
ok "zero duplicate final replies" test "$(uniq -d "$T/finals" | wc -l)" -eq 0
ok "zero missing" test "$(sort "$T/ids" | comm -23 - "$T/finals" | wc -l)" -eq 0
bad=$(jq -r 'select(.final and .status!="SUCCEEDED" and .status!="LOST")|.command_id' "$R" |
    grep -c -F -f "$T/ids")
ok "finals are SUCCEEDED or LOST" test "$bad" -eq 0
"$TOOL" runs --latest >"$T/runs.json"
echo "  retried runs: $(jq -r 'select(.attempt > 1)|.run_id' "$T/runs.json" | wc -l), LOST: $(jq -r 'select(.status=="LOST")|.run_id' "$T/runs.json" | wc -l)"
finish
