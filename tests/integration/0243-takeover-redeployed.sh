#!/usr/bin/env bash
# 0243 (G2, issue 9): the takeover decides from the run's own backend, not
# from its deployment's current one. A webhook run is RUNNING when its
# worker is SIGKILLed; before the next owner takes over, the deployment is
# redeployed to the process backend (retry policy: 3 attempts). The remote
# job may still run, so the next owner must not start attempt 2 with the
# process backend beside it: the run ends without a second attempt (no
# execution of the process job, one trigger of the webhook, one final
# reply, attempt 1). The new spec has no status URL of the old job to
# re-attach by, so the run ends LOST saying so.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v python3 >/dev/null || { echo "  python3 is required"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
hook_start
spec=$(jq -cn --arg h "$H" '{url: ($h + "/hook"), status_url: ($h + "/jobs/{id}"),
    poll_interval_ms: 200, states: {running: "RUNNING", done: "SUCCEEDED"}}' | jq -Rc .)
hook_run_on_w1 "$spec"
kill -KILL "${WPID[w1]}"
dep=$(deploy_cmd hk record.sh "$T/ran" attempt2 0 |
    jq -c --argjson r "$HOOK_RETRY" '.body.DeployBody.retry = $r' | produce)
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
ok "redeployed to the process backend" wait_for 60 has_status "$dep" DEPLOYED
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
ok "the run ends" wait_for 60 final "$id"
fin() { jq -r --arg id "$id" "select(.command_id==\$id and .final) | .$1" "$T/r.json"; }
ok "LOST ($(statuses "$T/r.json" "$id"): $(fin reason))" test "$(fin status)" = LOST
ok "the reason says the remote job may still run" bash -c '[[ $1 == *"may still run"* ]]' _ "$(fin reason)"
ok "attempt 1, not retried" test "$(fin attempt)" = 1
ok "no process attempt beside the remote job" test ! -e "$T/ran"
ok "one final reply" test "$(finals "$T/r.json" "$id")" -eq 1
triggers=$(jq -r 'select(.method=="POST" and .path=="/hook") | .key' "$T/hook/requests.jsonl" | wc -l)
ok "one trigger ($triggers)" test "$triggers" -eq 1
finish
