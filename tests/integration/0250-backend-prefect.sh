#!/usr/bin/env bash
# itest: alone: an orchestrator
# 0250 (G1, G3, issue 11): the prefect backend against a real Prefect 3
# server (installed by ops/orchestrators.sh into ~/.cache/floq, pinned by
# ops/orchestrators/prefect.txt), started here on 127.0.0.1 with a SQLite
# database in the scratch directory, its flows served by
# data/prefect_flows.py (flow.serve()). Through Kafka: deploy resolves
# "flow/deployment" (an unknown one is REJECTED); a run goes ACCEPTED ->
# RUNNING -> SUCCEEDED with the flow run's id as backend_ref and its UI URL
# in the log; the same command twice makes one flow run (counted through
# POST /api/flow_runs/filter), whose idempotency_key is the run id and
# attempt, also when a drain hands the attempt to the next worker; a
# worker SIGKILLed mid-run -> the next owner re-attaches to the flow run
# and reports it once (was 0251); a
# failing flow -> FAILED with its message; stop mid-run ->
# CANCELLED and the flow run really CANCELLED in Prefect; a flow run deleted
# from outside -> FAILED; validate good and bad (unknown deployment, server
# gone, credentials refused) within 10 s; the server gone mid-run -> LOST
# after prefect.unreachable.ms; the basic auth string from
# prefect.api.auth.string.file is accepted (a wrong one refused: the file is
# read at each call) and never in a reply or log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v python3 >/dev/null || { echo "  python3 is required"; exit 77; }
if ! PFBIN=$(ops/orchestrators.sh prefect 2>"$FLOQ_TEST_TMP/install.log" | tail -1) ||
   [ ! -x "$PFBIN/prefect" ]; then
    echo "  cannot install Prefect (ops/orchestrators.sh prefect):"
    sed 's/^/    /' "$FLOQ_TEST_TMP/install.log" | tail -5
    exit 77
fi
export FLOQ_WORKER_DRAIN_GRACE_MS=${FLOQ_WORKER_DRAIN_GRACE_MS:-2000}
worker_env
T=$FLOQ_TEST_TMP

# Prefect's processes run in process groups of their own (setsid), so that
# the flow runs' subprocesses go with them.
PGIDS=()
# stop_prefect [-KILL]: the servers' process groups, by TERM (a clean
# stop) or, with -KILL, as a crash: nothing of Prefect reports anything
# on the way (under TERM its runner marked the flow run CRASHED before
# the server went, and the run ended FAILED instead of LOST).
stop_prefect() {
    local g sig=${1:--TERM}
    for g in "${PGIDS[@]}"; do kill "$sig" -- "-$g" 2>/dev/null || true; done
    for g in "${PGIDS[@]}"; do
        wait_for 10 bash -c '! kill -0 -- "-$1" 2>/dev/null' _ "$g" ||
            kill -KILL -- "-$g" 2>/dev/null || true
    done
    PGIDS=()
}
trap 'stop_prefect; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
A="http://127.0.0.1:$PORT/api"
export PREFECT_HOME=$T/prefect-home
export PREFECT_API_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$T/prefect.db"
export PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_UI_ENABLED=false DO_NOT_TRACK=1
export PREFECT_API_URL=$A PREFECT_RUNNER_POLL_FREQUENCY=1
export FLOQ_PREFECT_GATES=$T/gates
mkdir -p "$PREFECT_HOME" "$FLOQ_PREFECT_GATES"
bg prefect-server setsid "$PFBIN/prefect" server start --host 127.0.0.1 --port "$PORT"
PGIDS+=($!)
ok "Prefect server healthy" wait_for 180 curl -sf "$A/health"
bg prefect-serve setsid "$PFBIN/python" "$DATA/prefect_flows.py"
PGIDS+=($!)
ok "flows served" wait_for 120 bash -c 'curl -sf "$1/deployments/name/gated/gated" >/dev/null && curl -sf "$1/deployments/name/failing/failing" >/dev/null' _ "$A"
GATED_ID=$(curl -sf "$A/deployments/name/gated/gated" | jq -r .id)

pget() { curl -sf "$A/flow_runs/$1"; }
pstate() { pget "$1" | jq -r .state.type; }
# flow runs of deployment $1 (their idempotency keys, one a line)
pkeys() {
    curl -sf -X POST "$A/flow_runs/filter" -H 'content-type: application/json' \
        -d "{\"deployments\":{\"id\":{\"any_\":[\"$1\"]}}}" | jq -r '.[].idempotency_key'
}

