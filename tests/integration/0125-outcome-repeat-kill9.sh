#!/usr/bin/env bash
# itest: alone: fault timing
# 0125 (G3, stop): the deploy and stop outcomes a worker wrote as
# DeploymentOutcome records answer their repeats on the next owner after
# that worker was killed with -9. w1 deploys two deployments, a run of one
# is stopped (the STOPPED reply committed, the run's CANCELLED still w1's
# to write: its job takes 6 s to stop) and w1 is killed at once. w2 takes
# the partitions over: the repeated deploy is answered DEPLOYED (repeat,
# generation still 1), the repeated stop STOPPED listing the same run, the
# stopped deployment stays disabled, and the run ends CANCELLED at attempt
# 1 (the stop found in the outcome record), never retried.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
slow_stop_env
T=$FLOQ_TEST_TMP
R=$T/replies.json
retry='{"max_attempts":3,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.1}'

start_worker w1
ok "w1 joins" wait_for 90 worker_assigned w1
d1=$(cat /proc/sys/kernel/random/uuid) s1=$(cat /proc/sys/kernel/random/uuid)
deploy_cmd oc-ok ok.sh | jq -c --arg id "$d1" '. + {command_id: $id}' >"$T/d1.json"
produce <"$T/d1.json" >/dev/null
ok "deploy answered" wait_for 30 has_status "$d1" DEPLOYED
dep=$(deploy_cmd oc-slow slow_stop.sh 60 6 | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r' | produce)
ok "slow deployment answered" wait_for 30 has_status "$dep" DEPLOYED
run=$(run_cmd oc-slow | produce)
ok "run RUNNING" wait_for 30 has_status "$run" RUNNING
replies_now "$R"
rid=$(reply_field "$R" "$run" RUNNING run_id)
printf '{"command_id":"%s","deployment":"oc-slow","body":{"StopBody":{}}}\n' "$s1" >"$T/s1.json"
produce <"$T/s1.json" >/dev/null
ok "stop answered STOPPED" wait_for 20 has_status "$s1" STOPPED
kill -KILL "${WPID[w1]}"
"$TOOL" runs --latest >"$T/runs.json"
ok "the run's end not recorded by w1" \
    test "$(jq -r --arg r "$rid" 'select(.run_id==$r)|.status' "$T/runs.json")" = RUNNING

start_worker w2
ok "w2 joins" wait_for 90 worker_assigned w2
produce <"$T/d1.json" >/dev/null
produce <"$T/s1.json" >/dev/null
two() { replies_now "$R"; [[ $(finals "$R" "$d1") -ge 2 && $(finals "$R" "$s1") -ge 2 ]]; }
ok "both repeats answered" wait_for 90 two
ok "deploy: DEPLOYED twice" test "$(statuses "$R" "$d1")" = "DEPLOYED DEPLOYED"
ok "... the second a repeat" \
    test "$(jq -r --arg id "$d1" 'select(.command_id==$id and .repeat)|.status' "$R")" = DEPLOYED
ok "stop: STOPPED twice" test "$(statuses "$R" "$s1")" = "STOPPED STOPPED"
ok "... the repeat lists the run it cancelled" \
    test "$(jq -r --arg id "$s1" 'select(.command_id==$id and .repeat)|.cancelled_runs[0]' "$R")" = "$rid"
"$TOOL" deployments --latest >"$T/deps.json"
ok "generation stays 1" test "$(jq -r 'select(.name=="oc-ok")|.generation' "$T/deps.json")" = 1
ok "stopped deployment stays disabled" \
    test "$(jq -r 'select(.name=="oc-slow")|.enabled' "$T/deps.json")" = false
ok "the run ends" wait_for 90 has_final "$run"
"$TOOL" runs --latest >"$T/runs.json"
ok "run CANCELLED at attempt 1" \
    test "$(jq -r --arg r "$rid" 'select(.run_id==$r)|"\(.status) \(.attempt)"' "$T/runs.json")" = "CANCELLED 1"
finish
