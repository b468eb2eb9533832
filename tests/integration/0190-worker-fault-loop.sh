#!/usr/bin/env bash
# itest: alone: its own cluster
# 0190 (G1, G2): the kill loop of 0112 made as hard as production. On a
# single-node Kafka of its own, three workers run a few hundred runs of a
# job written the ordinary way: a shell script whose work runs in child
# processes, no exec (data/attempt.sh, which logs the start and end of
# every execution of itself with a monotonic clock and its pids, and
# checks at start that no other process of its run is alive). Waves of
# runs (short ones and ones that outlive the heartbeat timeout) go in
# before each fault, and each fault hits a worker with jobs running:
#   - SIGKILL of a worker (FLOQ_KILLS times, 8 by default), restarted with
#     the same identity at once, or only once the group has given its
#     partitions to the others, or replaced by a worker with a new identity
#     (nothing fences the dead one's open transaction: it holds back the
#     last stable offset of its partitions until it times out),
#   - a zombie: one worker SIGSTOP'ed until the group has given its
#     partitions away and its runs were taken over, then SIGCONT'ed,
#   - a broker outage: the node is killed with SIGKILL until the workers'
#     attempts are stopped, then restarted on its data,
#   - one drain (SIGTERM), the worker restarted.
# Then (data/attempt_lib.sh): every command has exactly one final reply
# (read_committed) and it is SUCCEEDED (the retry policy allows 8
# attempts), no two executions of one run were alive at once (by the job's
# own probe and by their start/end times), no execution outlived its
# script, and no job process is alive once every run has its final reply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/broker_lib.sh"
T=$FLOQ_TEST_TMP
ATTEMPT_LOG=$T/attempts.log
source "$(dirname "$0")/data/attempt_lib.sh"
command -v perl >/dev/null || { echo "  perl is needed (monotonic clock of the job): skipped"; exit 77; }
broker_start 1
worker_env
export FLOQ_WORKER_CONCURRENCY=4
KILLS=${FLOQ_KILLS:-8}
WAVE=${FLOQ_WAVE_RUNS:-24}
LONG=${FLOQ_WAVE_LONG:-3}
LONG_SECS=15
: >"$ATTEMPT_LOG"
: >"$T/ids"
for w in w1 w2 w3; do start_worker $w; attempt_note_worker $w; done
for w in w1 w2 w3; do ok "$w joins" wait_for 90 worker_assigned $w; done
retry='{"max_attempts":8,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.2}'
for i in $(seq 0 11); do attempt_deploy "fl$i" "$retry"; done | produce >/dev/null

# wave [NLONG [SECS]]: NLONG (default LONG) runs of SECS (default
# LONG_SECS), then WAVE runs of 1 s, over the 12 deployments; their ids are
# added to $T/ids
wave_no=0
wave() {
    local i
    {
        for i in $(seq 1 "${1:-$LONG}"); do
            run_cmd "fl$(( (wave_no * 5 + i * 7) % 12 ))" "{\"secs\":\"${2:-$LONG_SECS}\"}"
        done
        for i in $(seq 1 "$WAVE"); do run_cmd "fl$(( (wave_no + i) % 12 ))" '{"secs":"1"}'; done
    } | produce >>"$T/ids"
    wave_no=$((wave_no + 1))
}

# log_lines NAME: lines of NAME's current log; new_in NAME FROM RE: a line
# after line FROM of NAME's log matches RE
log_lines() { wc -l <"$T/$1.log"; }
new_in() { tail -n +$(( $2 + 1 )) "$T/$1.log" | grep -qE -- "$3"; }

# live_runs PID: the runs with an execution on worker process PID that has
# no end line yet and still runs
live_runs() {
    local run pid
    awk -v w="$1" '$1 == "start" && $7 == w { s[$2 " " $4] = 1 }
        $1 == "end" { delete s[$2 " " $4] }
        END { for (k in s) print k }' "$ATTEMPT_LOG" | while read -r run pid; do
            attempt_pid_of_run "$pid" "$run" && echo "$run"; done | sort -u
}
# restarted_since LINE RUNS_FILE: a run of RUNS_FILE started again after
# line LINE of the job log
restarted_since() {
    tail -n +$(( $1 + 1 )) "$ATTEMPT_LOG" |
        awk 'NR == FNR { r[$1]; next } $1 == "start" && ($2 in r) { f = 1 } END { exit !f }' "$2" -
}
no_live_execution() {
    [[ -z $(awk '$1 == "start" { s[$2 " " $4] = 1 } $1 == "end" { delete s[$2 " " $4] }
        END { for (k in s) print k }' "$ATTEMPT_LOG" | while read -r run pid; do
            attempt_pid_of_run "$pid" "$run" && echo "$pid"; done) ]]
}
worker_gone() { ! worker_alive "$1"; }

