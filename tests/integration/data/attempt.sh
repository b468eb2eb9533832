#!/usr/bin/env bash
# attempt.sh LOG SECS: a job written the ordinary way, a shell script whose
# work runs in child processes (no exec), that records every execution of
# itself in LOG for the G2 accounting of 0190 (data/attempt_lib.sh).
#
# The work is a subshell (a process of its own, child of this script) that
# runs `sleep SECS` as its own child. The subshell appends one line per
# event to LOG, each with one printf to a file opened O_APPEND (one write
# of well under PIPE_BUF, so lines of concurrent jobs never interleave):
#   start RUN ATTEMPT PID NS PARENT WORKER SECS
#       PID the subshell, NS CLOCK_MONOTONIC in ns, PARENT this script,
#       WORKER the floq worker process (the script's parent, or above its
#       supervisor and the spawner)
#   child RUN ATTEMPT PID SLEEP_PID
#   alive RUN ATTEMPT PID OTHER_PID
#       as this execution starts, OTHER_PID (not one of ours) still runs
#       with this run's FLOQ_RUN_ID: two attempts of one run alive at once
#   end RUN ATTEMPT PID NS PPID
#       PPID the subshell's parent at the end: PARENT, unless the script
#       died and left it orphaned (it escaped its attempt)
# An execution that is stopped or killed writes no end line.
log=${1:?log file}
secs=${2:-1}
run=${FLOQ_RUN_ID:?FLOQ_RUN_ID not set}
att=${FLOQ_ATTEMPT:-0}
worker=$PPID
# Under the process backend's per-attempt supervisor (floq-supervise), the
# worker process is above it: the supervisor's parent, or the parent of
# the spawner (floq-spawner) that forked the supervisor.
while [[ $(cat "/proc/$worker/comm" 2>/dev/null) == floq-sup* ||
    $(cat "/proc/$worker/comm" 2>/dev/null) == floq-spawner ]] &&
    read -r wstat 2>/dev/null <"/proc/$worker/stat"; do
    wstat=${wstat##*) }
    wstat=${wstat#* }
    worker=${wstat%% *}
done
parent=$$

now() {
    perl -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC \
        -e 'printf "%.0f\n", clock_gettime(CLOCK_MONOTONIC) * 1e9'
}

(
    me=$BASHPID
    # before anything else: is another process of this run alive?
    others=$(grep -lsxz -F "FLOQ_RUN_ID=$run" /proc/[0-9]*/environ)
    for f in $others; do
        pid=${f#/proc/}
        pid=${pid%/environ}
        [[ $pid == "$parent" || $pid == "$me" ]] && continue
        read -r stat 2>/dev/null <"/proc/$pid/stat" || continue
        state=${stat##*) }
        [[ ${state:0:1} == Z ]] && continue
        printf 'alive %s %s %s %s\n' "$run" "$att" "$me" "$pid" >>"$log"
    done
    printf 'start %s %s %s %s %s %s %s\n' "$run" "$att" "$me" "$(now)" \
        "$parent" "$worker" "$secs" >>"$log"
    sleep "$secs" &
    s=$!
    printf 'child %s %s %s %s\n' "$run" "$att" "$me" "$s" >>"$log"
    wait "$s"
    read -r stat <"/proc/$me/stat"
    set -- ${stat##*) }
    printf 'end %s %s %s %s %s\n' "$run" "$att" "$me" "$(now)" "$2" >>"$log"
)
echo "attempt $att of $run done"
