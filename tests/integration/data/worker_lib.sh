# worker_lib.sh - helpers of the worker's integration tests (01NN-*.sh),
# sourced after lib.sh. Every test gets its own topics and group
# (floq_test_topics), fast timings (heartbeats, kill grace, session and
# transaction timeouts) so takeovers happen within seconds, and the process
# backend allowed to run the job scripts beside this file. Needs jq.

DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL=$TOOLS/floq_itest_tool

command -v jq >/dev/null || { echo "  jq is required"; exit 77; }

# worker_env: unique topics plus timings suited to tests.
worker_env() {
    floq_test_topics
    export FLOQ_PROCESS_ALLOWED_DIRS=$DATA
    export FLOQ_TOPIC_PARTITIONS=${FLOQ_TOPIC_PARTITIONS:-6}
    export FLOQ_WORKER_HEARTBEAT_INTERVAL_MS=${FLOQ_WORKER_HEARTBEAT_INTERVAL_MS:-500}
    # The timing rule (docs/worker.md): kill grace + heartbeat interval +
    # clock skew below a third of the heartbeat timeout: 3 * 1600 < 5000.
    export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=${FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS:-5000}
    export FLOQ_WORKER_CLOCK_SKEW_MS=${FLOQ_WORKER_CLOCK_SKEW_MS:-100}
    export FLOQ_WORKER_TRANSACTION_TIMEOUT_MS=${FLOQ_WORKER_TRANSACTION_TIMEOUT_MS:-6000}
    export FLOQ_PROCESS_KILL_GRACE_MS=${FLOQ_PROCESS_KILL_GRACE_MS:-1000}
    export FLOQ_WORKER_DRAIN_GRACE_MS=${FLOQ_WORKER_DRAIN_GRACE_MS:-10000}
}

# start_worker NAME [ARGS...]: a floq-worker in the background; its pid is
# in WPID[NAME], its log in $FLOQ_TEST_TMP/NAME.log.
declare -A WPID
start_worker() {
    local name=$1; shift
    bg "$name" "$BIN/floq-worker" -X session.timeout.ms=6000 \
        -X heartbeat.interval.ms=500 -o worker.id="$name-$$" "$@"
    WPID[$name]=$!
}

# worker_assigned NAME: the worker has taken partitions at least once.
worker_assigned() { grep -q "assigned [1-9]" "$FLOQ_TEST_TMP/$1.log"; }

# worker_log_has NAME PATTERN
worker_log_has() { grep -q -- "$2" "$FLOQ_TEST_TMP/$1.log"; }

# worker_positioned NAME N: NAME has restored and positioned at least N
# partitions.
worker_positioned() {
    [[ $(grep -c 'restored and positioned' "$FLOQ_TEST_TMP/$1.log") -ge $2 ]]
}

# name_on P: a deployment name (d0, d1, ...) whose key lands on commands
# partition P.
name_on() {
    local i=0
    while [[ $("$TOOL" partition --key "d$i") != "$1" ]]; do i=$((i + 1)); done
    echo "d$i"
}

# produce: JSON commands on stdin -> their command ids on stdout.
produce() { "$TOOL" produce "$@"; }

# spec EXE [ARG...]: a process spec as JSON text (for a DeployBody).
spec() {
    local exe=$DATA/$1; shift
    jq -cn --arg exe "$exe" '{executable: $exe, args: $ARGS.positional}' \
        --args "$@" | jq -Rc .
}

# deploy_cmd NAME EXE [ARG...]: a deploy command line.
deploy_cmd() {
    local name=$1; shift
    printf '{"deployment":"%s","body":{"DeployBody":{"backend":"process","spec":%s}}}\n' \
        "$name" "$(spec "$@")"
}

# run_cmd NAME [PARAMS_JSON] [EXTRA_ENVELOPE_JSON]: a run command line.
run_cmd() {
    jq -cn --arg d "$1" --argjson p "${2:-{\}}" --argjson e "${3:-{\}}" \
        '{deployment: $d, body: {RunBody: {params: $p}}} + $e'
}

# replies_now FILE: every committed reply so far, one JSON per line.
replies_now() { "$TOOL" replies --timeout-ms 20000 >"$1"; }

# statuses FILE CMD_ID: the statuses replied to CMD_ID, in order, on one line.
statuses() {
    jq -r --arg id "$2" 'select(.command_id == $id) | .status' "$1" |
        tr '\n' ' ' | sed 's/ $//'
}

# finals FILE CMD_ID: how many final replies CMD_ID got.
finals() {
    jq -r --arg id "$2" 'select(.command_id == $id and .final) | .status' \
        "$1" | wc -l
}

# has_final CMD_ID: true once CMD_ID has a final reply (reads the topic).
has_final() {
    local f=$FLOQ_TEST_TMP/has_final.json
    replies_now "$f"
    [[ $(finals "$f" "$1") -ge 1 ]]
}

# all_final IDS_FILE: true once every command id in IDS_FILE has a final
# reply.
all_final() {
    local f=$FLOQ_TEST_TMP/all_final.json
    replies_now "$f"
    local missing
    missing=$(jq -r 'select(.final) | .command_id' "$f" | sort -u |
        comm -13 - <(sort -u "$1") | wc -l)
    [[ $missing -eq 0 ]]
}

# reply_field FILE CMD_ID STATUS FIELD: FIELD of CMD_ID's STATUS reply.
reply_field() {
    jq -rn --arg id "$2" --arg s "$3" \
        'first(inputs | select(.command_id == $id and .status == $s)) | .'"$4" "$1"
}

