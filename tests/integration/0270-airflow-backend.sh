#!/usr/bin/env bash
# itest: alone: an orchestrator
# 0270 (G1, G3, issue 11 item 5): the airflow backend end to end through
# Kafka against a real Apache Airflow 3 (api-server, scheduler and
# dag-processor on 127.0.0.1, SQLite in the scratch dir, SimpleAuthManager
# with a user of the test's own, the DAGs of data/airflow_dags/):
# validate good and bad (unknown DAG, wrong credentials, closed port) each
# within 10 s with its own message; a paused DAG is REJECTED unless the spec
# says unpause; deploy -> run -> SUCCEEDED with the Airflow UI URL of the DAG
# run in the reply; the same run command twice -> one DAG run (counted with
# GET dagRuns); a failing DAG -> FAILED naming the failed task; stop mid-run
# -> CANCELLED and Airflow says the DAG run and its task ended; a worker
# SIGKILLed mid-run -> the next owner re-attaches to the DAG run and
# reports it once, no second DAG run (was 0271); Airflow gone
# mid-run -> LOST after airflow.unreachable.ms. Skips (77) only when Airflow
# cannot be installed (ops/orchestrators-airflow.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v python3 >/dev/null || { echo "  python3 is required"; exit 77; }
command -v curl >/dev/null || { echo "  curl is required"; exit 77; }
T=$FLOQ_TEST_TMP
venv=
if out=$(ops/orchestrators-airflow.sh 2>"$T/install.log"); then venv=$(tail -1 <<<"$out"); fi
if [[ -z $venv || ! -x $venv/bin/airflow ]]; then
    echo "  cannot install Apache Airflow (ops/orchestrators-airflow.sh):"
    tail -5 "$T/install.log" | sed 's/^/    /'
    exit 77
fi
AIRFLOW=$venv/bin/airflow

# --- Airflow, for this test only
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AF=http://127.0.0.1:$port
export AIRFLOW_HOME=$T/airflow
mkdir -p "$AIRFLOW_HOME" "$T/gates"
export AIRFLOW__CORE__DAGS_FOLDER=$DATA/airflow_dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=4
# Airflow 3's default auth manager: SimpleAuthManager, with one user whose
# password is in a file of the test's own.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=floq:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/passwords.json
PW="pw-$RANDOM-$RANDOM-SECRET"
printf '{"floq": "%s"}\n' "$PW" >"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$port
export AIRFLOW__API__BASE_URL=$AF
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$AF/execution/
export AIRFLOW__API_AUTH__JWT_SECRET="jwt-$RANDOM-$RANDOM-$RANDOM-$RANDOM"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=1
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC=2
export FLOQ_AIRFLOW_GATE_DIR=$T/gates
"$AIRFLOW" db migrate >"$T/af-migrate.log" 2>&1 || { fail "airflow db migrate: $(tail -3 "$T/af-migrate.log")"; finish; }

# Each Airflow process leads its own process group: its children (task
# supervisors, executor workers) are stopped with it.
declare -A AFPID
af_start() { # af_start NAME ARGS...
    local name=$1; shift
    setsid "$AIRFLOW" "$@" >"$T/af-$name.log" 2>&1 &
    AFPID[$name]=$!
}
af_kill() { # af_kill NAME: TERM its group, KILL after 10 s
    local pid=${AFPID[$1]:-} i
    [[ -n $pid ]] || return 0
    kill -TERM -- "-$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "AFPID[$1]"
}
af_down() { local n; for n in "${!AFPID[@]}"; do af_kill "$n"; done; }
trap 'af_down; cleanup' EXIT
af_start api api-server --host 127.0.0.1 --port "$port"
af_start scheduler scheduler
af_start dagproc dag-processor