# restart NAME STEP: NAME's log kept as NAME.STEP.log, the worker started
# again with the same worker id (its producer fences the old one)
declare -A WID
restart() {
    mv "$T/$1.log" "$T/$1.$2.log"
    start_worker "$1" ${WID[$1]:+-o worker.id=${WID[$1]}}
    attempt_note_worker "$1"
    ok "$1 rejoins" wait_for 90 worker_assigned "$1"
}

# others_took NAME: another worker than NAME was assigned partitions after
# the log lines counted in TOOK_FROM[other]
declare -A TOOK_FROM
others_took() {
    local o
    for o in w1 w2 w3; do
        [[ $o != "$1" ]] && new_in "$o" "${TOOK_FROM[$o]}" "assigned [1-9]" && return 0
    done
    return 1
}
mark_others() { local o; for o in w1 w2 w3; do TOOK_FROM[$o]=$(log_lines "$o"); done; }

# fault_kill NAME STEP HOW: SIGKILL, then the worker comes back with the
# same identity at once (HOW "same"), or only once the group has given its
# partitions to the others ("late": a host restarted later), or a worker
# with a new identity takes its place at once ("new": a host that is gone
# for good; nothing fences its open transaction, which holds back the last
# stable offset of its partitions until it times out)
fault_kill() {
    local v=$1 pid=${WPID[$1]}
    local live
    wait_for 60 attempt_live_on "$pid" || echo "  (no job live on $v)"
    mark_others
    # counted before the kill: the jobs die with their worker
    live=$(live_runs "$pid" | wc -l)
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    (( live > 0 )) && LIVE_KILLS=$((LIVE_KILLS + 1))
    echo "  step $2: SIGKILL $v (pid $pid) with $live run(s) live, back: $3"
    case $3 in
    late) ok "the group gives the killed $v's partitions away" wait_for 60 others_took "$v" ;;
    new) WID[$v]=$v-$$-$2 ;;
    esac
    restart "$v" "$2"
}

# zombie_wave NAME: two runs of 30 s (they outlast the session
# and heartbeat timeouts and the takeover) on each deployment NAME started
# runs of lately (its partitions), or on six of them when it has none; the
# other workers keep slots free for the takeover to start at once; then a
# wave of short runs
zombie_wave() {
    local d
    grep -o "of 'fl[0-9]*' started" "$T/$1.log" | tail -8 | sed "s/of '\(.*\)' started/\1/" |
        sort -u >"$T/zombie.deployments"
    [[ -s $T/zombie.deployments ]] || printf 'fl%d\n' 0 2 4 6 8 10 >"$T/zombie.deployments"
    while read -r d; do
        run_cmd "$d" '{"secs":"30"}'
        run_cmd "$d" '{"secs":"30"}'
    done <"$T/zombie.deployments" | produce >>"$T/ids"
    wave 0
}

fault_zombie() {
    local v=$1 pid=${WPID[$1]} line i
    wait_for 60 attempt_live_on "$pid" 30 || echo "  (no long job live on $v)"
    mark_others
    kill -STOP "$pid"
    line=$(wc -l <"$ATTEMPT_LOG")
    live_runs "$pid" >"$T/zombie.runs"
    echo "  step $2: SIGSTOP $v (pid $pid) with $(wc -l <"$T/zombie.runs") run(s) live"
    ok "the group gives the stopped $v's partitions away" wait_for 60 others_took "$v"
    if [[ -s $T/zombie.runs ]]; then
        ok "the stopped $v's runs are started elsewhere" wait_for 60 restarted_since "$line" "$T/zombie.runs"
    fi
    i=$(log_lines "$v")
    kill -CONT "$pid"
    echo "  step $2: SIGCONT $v"
    # it may rejoin, or find itself fenced and exit (its supervisor would
    # start it again): either, but within a deadline
    zombie_settled() { new_in "$v" "$i" "assigned [1-9]" || worker_gone "$v"; }
    ok "the zombie $v serves again or exits" wait_for 90 zombie_settled
    if worker_gone "$v"; then
        wait "$pid"
        echo "  step $2: the zombie $v exited ($?); started again"
        restart "$v" "$2"
    fi
}

