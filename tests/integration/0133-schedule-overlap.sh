#!/usr/bin/env bash
# itest: alone: schedule timing
# 0133 (G5): overlap policies with runs (2.5 s) longer than the interval
# (1 s), over about eight seconds: allow starts every due time (runs
# overlap); skip never overlaps and skips due times; buffer_one never
# overlaps and starts the buffered due time (one that fell due during the
# previous run) when the previous run ends; cancel_previous cancels each
# run when the next starts.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/schedule_lib.sh"
worker_env
export FLOQ_WORKER_CONCURRENCY=32
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1
# due times are seconds apart: begin once every partition is restored (a
# worker that joins while the test's new topics are still electing their
# leaders can take seconds to restore some of them)
ok "w1 restores all $FLOQ_TOPIC_PARTITIONS partitions" wait_for 60 worker_positioned w1 "$FLOQ_TOPIC_PARTITIONS"
T=$FLOQ_TEST_TMP
for d in oallow oskip obuffer ocancel; do deploy_cmd "$d" sleep.sh 2.5; done |
    produce >/dev/null
sched "$T/1.json" oallow --cron '* * * * * *' --overlap allow
sched "$T/2.json" oskip --cron '* * * * * *' --overlap skip
sched "$T/3.json" obuffer --cron '* * * * * *' --overlap buffer_one
sched "$T/4.json" ocancel --cron '* * * * * *' --overlap cancel_previous
ok "four SCHEDULED" test "$(cat "$T"/[1-4].json | jq -r .status | grep -c SCHEDULED)" -eq 4
start=$(now_ms)
wait_for 30 clock_past $(( start + 8000 ))
for d in oallow oskip obuffer ocancel; do
    "$BIN/floq" -b "$FLOQ_BROKERS" -t 30s unschedule "$d" >/dev/null
done
for d in oallow oskip obuffer ocancel; do
    ok "$d: runs ended" wait_for 30 sched_all_terminal "$d"
    sched_runs "$d" "$T/r-$d.json"
done
# overlaps FILE: pairs of runs (by start) where one started before the
# previous finished.
overlaps() {
    jq -s -r 'sort_by(.started_at) | [range(1; length) as $i
        | select(.[$i].started_at < .[$i-1].finished_at)] | length' "$1"
}
cnt() { wc -l <"$T/r-$1.json"; }
ok "allow: a run per due time ($(cnt oallow))" test "$(cnt oallow)" -ge 7
ok "allow: runs overlap" test "$(overlaps "$T/r-oallow.json")" -ge 3
ok "skip: some runs ($(cnt oskip))" test "$(cnt oskip)" -ge 2
ok "skip: due times skipped" test "$(cnt oskip)" -le 4
ok "skip: never overlapping" test "$(overlaps "$T/r-oskip.json")" -eq 0
ok "skip: all SUCCEEDED" test -z "$(jq -r 'select(.status!="SUCCEEDED")|.run_id' "$T/r-oskip.json")"
ok "buffer_one: some runs ($(cnt obuffer))" test "$(cnt obuffer)" -ge 3
ok "buffer_one: never overlapping" test "$(overlaps "$T/r-obuffer.json")" -eq 0
# each run after the first fell due while its predecessor ran, and
# started right after it ended
buffered=$(jq -s -r 'sort_by(.started_at) | [range(1; length) as $i
    | select(.[$i].scheduled_for < .[$i-1].finished_at
             and .[$i].started_at - .[$i-1].finished_at < 1500)] | length' "$T/r-obuffer.json")
ok "buffer_one: each next run was buffered ($buffered)" test "$buffered" -eq $(( $(cnt obuffer) - 1 ))
ok "cancel_previous: several runs ($(cnt ocancel))" test "$(cnt ocancel)" -ge 3
ok "cancel_previous: all but the last CANCELLED" \
    test "$(jq -s -r 'sort_by(.scheduled_for) | .[:-1] | map(select(.status!="CANCELLED")) | length' "$T/r-ocancel.json")" -eq 0
finish