export FLOQ_PREFECT_API_URL=$A
export FLOQ_PREFECT_POLL_INTERVAL_MS=300
export FLOQ_PREFECT_UNREACHABLE_MS=4000
export FLOQ_PREFECT_STOP_GRACE_MS=30000
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1

F=("$BIN/floq" -b "$FLOQ_BROKERS" -t 30s)
echo '{"deployment":"gated/gated"}' >"$T/gated.json"
echo '{"deployment":"failing/failing","parameters":{"why":"as planned"}}' >"$T/failing.json"
echo '{"deployment":"gated/nope"}' >"$T/nope.json"
"${F[@]}" deploy pf-gated --backend prefect --spec "$T/gated.json" --json >"$T/d1.json"
ok "DEPLOYED ($(jq -r '.status + " " + (.reason // "")' "$T/d1.json"))" test "$(jq -r .status "$T/d1.json")" = DEPLOYED
"${F[@]}" deploy pf-failing --backend prefect --spec "$T/failing.json" --json >"$T/d2.json"
ok "failing flow DEPLOYED" test "$(jq -r .status "$T/d2.json")" = DEPLOYED
"${F[@]}" deploy pf-nope --backend prefect --spec "$T/nope.json" --json >"$T/d3.json"
ok "an unknown Prefect deployment is REJECTED ($(jq -r .reason "$T/d3.json"))" \
    bash -c '[[ $(jq -r .status "$1") == REJECTED && $(jq -r .reason "$1") == *"not found"* ]]' _ "$T/d3.json"

running() { replies_now "$T/r.json"; [[ $(statuses "$T/r.json" "$1") == *RUNNING* ]]; }
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
run_of() { jq -r --arg id "$1" 'select(.command_id==$id) | .run_id' "$T/r.json" | head -1; }
rs() { "$TOOL" runs --latest | jq -c --arg r "$1" 'select(.run_id==$r)'; }
reason_of() { jq -r --arg id "$1" 'select(.command_id==$id and .final) | .reason' "$T/r.json"; }

# run to success
id=$(run_cmd pf-gated '{"gate":"g1"}' | produce)
ok "RUNNING" wait_for 60 running "$id"
run1=$(run_of "$id")
ok "the flow really started" wait_for 60 test -e "$FLOQ_PREFECT_GATES/g1.started"
touch "$FLOQ_PREFECT_GATES/g1.go"
ok "final reply" wait_for 60 final "$id"
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$T/r.json" "$id")" = "ACCEPTED RUNNING SUCCEEDED"
fr1=$(rs "$run1" | jq -r .backend_ref)
ok "backend_ref is a flow run of gated/gated ($fr1)" \
    test "$(pget "$fr1" | jq -r .deployment_id)" = "$GATED_ID"
ok "that flow run COMPLETED in Prefect" test "$(pstate "$fr1")" = COMPLETED
ok "its idempotency_key is the run id and attempt" test "$(pget "$fr1" | jq -r .idempotency_key)" = "$run1-1"
ok "the run's params reached the flow" test "$(pget "$fr1" | jq -r .parameters.gate)" = g1
ok "the worker logged the flow run's URL" worker_log_has w1 "http://127.0.0.1:$PORT/runs/flow-run/$fr1"
ok "the SUCCEEDED reply's url is the flow run's Prefect page" \
    test "$(jq -r --arg id "$id" 'select(.command_id==$id and .final) | .url' "$T/r.json")" = "http://127.0.0.1:$PORT/runs/flow-run/$fr1"

# the same command again: the original outcome, no second flow run
printf '%s\n' "$(run_cmd pf-gated '{"gate":"g1"}' "{\"command_id\":\"$id\"}")" | produce >/dev/null
repeat() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id" 'select(.command_id==$id)' "$T/r.json" | jq -s length) -ge 4 ]]; }
ok "the repeat is answered" wait_for 30 repeat
ok "one flow run for that run (Prefect's own count)" \
    test "$(pkeys "$GATED_ID" | grep -cx "$run1-1")" -eq 1
ok "and one flow run of gated/gated in all" test "$(pkeys "$GATED_ID" | wc -l)" -eq 1

# a failing flow: FAILED with its message
idf=$(run_cmd pf-failing '{}' | produce)
ok "failing run final" wait_for 90 final "$idf"
ok "FAILED" test "$(jq -r --arg id "$idf" 'select(.command_id==$id and .final) | .status' "$T/r.json")" = FAILED
ok "the reason has the flow's message ($(reason_of "$idf" | head -c 200))" \
    bash -c '[[ $(jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1") == *flow-run/*"failing flow says: as planned"* ]]' _ "$T/r.json" "$idf"

