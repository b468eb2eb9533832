#!/usr/bin/env bash
# itest: alone: an orchestrator
# 0280 (G1, G3, issue 11): the dagster backend against a real Dagster
# webserver (dagster + dagster-webserver installed by ops/orchestrators.sh
# into ~/.cache/floq, pinned by ops/orchestrators/dagster.txt), started here
# on 127.0.0.1 with a DAGSTER_HOME in the scratch directory (SQLite
# storage, the default run launcher and the DefaultRunCoordinator: runs
# start at launchRun, no daemon) and the code location
# data/dagster/jobs.py. Through Kafka: deploy checks the job (an unknown one
# is REJECTED); a run goes ACCEPTED -> RUNNING -> SUCCEEDED with the
# Dagster run URL in the reply and the run's params in its run config; the
# same command twice makes one Dagster run (counted through runsOrError by
# the floq/attempt tag); a failing job -> FAILED with its message; stop
# mid-run -> CANCELLED, and Dagster says CANCELED with an end time and the
# op's process gone; a run deleted from outside (deleteRun) -> FAILED; a
# worker SIGKILLed while its Dagster run runs -> one final reply and still
# one Dagster run for that attempt (none for a second attempt); a drain
# hands an attempt over and the next owner follows its Dagster run, found
# by the tag, without a second launch; Dagster not answering mid-run
# (SIGSTOP) -> LOST after dagster.unreachable.ms; validate good, unknown
# job, unknown repository, closed port, token file gone, each within 10 s;
# the token (sent as Dagster-Cloud-Api-Token from dagster.api.token.file)
# in no reply, log or topic record.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v python3 >/dev/null || { echo "  python3 is required"; exit 77; }
command -v curl >/dev/null || { echo "  curl is required"; exit 77; }
if ! DGBIN=$(ops/orchestrators.sh dagster 2>"$FLOQ_TEST_TMP/install.log" | tail -1) ||
   [ ! -x "$DGBIN/dagster-webserver" ]; then
    echo "  cannot install Dagster (ops/orchestrators.sh dagster):"
    sed 's/^/    /' "$FLOQ_TEST_TMP/install.log" | tail -5
    exit 77
fi
T0=$(date +%s)
export FLOQ_WORKER_DRAIN_GRACE_MS=${FLOQ_WORKER_DRAIN_GRACE_MS:-2000}
worker_env
T=$FLOQ_TEST_TMP

# The webserver and its code server run in a process group of their own
# (setsid), so that the runs' processes go with them.
PGIDS=()
stop_dagster() {
    local g
    for g in "${PGIDS[@]}"; do
        kill -CONT -- "-$g" 2>/dev/null || true
        kill -TERM -- "-$g" 2>/dev/null || true
    done
    for g in "${PGIDS[@]}"; do
        wait_for 10 bash -c '! kill -0 -- "-$1" 2>/dev/null' _ "$g" ||
            kill -KILL -- "-$g" 2>/dev/null || true
    done
    PGIDS=()
}
trap 'stop_dagster; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
D="http://127.0.0.1:$PORT"
export DAGSTER_HOME=$T/dagster-home FLOQ_DAGSTER_GATES=$T/gates DO_NOT_TRACK=1
mkdir -p "$DAGSTER_HOME" "$FLOQ_DAGSTER_GATES"
cat >"$DAGSTER_HOME/dagster.yaml" <<'EOF'
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
EOF
cat >"$T/workspace.yaml" <<EOF
load_from:
  - python_file:
      relative_path: $DATA/dagster/jobs.py
      location_name: floqtest
EOF
bg dagster setsid "$DGBIN/dagster-webserver" -h 127.0.0.1 -p "$PORT" -w "$T/workspace.yaml"
PGIDS+=($!)
ok "Dagster webserver up" wait_for 120 curl -sf -m 2 -o /dev/null "$D/server_info"
echo "  (webserver up after $(( $(date +%s) - T0 )) s)"

