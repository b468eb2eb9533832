#!/usr/bin/env bash
# 0107 (G6): three workers share the partitions; all runs are answered
# exactly once; one worker is sent SIGTERM in the middle of a load of
# one-second runs (short grace, so some are handed over): it exits 0 and the
# other two take its partitions and finish the work; nothing is lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
start_worker w2 -o worker.drain.grace.ms=1500
start_worker w3
for w in w1 w2 w3; do ok "$w joins" wait_for 90 worker_assigned $w; done
T=$FLOQ_TEST_TMP
{ for i in 0 1 2 3 4 5 6 7; do deploy_cmd "job$i" ok.sh "{n}"; done
  for i in 0 1 2 3 4 5 6 7; do deploy_cmd "slow$i" sleep.sh "{s}"; done; } | produce >/dev/null
for i in $(seq 1 80); do run_cmd "job$((i % 8))" "{\"n\":\"$i\"}"; done | produce >"$T/ids1"
ok "80 runs answered" wait_for 120 all_final "$T/ids1"
"$TOOL" runs --latest >"$T/runs.json"
ok "runs spread over workers" test "$(jq -r .worker "$T/runs.json" | sort -u | wc -l)" -ge 2

for i in $(seq 81 160); do run_cmd "slow$((i % 8))" '{"s":"1"}'; done | produce >"$T/ids2"
w2_busy() { "$TOOL" runs --latest | jq -r 'select(.status=="RUNNING")|.worker' | grep -q "w2-$$"; }
wait_for 30 w2_busy
kill -TERM "${WPID[w2]}"
wait "${WPID[w2]}"; rc=$?
ok "w2 drained with exit 0" test "$rc" -eq 0
ok "80 more runs answered" wait_for 180 all_final "$T/ids2"
R=$T/replies.json
replies_now "$R"
cat "$T/ids1" "$T/ids2" >"$T/ids"
dup=$(jq -r 'select(.final)|.command_id' "$R" | sort | uniq -d | wc -l)
ok "no command has two final replies" test "$dup" -eq 0
ok "every run SUCCEEDED (none lost)" test "$(jq -r 'select(.final and .status=="SUCCEEDED")|.command_id' "$R" | sort -u | comm -12 - <(sort "$T/ids") | wc -l)" -eq 160
ok "w2 handed runs over or finished them" worker_log_has w2 "drained: leaving the group"
finish
