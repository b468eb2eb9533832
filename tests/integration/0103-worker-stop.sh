#!/usr/bin/env bash
# 0103: stop of a running 60 s process ends it within the kill grace:
# CANCELLED for the run, STOPPED (listing it) for the stop. A stop without
# run id cancels every active run, including one not started yet, and
# disables the deployment until it is deployed again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1 -o worker.concurrency=1
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd long sleep.sh "{secs}" | produce >/dev/null
run=$(run_cmd long '{"secs":"60"}' | produce)
ok "run is RUNNING" wait_for 60 has_status "$run" RUNNING
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
rid=$(reply_field "$R" "$run" ACCEPTED run_id)
t0=$(date +%s)
stop=$(printf '{"deployment":"long","body":{"StopBody":{"run_id":"%s"}}}\n' "$rid" | produce)
ok "run ends" wait_for 30 has_final "$run"
t1=$(date +%s)
replies_now "$R"
ok "run CANCELLED" test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING CANCELLED"
ok "stop STOPPED" test "$(statuses "$R" "$stop")" = STOPPED
ok "stop lists the run" test "$(reply_field "$R" "$stop" STOPPED 'cancelled_runs[0]')" = "$rid"
ok "ended within the grace ($((t1 - t0)) s)" test $((t1 - t0)) -le 10

# stop without run id: one running (concurrency 1) and one queued run
r1=$(run_cmd long '{"secs":"60"}' | produce)
ok "first run RUNNING" wait_for 60 has_status "$r1" RUNNING
r2=$(run_cmd long '{"secs":"60"}' | produce)
ok "second run ACCEPTED" wait_for 30 has_status "$r2" ACCEPTED
all=$(printf '{"deployment":"long","body":{"StopBody":{"run_id":null}}}\n' | produce)
ok "both runs end" wait_for 30 has_final "$r1"
wait_for 30 has_final "$r2"
replies_now "$R"
ok "running run CANCELLED" test "$(statuses "$R" "$r1")" = "ACCEPTED RUNNING CANCELLED"
ok "queued run CANCELLED without starting" test "$(statuses "$R" "$r2")" = "ACCEPTED CANCELLED"
ok "stop lists both" test "$(jq -r --arg id "$all" 'select(.command_id==$id)|.cancelled_runs|length' "$R")" = 2
r3=$(run_cmd long '{"secs":"1"}' | produce)
ok "run of a stopped deployment answered" wait_for 30 has_final "$r3"
replies_now "$R"
ok "... REJECTED as disabled" grep -q disabled <<<"$(reply_field "$R" "$r3" REJECTED reason)"
deploy_cmd long sleep.sh "{secs}" | produce >/dev/null
r4=$(run_cmd long '{"secs":"0"}' | produce)
ok "deployed again: runs" wait_for 30 has_status "$r4" SUCCEEDED
finish