# gql QUERY [VARS_JSON]: Dagster's own answer
gql() {
    jq -cn --arg q "$1" --argjson v "${2:-{\}}" '{query: $q, variables: $v}' |
        curl -sf -m 10 -H 'content-type: application/json' -d @- "$D/graphql"
}
RUN_Q='query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId status endTime runConfigYaml tags { key value } } } }'
drun() { gql "$RUN_Q" "{\"id\":\"$1\"}" | jq -c .data.runOrError; }
# runs_tagged VALUE: ids of the Dagster runs tagged floq/attempt=VALUE
TAG_Q='query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId } } } }'
runs_tagged() {
    gql "$TAG_Q" "{\"f\":{\"tags\":[{\"key\":\"floq/attempt\",\"value\":\"$1\"}]}}" |
        jq -r '.data.runsOrError.results[].runId'
}
JOB_Q='query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId } } } }'
runs_of_job() { gql "$JOB_Q" "{\"f\":{\"pipelineName\":\"$1\"}}" | jq -r '.data.runsOrError.results[].runId'; }

export FLOQ_DAGSTER_URL=$D
export FLOQ_DAGSTER_POLL_INTERVAL_MS=300
export FLOQ_DAGSTER_STOP_WAIT_MS=30000
export FLOQ_DAGSTER_UNREACHABLE_MS=3000
# A token file as a Dagster+ deployment needs one (the local webserver
# ignores the header): read at every call, so removing it later is seen.
printf 'dgc-%s-SECRET\n' "$RANDOM$RANDOM" >"$T/token"; chmod 600 "$T/token"
TOKEN=$(cat "$T/token")
export FLOQ_DAGSTER_API_TOKEN_FILE=$T/token
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1

F=("$BIN/floq" -b "$FLOQ_BROKERS" -t 30s)
sel='"repository_location":"floqtest"'
echo "{$sel,\"job\":\"ok_job\",\"run_config\":{\"ops\":{\"say_ok\":{\"config\":{\"value\":\"{value}\"}}}}}" >"$T/ok.json"
echo "{$sel,\"job\":\"failing_job\",\"run_config\":{\"ops\":{\"say_fail\":{\"config\":{\"why\":\"as planned\"}}}}}" >"$T/fail.json"
echo "{$sel,\"job\":\"slow_job\",\"poll_interval_ms\":200,\"run_config\":{\"ops\":{\"wait_gate\":{\"config\":{\"gate\":\"{gate}\"}}}}}" >"$T/slow.json"
echo "{$sel,\"job\":\"nope_job\"}" >"$T/nope.json"
dep() { "${F[@]}" deploy "$1" --backend dagster --spec "$2" --json >"$T/d.json"; jq -r '.status + " " + (.reason // "")' "$T/d.json"; }
ok "ok_job DEPLOYED" bash -c '[[ $1 == DEPLOYED* ]]' _ "$(dep dg-ok "$T/ok.json")"
ok "failing_job DEPLOYED" bash -c '[[ $1 == DEPLOYED* ]]' _ "$(dep dg-fail "$T/fail.json")"
ok "slow_job DEPLOYED" bash -c '[[ $1 == DEPLOYED* ]]' _ "$(dep dg-slow "$T/slow.json")"
r=$(dep dg-nope "$T/nope.json")
ok "an unknown job is REJECTED ($r)" bash -c '[[ $1 == REJECTED*"nope_job"*"not found"* ]]' _ "$r"

running() { replies_now "$T/r.json"; [[ $(statuses "$T/r.json" "$1") == *RUNNING* ]]; }
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
run_of() { jq -r --arg id "$1" 'select(.command_id==$id) | .run_id' "$T/r.json" | head -1; }
final_of() { jq -r --arg id "$1" 'select(.command_id==$id and .final) | .status + " " + (.url // "") + " " + (.reason // "")' "$T/r.json"; }