ok "Airflow api-server answers" wait_for 240 curl -sf -m 2 -o /dev/null "$AF/api/v2/version"
tok() { curl -sf -m 5 -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"floq\",\"password\":\"$PW\"}" "$AF/auth/token" | jq -r .access_token; }
TOK=$(tok)
api() { curl -sf -m 10 -H "Authorization: Bearer $TOK" "$AF/api/v2$1"; }
dag_known() { api "/dags/$1" >/dev/null; }
dags_known() { dag_known floq_gate && dag_known floq_fail; }
ok "the DAGs are parsed" wait_for 180 dags_known

# --- the worker
worker_env
printf 'floq:%s\n' "$PW" >"$T/auth"; chmod 600 "$T/auth"
export FLOQ_AIRFLOW_API_URL=$AF
export FLOQ_AIRFLOW_UI_URL=$AF
export FLOQ_AIRFLOW_AUTH_FILE=$T/auth
export FLOQ_AIRFLOW_POLL_INTERVAL_MS=300
# 10 s: a loaded Airflow (SQLite, 2 cores) can miss the 1.2 s poll
# timeout for a few seconds in a row without being gone
export FLOQ_AIRFLOW_UNREACHABLE_MS=10000
export FLOQ_AIRFLOW_STOP_WAIT_MS=60000
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1
F=("$BIN/floq" -b "$FLOQ_BROKERS" -t 30s)

# validate: good, unknown DAG, wrong credentials (closed port at the end)
jq -n '{dag_id: "floq_gate"}' >"$T/gate.json"
jq -n '{dag_id: "floq_gate", unpause: true, poll_interval_ms: 300}' >"$T/gate-unpause.json"
jq -n '{dag_id: "floq_fail"}' >"$T/fail.json"
jq -n '{dag_id: "no_such_dag"}' >"$T/nodag.json"
validate() { # validate SPEC OUT: floq validate airflow, timed in ms
    local t0=$(date +%s%N)
    "${F[@]}" validate airflow --spec "$1" --json >"$2" 2>&1 || true
    echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$2.ms"
}
within10() { [[ $(cat "$1.ms") -lt 10000 ]]; }
validate "$T/gate.json" "$T/v1.json"
ok "validate good: VALID ($(jq -r '.reason // ""' "$T/v1.json")) in $(cat "$T/v1.json.ms") ms" \
    bash -c '[[ $(jq -r .status "$1") == VALID ]]' _ "$T/v1.json"
ok "... within 10 s" within10 "$T/v1.json"
validate "$T/nodag.json" "$T/v2.json"
ok "validate unknown DAG: INVALID '$(jq -r .reason "$T/v2.json")'" \
    bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"unknown DAG"* ]]' _ "$T/v2.json"
ok "... within 10 s" within10 "$T/v2.json"
printf 'floq:wrong-password\n' >"$T/auth"
validate "$T/gate.json" "$T/v3.json"
printf 'floq:%s\n' "$PW" >"$T/auth"
ok "validate wrong credentials: INVALID '$(jq -r .reason "$T/v3.json")'" \
    bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"credentials were refused"* ]]' _ "$T/v3.json"
ok "... within 10 s" within10 "$T/v3.json"

# deploy: floq_gate starts paused
"${F[@]}" deploy gate --backend airflow --spec "$T/gate.json" --json >"$T/d0.json"
ok "a paused DAG is REJECTED ($(jq -r .reason "$T/d0.json"))" \
    bash -c '[[ $(jq -r .status "$1") == REJECTED && $(jq -r .reason "$1") == *paused* ]]' _ "$T/d0.json"
"${F[@]}" deploy gate --backend airflow --spec "$T/gate-unpause.json" --json >"$T/d1.json"
ok "with unpause: DEPLOYED ($(jq -r '.reason // ""' "$T/d1.json"))" test "$(jq -r .status "$T/d1.json")" = DEPLOYED
ok "... and Airflow says the DAG is unpaused" test "$(api /dags/floq_gate | jq -r .is_paused)" = false
"${F[@]}" deploy fail --backend airflow --spec "$T/fail.json" --json >"$T/d2.json"
ok "failing DAG DEPLOYED" test "$(jq -r .status "$T/d2.json")" = DEPLOYED

