#!/usr/bin/env bash
# 0242 (G1, G2, issue 11 item 4): a webhook run with a status URL outlives
# its worker and is re-attached. The worker running it is SIGKILLed; the
# next owner re-attaches to the remote job by its stored reference (the
# id the trigger answered), polls the status URL (the test's own server)
# and reports the run once: SUCCEEDED when the job ends, attempt 1, no
# second trigger, no second RUNNING reply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v python3 >/dev/null || { echo "  python3 is required"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
hook_start
spec=$(jq -cn --arg h "$H" '{url: ($h + "/hook"), status_url: ($h + "/jobs/{id}"),
    cancel_url: ($h + "/jobs/{id}/cancel"), poll_interval_ms: 200,
    states: {running: "RUNNING", done: "SUCCEEDED", cancelled: "CANCELLED"}}' | jq -Rc .)
hook_run_on_w1 "$spec"
kill -KILL "${WPID[w1]}"
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
ok "w2 re-attaches to the remote job" wait_for 60 worker_log_has w2 "re-attached to remote run"
polls_before=$(grep -c '"GET"' "$T/hook/requests.jsonl")
polled() { [[ $(grep -c '"GET"' "$T/hook/requests.jsonl") -gt $((polls_before + 1)) ]]; }
ok "w2 polls the status URL" wait_for 30 polled
touch "$T/hook/all.done"
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
ok "the run ends" wait_for 60 final "$id"
fin() { jq -r --arg id "$id" "select(.command_id==\$id and .final) | .$1" "$T/r.json"; }
ok "SUCCEEDED ($(statuses "$T/r.json" "$id"))" test "$(fin status)" = SUCCEEDED
ok "reported by w2" bash -c '[[ $1 == w2-* ]]' _ "$(fin worker)"
ok "still attempt 1" test "$(fin attempt)" = 1
ok "one final reply" test "$(finals "$T/r.json" "$id")" -eq 1
nrun=$(jq -r --arg id "$id" 'select(.command_id==$id and .status=="RUNNING") | .status' "$T/r.json" | wc -l)
ok "one RUNNING reply ($nrun)" test "$nrun" -eq 1
triggers=$(jq -r 'select(.method=="POST" and .path=="/hook") | .key' "$T/hook/requests.jsonl" | wc -l)
ok "one trigger, no second remote job ($triggers)" test "$triggers" -eq 1
finish