# run to success: the Dagster run URL in the reply, params in its config
id=$(run_cmd dg-ok '{"value":"v1"}' | produce)
ok "final reply" wait_for 60 final "$id"
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$T/r.json" "$id")" = "ACCEPTED RUNNING SUCCEEDED"
run1=$(run_of "$id")
dr1=$(runs_tagged "$run1-1" | head -1)
ok "Dagster has the run tagged floq/attempt=$run1-1 ($dr1)" test -n "$dr1"
ok "the reply's url is the Dagster run's page ($(final_of "$id"))" test "$(jq -r --arg id "$id" 'select(.command_id==$id and .final) | .url' "$T/r.json")" = "$D/runs/$dr1"
ok "the run's backend_ref is that page (the Dagster run id its last segment)" test "$("$TOOL" runs --latest | jq -r --arg r "$run1" 'select(.run_id==$r) | .backend_ref')" = "$D/runs/$dr1"
ok "Dagster says SUCCESS" test "$(drun "$dr1" | jq -r .status)" = SUCCESS
ok "the run's params reached the op's config" bash -c '[[ $(jq -r .runConfigYaml <<<"$1") == *"value: v1"* ]] && test -e "$2/v1.done"' _ "$(drun "$dr1")" "$FLOQ_DAGSTER_GATES"

# the same command again: the original outcome, no second Dagster run
printf '%s\n' "$(run_cmd dg-ok '{"value":"v1"}' "{\"command_id\":\"$id\"}")" | produce >/dev/null
repeat() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id" 'select(.command_id==$id)' "$T/r.json" | jq -s length) -ge 4 ]]; }
ok "the repeat is answered" wait_for 30 repeat
ok "one Dagster run with that attempt's tag" test "$(runs_tagged "$run1-1" | wc -l)" -eq 1
ok "one run of ok_job in all" test "$(runs_of_job ok_job | wc -l)" -eq 1

# a failing job: FAILED with its message
idf=$(run_cmd dg-fail '{}' | produce)
ok "failing run final" wait_for 60 final "$idf"
ok "FAILED with the job's message ($(final_of "$idf" | head -c 300))" \
    bash -c '[[ $1 == FAILED*"/runs/"*"failing job says: as planned"* ]]' _ "$(final_of "$idf")"

# stop mid-run: CANCELLED, and the Dagster run really ended
id2=$(run_cmd dg-slow '{"gate":"g2"}' | produce)
ok "slow run RUNNING" wait_for 60 running "$id2"
ok "its op started" wait_for 60 test -s "$FLOQ_DAGSTER_GATES/g2.started"
run2=$(run_of "$id2")
oppid=$(cat "$FLOQ_DAGSTER_GATES/g2.started")
"${F[@]}" stop dg-slow --run "$run2" --json >"$T/s.json" || true
cancelled() { replies_now "$T/r.json"; [[ $(final_of "$id2") == CANCELLED* ]]; }
ok "slow run CANCELLED ($(jq -r '.status + " " + (.reason // "")' "$T/s.json"))" wait_for 60 cancelled
dr2=$(runs_tagged "$run2-1" | head -1)
ok "its reason names the Dagster run ($(final_of "$id2" | head -c 200))" bash -c '[[ $1 == *"/runs/$2"* ]]' _ "$(final_of "$id2")" "$dr2"
ok "Dagster says CANCELED, with an end time" bash -c '[[ $(jq -r .status <<<"$1") == CANCELED && $(jq -r ".endTime // empty" <<<"$1") != "" ]]' _ "$(drun "$dr2")"
ok "the op's process ($oppid) is gone" wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$oppid"
ok "the op never got past its gate" test ! -e "$FLOQ_DAGSTER_GATES/g2.done"

