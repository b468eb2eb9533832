#!/usr/bin/env bash
# itest: alone: fault timing
# 0112 (G1, G2): three workers under load while one of them is killed with
# SIGKILL and restarted, five times. The job is a shell script with
# children (data/attempt.sh, no exec) that logs every execution of itself.
# Every command still gets exactly one final reply, SUCCEEDED (after a
# retry when its worker was killed), and no execution of a killed worker's
# job runs on beside the next attempt (data/attempt_lib.sh; 0190 adds a
# zombie, a broker outage and a drain to the same loop).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
T=$FLOQ_TEST_TMP
ATTEMPT_LOG=$T/attempts.log
source "$(dirname "$0")/data/attempt_lib.sh"
command -v perl >/dev/null || { echo "  perl is needed (monotonic clock of the job): skipped"; exit 77; }
worker_env
: >"$ATTEMPT_LOG"
N=${FLOQ_KILL_RUNS:-300}
KILLS=${FLOQ_KILLS:-5}
for w in w1 w2 w3; do start_worker $w; attempt_note_worker $w; done
for w in w1 w2 w3; do ok "$w joins" wait_for 90 worker_assigned $w; done
retry='{"max_attempts":8,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.2}'
for i in $(seq 0 11); do
    attempt_deploy "kl$i" "$retry"
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
    attempt_note_worker "$v"
    wait_for 90 worker_assigned "$v" || true
done
ok "all $N answered" wait_for 300 all_final "$T/ids"
attempt_accounting "$T/ids"
"$TOOL" runs --latest >"$T/runs.json"
echo "  retried runs: $(jq -r 'select(.attempt > 1)|.run_id' "$T/runs.json" | wc -l), LOST: $(jq -r 'select(.status=="LOST")|.run_id' "$T/runs.json" | wc -l)"
finish
