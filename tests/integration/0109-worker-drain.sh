#!/usr/bin/env bash
# 0109 (G6): SIGTERM drains: intake stops, a run that ends within the grace
# completes, the one that does not is handed over (RETRYING, attempt not
# consumed), the worker commits, leaves the group and exits 0; the next
# worker restarts the handed-over run, which then succeeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1 -o worker.drain.grace.ms=4000
ok "w1 joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
deploy_cmd drain sleep.sh "{secs}" | produce >/dev/null
short=$(run_cmd drain '{"secs":"2"}' | produce)
long=$(run_cmd drain '{"secs":"10"}' | produce)
ok "short RUNNING" wait_for 30 has_status "$short" RUNNING
ok "long RUNNING" wait_for 30 has_status "$long" RUNNING
kill -TERM "${WPID[w1]}"
wait "${WPID[w1]}"; rc=$?
ok "w1 exit 0 after the drain" test "$rc" -eq 0
ok "w1 logged the drain" worker_log_has w1 "drained: leaving the group"
R=$T/replies.json
replies_now "$R"
ok "short run completed in the grace" test "$(statuses "$R" "$short")" = "ACCEPTED RUNNING SUCCEEDED"
ok "long run has no final reply yet" test "$(finals "$R" "$long")" -eq 0
rid=$(reply_field "$R" "$long" ACCEPTED run_id)
"$TOOL" runs --latest >"$T/runs.json"
ok "long run RETRYING, attempt 1" \
    test "$(jq -r --arg r "$rid" 'select(.run_id==$r)|"\(.status) \(.attempt)"' "$T/runs.json")" = "RETRYING 1"
start_worker w2
ok "next worker finishes the long run" wait_for 60 has_final "$long"
replies_now "$R"
ok "long run SUCCEEDED" test "$(reply_field "$R" "$long" SUCCEEDED attempt)" = 1
ok "one final reply" test "$(finals "$R" "$long")" -eq 1
finish