# a Dagster run deleted from outside: FAILED with that reason
id4=$(run_cmd dg-slow '{"gate":"g4"}' | produce)
ok "fourth run RUNNING" wait_for 60 running "$id4"
ok "its op started" wait_for 60 test -s "$FLOQ_DAGSTER_GATES/g4.started"
run4=$(run_of "$id4")
dr4=$(runs_tagged "$run4-1" | head -1)
DEL_Q='mutation($id: String!) { deleteRun(runId: $id) { __typename } }'
ok "Dagster run $dr4 deleted through GraphQL" test "$(gql "$DEL_Q" "{\"id\":\"$dr4\"}" | jq -r .data.deleteRun.__typename)" = DeletePipelineRunSuccess
touch "$FLOQ_DAGSTER_GATES/g4.go"
ok "fourth run final" wait_for 30 final "$id4"
ok "FAILED because the run was deleted ($(final_of "$id4" | head -c 200))" bash -c '[[ $1 == FAILED*"deleted from Dagster"* ]]' _ "$(final_of "$id4")"

# a worker SIGKILLed while its Dagster run runs: the next owner re-attaches
# to that Dagster run (its stored page) and reports its end, once; one
# Dagster run for that attempt, none for an attempt 2
id3=$(run_cmd dg-slow '{"gate":"g3"}' | produce)
ok "third run RUNNING" wait_for 60 running "$id3"
ok "its op started" wait_for 60 test -s "$FLOQ_DAGSTER_GATES/g3.started"
run3=$(run_of "$id3")
dr3=$(runs_tagged "$run3-1" | head -1)
kill -KILL "${WPID[w1]}"
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
ok "w2 re-attaches to Dagster run $dr3" wait_for 60 worker_log_has w2 "re-attached to remote run $D/runs/$dr3"
touch "$FLOQ_DAGSTER_GATES/g3.go"
ok "third run final" wait_for 60 final "$id3"
ok "one final reply, SUCCEEDED by the re-attached w2 ($(final_of "$id3" | head -c 200))" \
    bash -c '[[ $1 -eq 1 && $2 == SUCCEEDED*"/runs/$3"* ]]' _ "$(finals "$T/r.json" "$id3")" "$(final_of "$id3")" "$dr3"
ok "attempt 1 still (no retry)" test "$(jq -r --arg id "$id3" 'select(.command_id==$id and .final) | .attempt' "$T/r.json")" = 1
ok "one Dagster run for attempt 1 (runsOrError by tag)" test "$(runs_tagged "$run3-1" | wc -l)" -eq 1
ok "no Dagster run for an attempt 2" test "$(runs_tagged "$run3-2" | wc -l)" -eq 0
ok "two runs of slow_job in all" test "$(runs_of_job slow_job | wc -l)" -eq 2

# a drain hands the attempt over: the next owner starts the same attempt,
# finds its Dagster run by the tag and follows it (no second launch)
id6=$(run_cmd dg-slow '{"gate":"g6"}' | produce)
ok "sixth run RUNNING" wait_for 60 running "$id6"
ok "its op started" wait_for 60 test -s "$FLOQ_DAGSTER_GATES/g6.started"
run6=$(run_of "$id6")
dr6=$(runs_tagged "$run6-1" | head -1)
kill -TERM "${WPID[w2]}"
ok "w2 drains and leaves" wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "${WPID[w2]}"
start_worker w3
ok "w3 joins" wait_for 60 worker_assigned w3
ok "w3 finds Dagster run $dr6 by its tag, launches none" wait_for 60 worker_log_has w3 "Dagster run $dr6 has its tag already"
touch "$FLOQ_DAGSTER_GATES/g6.go"
ok "sixth run final" wait_for 60 final "$id6"
ok "it SUCCEEDED after the handover ($(final_of "$id6" | head -c 150))" bash -c '[[ $1 == SUCCEEDED*"/runs/$2"* ]]' _ "$(final_of "$id6")" "$dr6"
ok "one Dagster run for that attempt (runsOrError by tag)" test "$(runs_tagged "$run6-1" | wc -l)" -eq 1
ok "three runs of slow_job in all" test "$(runs_of_job slow_job | wc -l)" -eq 3

