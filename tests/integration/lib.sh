# lib.sh - helpers sourced by the integration tests (tests/integration/
# NNNN-name.sh). Each test runs in its own namespace of topics and group so
# tests never see each other's messages, waits on conditions with deadlines
# (never fixed sleeps) and cleans up the processes it started.
#
# Environment given by run.sh: FLOQ_BROKERS (a real broker), B (build dir),
# FLOQ_TEST_NAME, FLOQ_TEST_TMP (a scratch directory removed afterwards).

B=${B:-build}
BIN=$B/bin
TOOLS=$B/tools
_fails=0
_passes=0
_pids=()

# ok COND_DESC CMD...: run CMD; count a pass or a failure. With
# FLOQ_TEST_TIMES=1 each line ends with the seconds since the test began
# (where a slow test spends its time).
_t0=$SECONDS
ok() {
    local desc=$1 rc=0; shift
    "$@" || rc=$?
    [[ -n ${FLOQ_TEST_TIMES:-} ]] && desc+=" [+$((SECONDS - _t0))s]"
    if (( rc == 0 )); then
        echo "  ok: $desc"; _passes=$((_passes + 1))
    else
        echo "  FAIL: $desc"; _fails=$((_fails + 1))
    fi
}

# fail MSG: count a failure.
fail() { echo "  FAIL: $*"; _fails=$((_fails + 1)); }

# wait_for SECONDS CMD...: re-run CMD until it succeeds or the deadline
# passes (polls every 100 ms); returns CMD's last status.
wait_for() {
    local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
    while :; do
        if "$@"; then return 0; fi
        if (( $(date +%s%N) / 1000000 >= deadline )); then
            "$@"; return $?
        fi
        sleep 0.1
    done
}

# floq_test_topics: export FLOQ_TOPIC_* and FLOQ_GROUP_ID unique to this
# test run, so every worker/CLI started by the test uses its own topics.
floq_test_topics() {
    local ns="t${FLOQ_TEST_NAME//[^a-zA-Z0-9]/}-$$-$RANDOM"
    export FLOQ_TOPIC_COMMANDS="$ns.commands"
    export FLOQ_TOPIC_REPLIES="$ns.replies"
    export FLOQ_TOPIC_LINEAGE="$ns.lineage"
    export FLOQ_TOPIC_DEPLOYMENTS="$ns.deployments"
    export FLOQ_TOPIC_SCHEDULES="$ns.schedules"
    export FLOQ_TOPIC_RUNS="$ns.runs"
    export FLOQ_TOPIC_DLQ="$ns.dlq"
    export FLOQ_GROUP_ID="$ns.workers"
    export FLOQ_TEST_NS="$ns"
}

# slow_stop_env: worker_env (data/worker_lib.sh, sourced by then) for the
# tests whose jobs take 6 s to stop after SIGTERM (data/slow_stop.sh) on a
# two-partition commands topic: the kill grace above those 6 s, the
# heartbeat timeout by the timing rule (7000 + 500 + 100 < 24000 / 3).
slow_stop_env() {
    export FLOQ_TOPIC_PARTITIONS=2
    export FLOQ_PROCESS_KILL_GRACE_MS=7000
    export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=24000
    worker_env
}

# bg NAME CMD...: start CMD in the background, logging to
# $FLOQ_TEST_TMP/NAME.log; its pid is in $! and remembered for cleanup.
bg() {
    local name=$1; shift
    "$@" >"$FLOQ_TEST_TMP/$name.log" 2>&1 &
    _pids+=($!)
}

# cleanup: TERM then KILL every process bg started (run by the EXIT trap).
cleanup() {
    local p
    for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${_pids[@]}"; do
        local i
        for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# finish: print this test's tally and exit with its status.
finish() {
    echo "  $FLOQ_TEST_NAME: $_passes passed, $_fails failed"
    (( _fails == 0 && _passes > 0 ))
    exit $?
}
