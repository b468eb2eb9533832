#!/usr/bin/env bash
# 0240 (G1, G3, issue 11): the http (webhook) backend end to end through
# Kafka against a server the test controls: a run goes ACCEPTED -> RUNNING
# -> SUCCEEDED with the remote job's id as its backend_ref; one remote job
# per attempt (the Idempotency-Key is the run id and attempt; a repeated
# command triggers nothing); stop mid-run -> CANCELLED and the cancel URL
# was called; a remote job removed from outside -> FAILED; the status URL
# unreachable past http.backend.unreachable.ms -> LOST; the worker's token
# goes only where http.backend.allowed.urls allows, and never into a reply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v python3 >/dev/null || { echo "  python3 is required"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
hook_start
printf 'tok-%s-SECRET\n' "$RANDOM" >"$T/token"; chmod 600 "$T/token"
TOKEN=$(cat "$T/token")
export FLOQ_HTTP_BACKEND_TOKEN_FILE=$T/token
export FLOQ_HTTP_BACKEND_ALLOWED_URLS=$H/
export FLOQ_HTTP_BACKEND_UNREACHABLE_MS=3000
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1

F=("$BIN/floq" -b "$FLOQ_BROKERS" -t 30s)
jq -n --arg h "$H" '{url: ($h + "/hook"), body: {day: "{date}", run: "{run_id}"},
    status_url: ($h + "/jobs/{id}"), cancel_url: ($h + "/jobs/{id}/cancel"),
    states: {running: "RUNNING", done: "SUCCEEDED", cancelled: "CANCELLED"},
    poll_interval_ms: 200}' >"$T/spec.json"
"${F[@]}" deploy hook --backend http --spec "$T/spec.json" --json >"$T/d.json"
ok "DEPLOYED ($(jq -r '.status + " " + (.reason // "")' "$T/d.json"))" test "$(jq -r .status "$T/d.json")" = DEPLOYED

# a spec pointing elsewhere is refused (the token could go there)
jq '.url = "http://127.0.0.2:9/hook"' "$T/spec.json" >"$T/evil.json"
"${F[@]}" deploy evil --backend http --spec "$T/evil.json" --json >"$T/e.json"
ok "a URL outside http.backend.allowed.urls is REJECTED" \
    bash -c '[[ $(jq -r .status "$1") == REJECTED && $(jq -r .reason "$1") == *allowed.urls* ]]' _ "$T/e.json"

# run to success
id=$(run_cmd hook '{"date":"2026-12-01"}' | produce)
ok "RUNNING" wait_for 30 hook_running "$id"
key=$(jq -r 'select(.method=="POST" and .path=="/hook") | .key' "$T/hook/requests.jsonl" | head -1)
touch "$T/hook/$key.done"
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
ok "final reply" wait_for 30 final "$id"
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$T/r.json" "$id")" = "ACCEPTED RUNNING SUCCEEDED"
run_id=$(jq -r --arg id "$id" 'select(.command_id==$id) | .run_id' "$T/r.json" | head -1)
ok "Idempotency-Key is the run id and attempt ($key)" test "$key" = "$run_id-1"
ok "the token was sent to the allowed server" \
    test "$(jq -r 'select(.path=="/hook") | .auth' "$T/hook/requests.jsonl" | head -1)" = true
ok "the body was templated" \
    test "$(jq -r 'select(.path=="/hook") | .body.day' "$T/hook/requests.jsonl" | head -1)" = 2026-12-01
rs() { "$TOOL" runs --latest | jq -c --arg r "$1" 'select(.run_id==$r)'; }
ok "backend_ref is the remote id" test "$(rs "$run_id" | jq -r .backend_ref)" = "$key"

# the same command again: the original outcome, no second trigger
printf '%s\n' "$(run_cmd hook '{"date":"2026-12-01"}' "{\"command_id\":\"$id\"}")" | produce >/dev/null
repeat() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id" 'select(.command_id==$id)' "$T/r.json" | jq -s length) -ge 4 ]]; }
ok "the repeat is answered" wait_for 30 repeat
ok "one remote job for that run" \
    test "$(jq -r --arg k "$key" 'select(.path=="/hook" and .key==$k)' "$T/hook/requests.jsonl" | jq -s length)" -eq 1

# stop mid-run: CANCELLED, and the remote job was told
id2=$(run_cmd hook '{"date":"d2"}' | produce)
ok "second run RUNNING" wait_for 30 hook_running "$id2"
run2=$(jq -r --arg id "$id2" 'select(.command_id==$id) | .run_id' "$T/r.json" | head -1)
"${F[@]}" stop hook --run "$run2" --json >"$T/s.json" || true
ok "second run CANCELLED" wait_for 30 bash -c '"$1"/floq_itest_tool replies --timeout-ms 20000 | jq -r --arg id "$2" "select(.command_id==\$id and .final) | .status" | grep -qx CANCELLED' _ "$TOOLS" "$id2"
ok "the cancel URL was called" grep -q "\"/jobs/$run2-1/cancel\"" "$T/hook/requests.jsonl"

# the server goes away mid-run: LOST after the bound, not RUNNING forever
id3=$(run_cmd hook '{"date":"d3"}' | produce)
ok "third run RUNNING" wait_for 30 hook_running "$id3"
kill "$HOOK_PID"
lost() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id3" 'select(.command_id==$id and .final) | .status' "$T/r.json") == LOST ]]; }
ok "third run LOST once the status URL stays unreachable" wait_for 40 lost
ok "its reason says why" bash -c 'jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1" | grep -q unreachable' _ "$T/r.json" "$id3"

ok "the token is in no reply" bash -c '! grep -qF "$1" "$2"' _ "$TOKEN" "$T/r.json"
ok "the token is in no worker log" bash -c '! grep -qF "$1" "$2"' _ "$TOKEN" "$T/w1.log"
finish