# run to success; the test opens the gate
running() { replies_now "$T/r.json"; [[ $(statuses "$T/r.json" "$1") == *RUNNING* ]]; }
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
run_of() { jq -r --arg id "$1" 'select(.command_id==$id) | .run_id' "$T/r.json" | head -1; }
id=$(run_cmd gate '{"day":"2026-12-01"}' | produce)
ok "RUNNING" wait_for 60 running "$id"
run1=$(run_of "$id")
ok "the DAG run's task started" wait_for 120 test -e "$T/gates/$run1-1.started"
touch "$T/gates/$run1-1.go"
ok "final reply" wait_for 120 final "$id"
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$T/r.json" "$id")" = "ACCEPTED RUNNING SUCCEEDED"
url=$(jq -r --arg id "$id" 'select(.command_id==$id and .final) | .url' "$T/r.json")
ok "the reply's url is the Airflow page of the DAG run ($url)" test "$url" = "$AF/dags/floq_gate/runs/$run1-1"
ok "Airflow says the DAG run succeeded" test "$(api "/dags/floq_gate/dagRuns/$run1-1" | jq -r .state)" = success
ok "conf came from the params" test "$(api "/dags/floq_gate/dagRuns/$run1-1" | jq -r .conf.day)" = 2026-12-01
# its OpenLineage events: START and COMPLETE, valid (2-0-2 + facets), the
# Airflow page and DAG run id in the floq_backend facet
L=$T/lineage.jsonl
lineage_of_run1() {
    "$BIN/floq-lineage" tail --json --from-beginning -e >"$L" 2>/dev/null &&
        [[ $(jq -r --arg r "$run1" 'select(.run.runId == $r) | .eventType' "$L" |
            sort | tr '\n' ' ') == "COMPLETE START " ]]
}
ok "START and COMPLETE on the lineage topic" wait_for 30 lineage_of_run1
ok "the events are valid OpenLineage 2-0-2" /usr/bin/python3 tests/data/openlineage/validate.py "$L"
ok "the COMPLETE event names the Airflow DAG run" test "$(jq -r --arg r "$run1" \
    'select(.run.runId == $r and .eventType == "COMPLETE") | .run.facets.floq_backend | "\(.backend) \(.url)"' "$L")" \
    = "airflow $AF/dags/floq_gate/runs/$run1-1"

# the same command again: answered, no second DAG run
printf '%s\n' "$(run_cmd gate '{"day":"2026-12-01"}' "{\"command_id\":\"$id\"}")" | produce >/dev/null
repeat() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id" 'select(.command_id==$id)' "$T/r.json" | jq -s length) -ge 4 ]]; }
ok "the repeat is answered" wait_for 30 repeat
ok "one DAG run (GET dagRuns counts $(api /dags/floq_gate/dagRuns | jq .total_entries))" \
    test "$(api /dags/floq_gate/dagRuns | jq .total_entries)" -eq 1

# a failing DAG: FAILED with the failed task named
idf=$(run_cmd fail '{}' | produce)
ok "failing run ends" wait_for 180 final "$idf"
reason=$(jq -r --arg id "$idf" 'select(.command_id==$id and .final) | .reason' "$T/r.json")
ok "FAILED naming the task ($reason)" bash -c \
    '[[ $(jq -r --arg id "$2" "select(.command_id==\$id and .final) | .status" "$1") == FAILED && $3 == *explode* ]]' _ "$T/r.json" "$idf" "$reason"

