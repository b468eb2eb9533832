#!/usr/bin/env bash
# itest: alone: load
# 0114: a full executor and queue pause the partitions; commands that
# arrived meanwhile are left unprocessed and picked up again after the
# resume (seek back), so each is still answered exactly once and in order.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1 -v -o worker.concurrency=1 -o worker.queue.max=1
ok "worker joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
deploy_cmd bp sleep.sh "{secs}" | produce >/dev/null
for i in 1 2 3 4 5 6; do run_cmd bp '{"secs":"1"}'; done | produce >"$T/ids"
ok "all runs answered" wait_for 90 all_final "$T/ids"
R=$T/replies.json
replies_now "$R"
ok "intake was paused" worker_log_has w1 "pausing"
ok "and resumed" worker_log_has w1 "resuming"
jq -r 'select(.final)|.command_id' "$R" | sort >"$T/finals"
ok "one final reply each" test "$(uniq -d "$T/finals" | wc -l)" -eq 0
n=0
while read -r id; do [[ $(statuses "$R" "$id") == "ACCEPTED RUNNING SUCCEEDED" ]] && n=$((n + 1)); done <"$T/ids"
ok "all 6 ACCEPTED RUNNING SUCCEEDED" test "$n" -eq 6
# runs of one deployment start in command order
"$TOOL" runs --latest >"$T/runs.json"
order=$(jq -rs 'sort_by(.created_at)|map(.started_at)|. == sort' "$T/runs.json")
ok "started in command order" test "$order" = true
finish