# stop mid-run: CANCELLED, and the flow run really ended in Prefect
id2=$(run_cmd pf-gated '{"gate":"g2"}' | produce)
ok "second run RUNNING" wait_for 60 running "$id2"
ok "its flow started" wait_for 60 test -e "$FLOQ_PREFECT_GATES/g2.started"
run2=$(run_of "$id2")
"${F[@]}" stop pf-gated --run "$run2" --json >"$T/s.json" || true
cancelled() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id2" 'select(.command_id==$id and .final) | .status' "$T/r.json") == CANCELLED ]]; }
ok "second run CANCELLED ($(jq -r '.status + " " + (.reason // "")' "$T/s.json"))" wait_for 60 cancelled
ok "its reason has the flow run URL ($(reason_of "$id2" | head -c 200))" bash -c '[[ $(jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1") == *flow-run/* ]]' _ "$T/r.json" "$id2"
fr2=$(rs "$run2" | jq -r .backend_ref)
ok "the flow run is CANCELLED in Prefect" test "$(pstate "$fr2")" = CANCELLED
ok "and has ended (end_time set)" test "$(pget "$fr2" | jq -r '.end_time // empty')" != ""
ok "the flow never got past its gate" test ! -e "$FLOQ_PREFECT_GATES/g2.go"

# a flow run deleted from outside: FAILED
id3=$(run_cmd pf-gated '{"gate":"g3"}' | produce)
ok "third run RUNNING" wait_for 60 running "$id3"
run3=$(run_of "$id3")
ok "its flow run is known" wait_for 30 bash -c '[[ -n $("$1" runs --latest | jq -r --arg r "$2" "select(.run_id==\$r) | .backend_ref // empty") ]]' _ "$TOOL" "$run3"
fr3=$(rs "$run3" | jq -r .backend_ref)
# (retried: the SQLite database may be busy for a moment)
delete_fr() { curl -s -o /dev/null -X DELETE "$A/flow_runs/$1"; [[ $(curl -s -o /dev/null -w '%{http_code}' "$A/flow_runs/$1") == 404 ]]; }
ok "flow run $fr3 deleted through Prefect's API" wait_for 20 delete_fr "$fr3"
ok "third run final" wait_for 30 final "$id3"
ok "FAILED because the flow run was deleted ($(reason_of "$id3" | head -c 200))" \
    bash -c '[[ $(jq -r --arg id "$2" "select(.command_id==\$id and .final) | .status + \" \" + .reason" "$1") == FAILED*deleted* ]]' _ "$T/r.json" "$id3"

# validate: good, unknown deployment; each within 10 s
v() { local t0=$(date +%s%N); "${F[@]}" validate prefect "$@" --json >"$T/v.json" 2>&1 || true; VMS=$(( ($(date +%s%N) - t0) / 1000000 )); }
v --spec "$T/gated.json"
ok "validate gated/gated: VALID in ${VMS} ms" bash -c '[[ $(jq -r .status "$1") == VALID ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
v --spec "$T/nope.json"
ok "validate gated/nope: INVALID, not found, in ${VMS} ms ($(jq -r .reason "$T/v.json"))" \
    bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"not found"* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"

# a drain hands the attempt over: the next owner starts the same attempt,
# and Prefect answers its idempotency_key with the same flow run
printf 'floq:pw-%s-SECRET\n' "$RANDOM" >"$T/auth"; chmod 600 "$T/auth"
AUTH=$(cat "$T/auth")
id5=$(run_cmd pf-gated '{"gate":"g5"}' | produce)
ok "fifth run RUNNING" wait_for 60 running "$id5"
ok "its flow started" wait_for 60 test -e "$FLOQ_PREFECT_GATES/g5.started"
run5=$(run_of "$id5")
fr5=$(rs "$run5" | jq -r .backend_ref)
kill -TERM "${WPID[w1]}"
ok "w1 drains and leaves" wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "${WPID[w1]}"
FLOQ_PREFECT_API_AUTH_STRING_FILE=$T/auth start_worker w2
ok "w2 (with prefect.api.auth.string.file) joins" wait_for 60 worker_assigned w2
ok "w2 starts the same attempt on the same flow run $fr5" wait_for 60 worker_log_has w2 "attempt 1: flow run $fr5"
touch "$FLOQ_PREFECT_GATES/g5.go"
ok "fifth run final" wait_for 60 final "$id5"
ok "it SUCCEEDED after the handover" test "$(jq -r --arg id "$id5" 'select(.command_id==$id and .final) | .status' "$T/r.json")" = SUCCEEDED
ok "one flow run for that attempt (Prefect's own count)" \
    test "$(pkeys "$GATED_ID" | grep -cx "$run5-1")" -eq 1
