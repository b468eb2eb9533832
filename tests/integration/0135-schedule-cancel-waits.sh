#!/usr/bin/env bash
# itest: alone: schedule timing
# 0135 (G5): cancel_previous waits for the previous run to stop before the
# new one starts (as Temporal's CANCEL_OTHER): jobs that take 1 s to stop
# after TERM, a due time every 2 s; no run starts before its predecessor
# has finished, every run but the last is CANCELLED, and each due time
# still fires (the wait is no misfire).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/schedule_lib.sh"
worker_env
export FLOQ_WORKER_CONCURRENCY=8
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1
# due times are seconds apart: begin once every partition is restored (a
# worker that joins while the test's new topics are still electing their
# leaders can take seconds to restore some of them)
ok "w1 restores all $FLOQ_TOPIC_PARTITIONS partitions" wait_for 60 worker_positioned w1 "$FLOQ_TOPIC_PARTITIONS"
T=$FLOQ_TEST_TMP
deploy_cmd ocwait slow_stop.sh 30 1 | produce >/dev/null
sched "$T/s.json" ocwait --cron '*/2 * * * * *' --overlap cancel_previous
ok "SCHEDULED" test "$(jq -r .status "$T/s.json")" = SCHEDULED
ok "four runs fired" wait_for 40 sched_count ocwait 4
"$BIN/floq" -b "$FLOQ_BROKERS" -t 30s unschedule ocwait >/dev/null
"$BIN/floq" -b "$FLOQ_BROKERS" -t 30s stop ocwait >/dev/null
ok "runs ended" wait_for 30 sched_all_terminal ocwait
sched_runs ocwait "$T/r.json"
n=$(wc -l <"$T/r.json")
early=$(jq -s -r 'map(select(.started_at != null)) | sort_by(.started_at)
    | [range(1; length) as $i | select(.[$i].started_at < .[$i-1].finished_at)]
    | length' "$T/r.json")
ok "no run started before its predecessor stopped ($early of $n)" test "$early" -eq 0
ok "every run but the last CANCELLED" \
    test "$(jq -s -r 'sort_by(.scheduled_for) | .[:-1] | map(select(.status!="CANCELLED")) | length' "$T/r.json")" -eq 0
# consecutive due times 2 s apart: none was dropped by the wait
gaps=$(jq -s -r 'sort_by(.scheduled_for) | [range(1; length) as $i
    | select(.[$i].scheduled_for - .[$i-1].scheduled_for != 2000)] | length' "$T/r.json")
ok "no due time skipped while waiting ($gaps gaps)" test "$gaps" -eq 0
# each run's due time, start and end, in ms from the first due time
jq -s -r 'sort_by(.scheduled_for) | (.[0].scheduled_for) as $t0 | .[]
    | "    due +\(.scheduled_for - $t0) started +\((.started_at // $t0) - $t0) finished +\((.finished_at // $t0) - $t0) \(.status)"' "$T/r.json"
finish