# has_status CMD_ID STATUS: true once CMD_ID got a STATUS reply.
has_status() {
    local f=$FLOQ_TEST_TMP/has_status.json
    replies_now "$f"
    [[ -n $(reply_field "$f" "$1" "$2" command_id) ]]
}

# worker_alive NAME: the worker process still runs (an exited child that
# was not reaped yet still answers kill -0, so the state is read).
worker_alive() {
    local s
    s=$(ps -o stat= -p "${WPID[$1]}" 2>/dev/null) && [[ -n $s && $s != Z* ]]
}

# assert_one_final IDS_FILE [REPLIES_FILE]: G1 accounting, as 0111/0112
# check it: reads every committed reply into REPLIES_FILE (default
# $FLOQ_TEST_TMP/replies.json), then asserts zero duplicate final replies
# (over every command) and zero command of IDS_FILE without one.
assert_one_final() {
    local ids=$1 r=${2:-$FLOQ_TEST_TMP/replies.json} f dup missing
    f=$FLOQ_TEST_TMP/finals.$$
    replies_now "$r"
    jq -r 'select(.final)|.command_id' "$r" | sort >"$f"
    dup=$(uniq -d "$f" | wc -l)
    missing=$(sort -u "$ids" | comm -23 - "$f" | wc -l)
    ok "zero duplicate final replies ($dup)" test "$dup" -eq 0
    ok "zero missing final replies ($missing of $(wc -l <"$ids"))" test "$missing" -eq 0
}

# final_count IDS_FILE REPLIES_FILE STATUS_RE: how many commands of
# IDS_FILE have a final reply whose status matches STATUS_RE (jq regex,
# anchored), e.g. final_count ids replies.json 'SUCCEEDED|LOST'.
final_count() {
    jq -r --arg re "^($3)\$" 'select(.final and (.status|test($re)))|.command_id' "$2" |
        sort -u | comm -12 - <(sort -u "$1") | wc -l
}

# slow_http_start: data/slow_http.py in the background (it holds every
# request for 60 s); sets URL (an artifact URL on it) and sha (the sha256 of
# "x"). slow_http_port: its port.
slow_http_port() { sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$FLOQ_TEST_TMP/http.log" | head -1; }
_slow_http_up() { [[ -n $(slow_http_port) ]]; }
slow_http_start() {
    bg http /usr/bin/python3 -u "$DATA/slow_http.py"
    ok "slow http server started" wait_for 30 _slow_http_up
    URL="http://127.0.0.1:$(slow_http_port)/job.sh"
    sha=$(printf x | sha256sum | cut -d' ' -f1)
}

# slow_stop_pair: w1 restores both partitions of a two-partition commands
# topic and runs a job on each that takes 6 s to stop after SIGTERM
# (slow_stop.sh, which needs process.kill.grace.ms above 6 s); sets d[0],
# d[1] (the deployments, one per partition) and x[0], x[1] (their run
# commands, both RUNNING on return).
slow_stop_pair() {
    start_worker w1
    ok "w1 restores both partitions" wait_for 90 worker_positioned w1 2
    d[0]=$(name_on 0)
    d[1]=$(name_on 1)
    { deploy_cmd "${d[0]}" slow_stop.sh "{secs}" 6; deploy_cmd "${d[1]}" slow_stop.sh "{secs}" 6; } |
        produce >/dev/null
    x[0]=$(run_cmd "${d[0]}" '{"secs":"300"}' | produce)
    x[1]=$(run_cmd "${d[1]}" '{"secs":"300"}' | produce)
    ok "a job RUNNING on partition 0" wait_for 60 has_status "${x[0]}" RUNNING
    ok "a job RUNNING on partition 1" wait_for 60 has_status "${x[1]}" RUNNING
}

# hook_start: data/webhook_server.py in the background (each request it
# gets is a line of $FLOQ_TEST_TMP/hook/requests.jsonl); sets H, its base
# URL, and HOOK_PID.
hook_start() {
    mkdir -p "$FLOQ_TEST_TMP/hook"
    bg hook python3 "$DATA/webhook_server.py" "$FLOQ_TEST_TMP/hook" "$FLOQ_TEST_TMP/port"
    HOOK_PID=$!
    ok "webhook server up" wait_for 20 test -s "$FLOQ_TEST_TMP/port"
    H="http://127.0.0.1:$(cat "$FLOQ_TEST_TMP/port")"
}

# A retry policy of three attempts with short backoffs.
HOOK_RETRY='{"max_attempts":3,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.1}'

# hook_running ID: the run command ID has a RUNNING reply.
hook_running() {
    replies_now "$FLOQ_TEST_TMP/r.json"
    [[ $(statuses "$FLOQ_TEST_TMP/r.json" "$1") == *RUNNING* ]]
}

# hook_run_on_w1 SPEC: w1 started, deployment "hk" on the http backend
# with SPEC (the spec as a JSON string) and HOOK_RETRY, and one run of it
# RUNNING on w1; sets id, the run command's id.
hook_run_on_w1() {
    start_worker w1
    ok "w1 joins" wait_for 60 worker_assigned w1
    printf '{"deployment":"hk","body":{"DeployBody":{"backend":"http","spec":%s}}}\n' "$1" |
        jq -c --argjson r "$HOOK_RETRY" '.body.DeployBody.retry = $r' | produce >/dev/null
    id=$(run_cmd hk '{}' | produce)
    ok "RUNNING on w1" wait_for 60 hook_running "$id"
}
