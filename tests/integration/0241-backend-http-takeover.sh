#!/usr/bin/env bash
# 0241 (G2, issue 11): a remote job outlives its worker. The worker running
# an http-backend run is SIGKILLed and its status server goes away too;
# the next owner must not start attempt 2 beside the remote job that may
# still run (the retry policy allows 3): it tries to re-attach, with
# backoff, until http.backend.unreachable.ms, then the run ends LOST with
# the last error, saying its remote job may still run, and the webhook saw
# one trigger. (0242: the re-attach that succeeds.)
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
kill -KILL "$HOOK_PID"
export FLOQ_HTTP_BACKEND_UNREACHABLE_MS=3000
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
ok "the run ends" wait_for 60 final "$id"
ok "LOST, not retried ($(statuses "$T/r.json" "$id"))" \
    test "$(jq -r --arg id "$id" 'select(.command_id==$id and .final) | .status' "$T/r.json")" = LOST
ok "the reason says the remote job may still run" bash -c \
    'jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1" | grep -q "may still run"' _ "$T/r.json" "$id"
ok "after re-attach tries with the last error" bash -c \
    'jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1" | grep -q "cannot re-attach.*bound 3000 ms"' _ "$T/r.json" "$id"
ok "one final reply" test "$(finals "$T/r.json" "$id")" -eq 1
triggers=$(jq -r 'select(.method=="POST" and .path=="/hook") | .key' "$T/hook/requests.jsonl" | sort -u | wc -l)
ok "one remote job, no attempt 2 beside it ($triggers)" test "$triggers" -eq 1
finish