ok "no attempt 2 was made" test "$(pkeys "$GATED_ID" | grep -c "^$run5-")" -eq 1

# a worker SIGKILLed while its flow run runs: the next owner re-attaches to
# the flow run by the id in the RunState (no create_flow_run) and reports
# it exactly once, with the flow run's page as its url
idk=$(run_cmd pf-gated '{"gate":"k1"}' | produce)
ok "run before the SIGKILL RUNNING" wait_for 60 running "$idk"
runk=$(run_of "$idk")
frk=$(jq -r --arg id "$idk" 'select(.command_id==$id and .status=="RUNNING") | .url' "$T/r.json" | head -1 | sed 's|.*/||')
ok "its flow really started" wait_for 60 test -e "$FLOQ_PREFECT_GATES/k1.started"
kill -KILL "${WPID[w2]}"
FLOQ_PREFECT_API_AUTH_STRING_FILE=$T/auth start_worker w3
ok "w3 joins" wait_for 60 worker_assigned w3
ok "w3 re-attaches to the flow run $frk" wait_for 60 worker_log_has w3 "re-attached to flow run $frk"
touch "$FLOQ_PREFECT_GATES/k1.go"
ok "the re-attached run ends" wait_for 120 final "$idk"
fin() { jq -r --arg id "$idk" "select(.command_id==\$id and .final) | .$1" "$T/r.json"; }
ok "SUCCEEDED ($(statuses "$T/r.json" "$idk") $(fin reason))" test "$(fin status)" = SUCCEEDED
ok "exactly one final reply" test "$(finals "$T/r.json" "$idk")" -eq 1
ok "reported by the next owner ($(fin worker))" bash -c '[[ $1 == w3-* ]]' _ "$(fin worker)"
ok "its url is the flow run's Prefect page ($(fin url))" test "$(fin url)" = "http://127.0.0.1:$PORT/runs/flow-run/$frk"
ok "Prefect says the flow run COMPLETED" test "$(pstate "$frk")" = COMPLETED
ok "exactly one flow run for it, attempt 1 (Prefect's own count)" test "$(pkeys "$GATED_ID" | grep "^$runk-")" = "$runk-1"

# the server goes away mid-run (killed: a crash, a lost network): LOST
# after the bound, not RUNNING forever
id4=$(run_cmd pf-gated '{"gate":"g4"}' | produce)
ok "fourth run RUNNING" wait_for 60 running "$id4"
stop_prefect -KILL
ok "the Prefect server is gone" bash -c '! curl -s "$1/health" >/dev/null' _ "$A"
lost() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id4" 'select(.command_id==$id and .final) | .status' "$T/r.json") == LOST ]]; }
ok "fourth run LOST once Prefect stays unreachable" wait_for 60 lost
ok "its reason says why ($(reason_of "$id4" | head -c 200))" bash -c '[[ $(jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1") == *unreachable* ]]' _ "$T/r.json" "$id4"

# validate with the port closed: INVALID, unreachable, within 10 s
v --spec "$T/gated.json"
ok "validate with the server gone: INVALID, unreachable, in ${VMS} ms ($(jq -r .reason "$T/v.json"))" \
    bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *unreachable* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"

# credentials: the server again, now requiring a basic auth string; w2
# reads prefect.api.auth.string.file at every call
PREFECT_SERVER_API_AUTH_STRING=$AUTH bg prefect-server2 setsid "$PFBIN/prefect" server start --host 127.0.0.1 --port "$PORT"
PGIDS+=($!)
ok "Prefect server with an auth string healthy" wait_for 180 curl -sf -u "$AUTH" "$A/health"
ok "it refuses calls without it" bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" -X POST -H "content-type: application/json" -d "{}" "$1/flows/filter") == 401 ]]' _ "$A"
v --spec "$T/gated.json"
ok "validate with the auth string: VALID in ${VMS} ms ($(jq -r '.reason // ""' "$T/v.json"))" \
    bash -c '[[ $(jq -r .status "$1") == VALID ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
echo "floq:wrong" >"$T/auth"
v --spec "$T/gated.json"
ok "validate with a wrong auth string: INVALID, refused, in ${VMS} ms ($(jq -r .reason "$T/v.json"))" \
    bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"credentials are refused"* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
replies_now "$T/r.json"
ok "the auth string is in no reply" bash -c '! grep -qF "$1" "$2"' _ "$AUTH" "$T/r.json"
ok "the auth string is in no worker log" bash -c '! grep -qF "$1" "$2" "$3" "$4"' _ "$AUTH" "$T/w1.log" "$T/w2.log" "$T/w3.log"
finish