# validate: good, unknown job, closed port, unreadable token file
v() { local t0=$(date +%s%N); "${F[@]}" validate dagster "$@" --json >"$T/v.json" 2>&1 || true; VMS=$(( ($(date +%s%N) - t0) / 1000000 )); VR=$(jq -r '.status + " " + (.reason // "")' "$T/v.json"); }
v --spec "$T/ok.json"
ok "validate ok_job: VALID in ${VMS} ms" bash -c '[[ $1 == VALID* ]] && (( $2 < 10000 ))' _ "$VR" "$VMS"
v --spec "$T/nope.json"
ok "validate nope_job: INVALID, not found, in ${VMS} ms ($VR)" bash -c '[[ $1 == INVALID*"nope_job"*"not found"* ]] && (( $2 < 10000 ))' _ "$VR" "$VMS"
echo "{$sel,\"repository\":\"nope_repo\",\"job\":\"ok_job\"}" >"$T/nope-repo.json"
v --spec "$T/nope-repo.json"
ok "validate an unknown repository: INVALID, says so, in ${VMS} ms ($VR)" bash -c '[[ $1 == INVALID*"repository '"'"'nope_repo'"'"' not found"* ]] && (( $2 < 10000 ))' _ "$VR" "$VMS"
# Dagster not answering mid-run (its processes SIGSTOPped: a TERM would
# let the run end FAILURE first): LOST after dagster.unreachable.ms, not
# RUNNING forever
id5=$(run_cmd dg-slow '{"gate":"g5"}' | produce)
ok "fifth run RUNNING" wait_for 60 running "$id5"
ok "its op started" wait_for 60 test -s "$FLOQ_DAGSTER_GATES/g5.started"
for g in "${PGIDS[@]}"; do kill -STOP -- "-$g"; done
lost() { replies_now "$T/r.json"; [[ $(final_of "$id5") == LOST* ]]; }
ok "fifth run LOST once Dagster stays unreachable" wait_for 30 lost
ok "its reason says why ($(final_of "$id5" | head -c 250))" bash -c '[[ $1 == *"unreachable for"*"dagster.unreachable.ms"* ]]' _ "$(final_of "$id5")"
stop_dagster
ok "the Dagster webserver is gone" bash -c '! curl -s -m 2 "$1/server_info" >/dev/null' _ "$D"
v --spec "$T/ok.json"
ok "validate with the port closed: INVALID, unreachable, in ${VMS} ms ($VR)" bash -c '[[ $1 == INVALID*unreachable* ]] && (( $2 < 10000 ))' _ "$VR" "$VMS"
rm "$T/token"
v --spec "$T/ok.json"
ok "validate with the token file gone: INVALID, says so, in ${VMS} ms ($VR)" bash -c '[[ $1 == INVALID*"cannot read dagster.api.token.file"* ]] && (( $2 < 10000 ))' _ "$VR" "$VMS"
replies_now "$T/r.json"
ok "the token is in no reply" bash -c '! grep -qF "$1" "$2"' _ "$TOKEN" "$T/r.json"
ok "the token is in no worker log" bash -c '! grep -qF "$1" "$2" "$3" "$4"' _ "$TOKEN" "$T/w1.log" "$T/w2.log" "$T/w3.log"
if command -v kcat >/dev/null; then
    for t in commands replies lineage deployments runs dlq; do
        kcat -b "$FLOQ_BROKERS" -C -e -q -o beginning -t "$FLOQ_TEST_NS.$t" \
            -f '%k %h %s\n' >"$T/topic-$t.raw" 2>/dev/null || true
    done
    ok "the runs and lineage topics were read ($(cat "$T"/topic-runs.raw | wc -l) run records)" \
        bash -c 'test -s "$1/topic-runs.raw" && test -s "$1/topic-lineage.raw"' _ "$T"
    ok "lineage events carry the floq_backend facet with the Dagster run's page" \
        bash -c 'grep -aF "$1" "$2/topic-lineage.raw" | grep -qa floq_backend' _ "$D/runs/$dr1" "$T"
    ok "the token is in no record of any topic (lineage, DLQ, state...)" \
        bash -c '! grep -qaF "$1" "$2"/topic-*.raw' _ "$TOKEN" "$T"
fi
echo "  (0280 took $(( $(date +%s) - T0 )) s after the install check)"
finish