# stop mid-run: CANCELLED, and the DAG run and its task really ended
id2=$(run_cmd gate '{"day":"d2"}' | produce)
ok "second run RUNNING" wait_for 60 running "$id2"
run2=$(run_of "$id2")
ok "its task started" wait_for 120 test -e "$T/gates/$run2-1.started"
"${F[@]}" stop gate --run "$run2" --json >"$T/s.json" || true
cancelled() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id2" 'select(.command_id==$id and .final) | .status' "$T/r.json") == CANCELLED ]]; }
ok "second run CANCELLED" wait_for 90 cancelled
ok "its reason says what Airflow did ($(jq -r --arg id "$id2" 'select(.command_id==$id and .final) | .reason' "$T/r.json"))" \
    bash -c 'jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1" | grep -q "none of its task instances is running"' _ "$T/r.json" "$id2"
ok "Airflow says the DAG run failed" test "$(api "/dags/floq_gate/dagRuns/$run2-1" | jq -r .state)" = failed
ti_state=$(api "/dags/floq_gate/dagRuns/$run2-1/taskInstances" | jq -r '.task_instances[].state' | sort -u | tr '\n' ' ')
ok "and its task instance is not running ($ti_state)" bash -c '[[ -n $1 && $1 != *running* && $1 != *queued* ]]' _ "$ti_state"

# a worker SIGKILLed while its DAG run's task runs: the next owner
# re-attaches to the DAG run by the dag_run_id in the RunState (no second
# trigger) and reports it exactly once, with the DAG run's page (was 0271)
idk=$(run_cmd gate '{"day":"dk"}' | produce)
ok "run before the SIGKILL RUNNING" wait_for 60 running "$idk"
runk=$(run_of "$idk")
ok "its task started" wait_for 120 test -e "$T/gates/$runk-1.started"
kill -KILL "${WPID[w1]}"
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
ok "w2 re-attaches to the DAG run" wait_for 60 worker_log_has w2 "re-attached to DAG run $runk-1"
touch "$T/gates/$runk-1.go"
ok "the re-attached run ends" wait_for 120 final "$idk"
fin() { jq -r --arg id "$idk" "select(.command_id==\$id and .final) | .$1" "$T/r.json"; }
ok "SUCCEEDED ($(statuses "$T/r.json" "$idk") $(fin reason))" test "$(fin status)" = SUCCEEDED
ok "exactly one final reply" test "$(finals "$T/r.json" "$idk")" -eq 1
ok "reported by the next owner ($(fin worker))" bash -c '[[ $1 == w2-* ]]' _ "$(fin worker)"
ok "its url is the Airflow page of the DAG run ($(fin url))" test "$(fin url)" = "$AF/dags/floq_gate/runs/$runk-1"
ok "Airflow says that DAG run succeeded" test "$(api "/dags/floq_gate/dagRuns/$runk-1" | jq -r .state)" = success
ok "exactly one DAG run for it in Airflow" test "$(api '/dags/floq_gate/dagRuns?limit=100' | jq --arg r "$runk" '[.dag_runs[] | select(.dag_run_id | startswith($r))] | length')" -eq 1

# Airflow goes away mid-run: LOST after the bound; validate says unreachable
id3=$(run_cmd gate '{"day":"d3"}' | produce)
ok "third run RUNNING" wait_for 60 running "$id3"
af_kill api
lost() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id3" 'select(.command_id==$id and .final) | .status' "$T/r.json") == LOST ]]; }
ok "third run LOST once Airflow stays unreachable" wait_for 60 lost
ok "its reason says why" bash -c 'jq -r --arg id "$2" "select(.command_id==\$id and .final) | .reason" "$1" | grep -q airflow.unreachable.ms' _ "$T/r.json" "$id3"
validate "$T/gate.json" "$T/v4.json"
ok "validate closed port: INVALID '$(jq -r .reason "$T/v4.json")'" \
    bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"api-server running"* ]]' _ "$T/v4.json"
ok "... within 10 s" within10 "$T/v4.json"

ok "the password is in no reply" bash -c '! grep -qF "$1" "$2"' _ "$PW" "$T/r.json"
ok "the password is in no worker log" bash -c '! grep -qF "$1" "$2" "$3"' _ "$PW" "$T/w1.log" "$T/w2.log"
af_down
finish