fault_outage() {
    local o before=()
    wait_for 60 attempt_live_on "${WPID[$1]}" || echo "  (no job live on $1)"
    for o in w1 w2 w3; do before+=("$(log_lines "$o")"); done
    kafka kill 1 2>/dev/null
    echo "  step $2: broker killed"
    noticed() {
        new_in w1 "${before[0]}" "Connection refused|brokers are down" &&
        new_in w2 "${before[1]}" "Connection refused|brokers are down" &&
        new_in w3 "${before[2]}" "Connection refused|brokers are down"
    }
    ok "the workers notice the outage" wait_for 30 noticed
    # down until the workers' watchdogs have stopped every attempt
    if wait_for 30 no_live_execution; then
        echo "  step $2: every attempt stopped (no transaction can commit)"
    else
        echo "  step $2: attempts still run 30 s into the outage"
    fi
    ok "broker restarted on its data" kafka restart-node 1 2>"$T/restart.log"
    echo "  step $2: broker back"
}

fault_drain() {
    local v=$1 pid=${WPID[$1]} rc
    if worker_gone "$v"; then
        # It exited on its own in an earlier fault (fenced twice within a
        # minute: a broker outage past the transaction timeout can look
        # like that to librdkafka 2.0.2), as a supervisor would see it:
        # restarted, and the drain is of the new instance.
        wait "$pid"
        echo "  step $2: $v had exited on its own ($?): restarted for the drain"
        restart "$v" "$2.exited"
        pid=${WPID[$v]}
    fi
    wait_for 60 attempt_live_on "$pid" || echo "  (no job live on $v)"
    kill -TERM "$pid"
    echo "  step $2: SIGTERM $v (pid $pid) with $(live_runs "$pid" | wc -l) run(s) live"
    ok "$v drains and exits" wait_for 60 worker_gone "$v"
    wait "$pid"
    rc=$?
    ok "$v exits 0 after the drain ($rc)" test "$rc" -eq 0
    restart "$v" "$2"
}

# the faults: KILLS SIGKILLs (back at once, late and as a new worker in
# turn), the zombie after kill 3/8, the outage after 5/8, the drain after
# 7/8 of them (all after the first with one kill)
faults=()
for ((k = 1; k <= KILLS; k++)); do
    case $((k % 4)) in 2) faults+=(kill:late) ;; 0) faults+=(kill:new) ;; *) faults+=(kill:same) ;; esac
    (( k == (KILLS * 3 + 7) / 8 )) && faults+=(zombie)
    (( k == (KILLS * 5 + 7) / 8 )) && faults+=(outage)
    (( k == (KILLS * 7 + 7) / 8 )) && faults+=(drain)
done
step=0
LIVE_KILLS=0 # kills of a worker with jobs of its own live
for f in "${faults[@]}"; do
    step=$((step + 1))
    if [[ $f == zombie ]]; then zombie_wave "w$(( step % 3 + 1 ))"; else wave; fi
    "fault_${f%%:*}" "w$(( step % 3 + 1 ))" "$step" "${f#*:}"
done
wave
n=$(wc -l <"$T/ids")
for w in w1 w2 w3; do worker_gone $w && echo "  note: $w (pid ${WPID[$w]}) exited on its own"; done
ok "all $n answered" wait_for 240 all_final "$T/ids"
# The kills must meet live jobs, or they test nothing of G2: with the
# spawner (the supervisors' parent) the job's record named it, not the
# worker, so each kill waited 60 s for a job live on its worker and found
# none (a CI run timed out at 600 s so).
ok "kills met live jobs ($LIVE_KILLS of $KILLS)" test "$LIVE_KILLS" -ge 1
attempt_accounting "$T/ids"
finish
