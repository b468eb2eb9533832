# schedule_lib.sh - helpers of the schedule tests (013N-*.sh), sourced after
# worker_lib.sh.

# sched F NAME ARGS...: `floq schedule NAME ARGS...`, the reply as JSON in F.
sched() {
    local f=$1; shift
    "$BIN/floq" -b "$FLOQ_BROKERS" -t 30s schedule "$@" --json >"$f"
}

# sched_runs NAME FILE: the latest RunState of every run of deployment NAME
# started by a schedule, one JSON per line.
sched_runs() {
    "$TOOL" runs --latest | jq -c --arg d "$1" \
        'select(.deployment == $d and .schedule_id != null)' >"$2"
}

# sched_count NAME N: true once deployment NAME has at least N scheduled runs.
sched_count() {
    local f=$FLOQ_TEST_TMP/sched_count.json
    sched_runs "$1" "$f"
    [[ $(wc -l <"$f") -ge $2 ]]
}

# sched_all_terminal NAME: every scheduled run of NAME has ended.
sched_all_terminal() {
    local f=$FLOQ_TEST_TMP/sched_term.json
    sched_runs "$1" "$f"
    [[ $(jq -r 'select(.status | IN("SUCCEEDED","FAILED","CANCELLED","TIMED_OUT","LOST") | not) | .run_id' "$f" | wc -l) -eq 0 ]]
}

# now_ms: the wall clock in Unix milliseconds.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# clock_past MS: true once the wall clock is past MS.
clock_past() { (( $(now_ms) > $1 )); }
