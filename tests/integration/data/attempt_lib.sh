# attempt_lib.sh - G1 and G2 accounting for fault tests whose jobs are
# data/attempt.sh (a shell script with children, no exec, that logs every
# execution of itself), sourced after lib.sh and worker_lib.sh. Used by
# 0190 (kill loop with a zombie, a broker outage and a drain) and 0112.
#
# Setup: ATTEMPT_LOG is the job log, $T the test's scratch directory;
# attempt_deploy writes deploy commands, attempt_note_worker remembers which
# worker name a pid was. At the end, attempt_accounting IDS_FILE asserts:
#   finals     every command of IDS_FILE has exactly one final reply
#              (read_committed), none is missing, every final is SUCCEEDED
#   overlaps   no two executions of one run alive at once: neither seen by
#              the job's own probe (an "alive" line) nor in the monotonic
#              start/end times of two executions that both ended
#   escaped    no execution ended as an orphan (its script died under it:
#              it outlived its attempt)
#   survivors  no process with the FLOQ_RUN_ID of one of the runs is alive
#              once every run has its final reply (an execution without an
#              end line must have been killed)
# and prints a summary line and, for each failure, the evidence (replies,
# executions, the workers' log lines that mention the run).

ATTEMPT_LOG=${ATTEMPT_LOG:-$FLOQ_TEST_TMP/attempts.log}

# attempt_deploy NAME [RETRY_JSON]: a deploy command line for attempt.sh
# writing to $ATTEMPT_LOG, sleeping the run's "secs" param.
attempt_deploy() {
    if [[ -n ${2:-} ]]; then
        deploy_cmd "$1" attempt.sh "$ATTEMPT_LOG" "{secs}" |
            jq -c --argjson r "$2" '.body.DeployBody.retry = $r'
    else
        deploy_cmd "$1" attempt.sh "$ATTEMPT_LOG" "{secs}"
    fi
}

# attempt_note_worker NAME: remember WPID[NAME] as NAME (for the evidence).
attempt_note_worker() { echo "${WPID[$1]} $1" >>"$T/workers.map"; }

# attempt_live_on PID [MIN_SECS]: an execution started by worker process
# PID (with SECS >= MIN_SECS) has no end line yet and still runs.
attempt_live_on() {
    local run pid
    while read -r run pid; do
        attempt_pid_of_run "$pid" "$run" && return 0
    done < <(awk -v w="$1" -v m="${2:-0}" '
        $1 == "start" && $7 == w && $8 >= m { s[$2 " " $4] = 1 }
        $1 == "end" { delete s[$2 " " $4] }
        END { for (k in s) print k }' "$ATTEMPT_LOG" 2>/dev/null)
    return 1
}

# attempt_started_elsewhere PID: a run that an execution on worker process
# PID started has since been started again by another worker process.
attempt_started_elsewhere() {
    awk -v w="$1" '
        $1 == "start" && $7 == w { on[$2] = 1; next }
        $1 == "start" && ($2 in on) { found = 1; exit }
        END { exit !found }' "$ATTEMPT_LOG" 2>/dev/null
}

# attempt_pid_of_run PID RUN: PID is alive (not a zombie) with RUN's
# FLOQ_RUN_ID in its environment (pid numbers are reused quickly).
attempt_pid_of_run() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]] || return 1
    grep -qsxz -F "FLOQ_RUN_ID=$2" "/proc/$1/environ"
}

# attempt_of_ids IDS_FILE: the lines of stdin whose first field is one of
# IDS_FILE's lines.
attempt_of_ids() { awk 'NR == FNR { want[$1]; next } ($1 in want)' "$1" -; }

# attempt_survivors RUNS_FILE OUT: processes alive whose FLOQ_RUN_ID is one
# of RUNS_FILE's, as "pid run cmdline" lines in OUT; true if none.
attempt_survivors() {
    local f pid run
    : >"$2"
    sed 's/^/FLOQ_RUN_ID=/' "$1" >"$2.pat"
    for f in $(grep -lsxz -F -f "$2.pat" /proc/[0-9]*/environ); do
        pid=${f#/proc/}
        pid=${pid%/environ}
        run=$(tr '\0' '\n' <"$f" 2>/dev/null | sed -n 's/^FLOQ_RUN_ID=//p')
        [[ -n $run ]] && attempt_pid_of_run "$pid" "$run" || continue
        echo "$pid $run $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >>"$2"
    done
    [[ ! -s $2 ]]
}

# attempt_worker_name PID: the worker name noted for PID, else "pid PID".
attempt_worker_name() {
    awk -v p="$1" '$1 == p { n = $2 } END { print (n ? n : "pid " p) }' "$T/workers.map" 2>/dev/null
}

# attempt_evidence_run RUN: the run's executions, its replies and the lines
# of every worker log that mention it.
attempt_evidence_run() {
    local run=$1 l w
    echo "    run $run:"
    while read -r l; do
        set -- $l
        if [[ $1 == start ]]; then
            w=$(attempt_worker_name "$7")
            echo "      job: $l   [worker $w]"
        else
            echo "      job: $l"
        fi
    done < <(grep -E "^[a-z]+ $run " "$ATTEMPT_LOG")
    jq -c --arg r "$run" 'select(.run_id == $r) |
        {status, final, attempt, worker, produced_at, reason}' "$T/replies.json" |
        sed 's/^/      reply: /'
    grep -H -F -- "$run" "$T"/w[0-9]*.log 2>/dev/null | sed "s|^$T/|      log: |" | head -30
}

# attempt_accounting IDS_FILE: the G1/G2 accounting described above.
attempt_accounting() {
    local ids=$1 R=$T/replies.json A=$ATTEMPT_LOG
    local dup missing notok overlaps_probe overlaps_time escaped survivors
    local runs executions unended
    replies_now "$R"
    jq -r 'select(.final)|.command_id' "$R" | sort >"$T/finals"
    uniq -d "$T/finals" | attempt_of_ids "$ids" >"$T/dup.ids"
    sort -u "$ids" | awk 'NR == FNR { got[$1]; next } !($1 in got)' "$T/finals" - >"$T/missing.ids"
    jq -r 'select(.final and .status != "SUCCEEDED") | "\(.command_id) \(.status)"' "$R" |
        sort -u | attempt_of_ids "$ids" >"$T/notok.ids"
    # the runs of our commands: run ids from their replies
    jq -r 'select(.run_id != null) | "\(.command_id) \(.run_id)"' "$R" |
        attempt_of_ids "$ids" | awk '{ print $2 }' | sort -u >"$T/runs.ids"
    # executions of the job log, keyed by run and pid
    awk '$1 == "alive" { print }' "$A" >"$T/overlap.probe"
    awk '
        $1 == "start" { k = $2 " " $4; st[k] = $5; run[k] = $2; keys[++n] = k }
        $1 == "end"   { en[$2 " " $4] = $5 }
        END {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) {
                a = keys[i]; b = keys[j]
                if (run[a] != run[b] || !(a in en) || !(b in en)) continue
                if (st[a] < en[b] && st[b] < en[a])
                    print "overlap " a " [" st[a] "," en[a] "] " b " [" st[b] "," en[b] "]"
            }
        }' "$A" >"$T/overlap.time"
    awk '$1 == "start" { par[$2 " " $4] = $6 }
         $1 == "end" && $6 != par[$2 " " $4] { print }' "$A" >"$T/escaped"
    awk '$1 == "start" { s[$2 " " $4] = 1 } $1 == "end" { delete s[$2 " " $4] }
         END { for (k in s) print k }' "$A" >"$T/unended"
    # a final reply is in for every run: give processes a few seconds to be
    # reaped, then whatever still runs with a run's id is a survivor
    awk '$1 == "start" { print $2 }' "$A" | sort -u | cat - "$T/runs.ids" | sort -u >"$T/all.runs"
    wait_for 10 attempt_survivors "$T/all.runs" "$T/survivors" || true
    runs=$(wc -l <"$T/runs.ids")
    executions=$(grep -c '^start ' "$A")
    dup=$(wc -l <"$T/dup.ids") missing=$(wc -l <"$T/missing.ids")
    notok=$(wc -l <"$T/notok.ids")
    overlaps_probe=$(awk '{ print $2, $4 }' "$T/overlap.probe" | sort -u | wc -l) overlaps_time=$(wc -l <"$T/overlap.time")
    escaped=$(wc -l <"$T/escaped") survivors=$(wc -l <"$T/survivors")
    unended=$(wc -l <"$T/unended")
    echo "  summary: commands $(sort -u "$ids" | wc -l), runs $runs, executions $executions" \
        "(unended $unended), finals $(attempt_of_ids "$ids" <"$T/finals" | wc -l)," \
        "duplicates $dup, lost $missing, not SUCCEEDED $notok," \
        "overlaps $overlaps_probe (probe) $overlaps_time (times), escaped $escaped," \
        "survivors $survivors"
    ok "zero duplicate final replies ($dup)" test "$dup" -eq 0
    ok "zero lost: every command has a final reply ($missing missing)" test "$missing" -eq 0
    ok "every final reply is SUCCEEDED ($notok are not)" test "$notok" -eq 0
    ok "no two executions of one run alive at once ($overlaps_probe seen by the job, $overlaps_time in the times)" \
        test $((overlaps_probe + overlaps_time)) -eq 0
    ok "no execution outlived its script ($escaped orphaned)" test "$escaped" -eq 0
    ok "no job process survives its run ($survivors alive)" test "$survivors" -eq 0
    attempt_report
}

# attempt_overlap_fates: for each "alive" probe line, the execution the
# live process belonged to, its worker and how it ended: "orphaned" (its
# script died under it, so its worker had died: the tree outlived it),
# "ended" (a normal end: its worker was alive but not heartbeating, e.g.
# stopped) or "killed" (no end line).
attempt_overlap_fates() {
    awk '
        $1 == "start" { k = $2 " " $4; w[k] = $7; par[k] = $6; secs[k] = $8
                        own[k] = k; own[$2 " " $6] = k }
        $1 == "child" { own[$2 " " $5] = $2 " " $4 }
        $1 == "end"   { en[$2 " " $4] = $6 }
        $1 == "alive" { probe[++n] = $2 " " $5; by[n] = $4; att[n] = $3 }
        END {
            for (i = 1; i <= n; i++) {
                k = own[probe[i]]
                if (k == "" || seen[k "/" by[i]]++) continue
                split(k, a, " ")
                fate = !(k in en) ? "killed" : (en[k] == par[k] ? "ended" : "orphaned")
                print "run " a[1] ": execution " a[2] " (" secs[k] " s, worker pid " w[k] ") " fate \
                    ", alive when attempt " att[i] " started (pid " by[i] ")"
            }
        }' "$ATTEMPT_LOG"
}

# attempt_report: the evidence behind each failure of attempt_accounting
# (a few examples of each kind).
attempt_report() {
    local id run l
    if [[ -s $T/dup.ids ]]; then
        echo "  -- duplicate final replies:"
        head -5 "$T/dup.ids" | while read -r id; do
            echo "    command $id:"
            jq -c --arg id "$id" 'select(.command_id == $id) |
                {status, final, run_id, attempt, worker, produced_at}' "$T/replies.json" | sed 's/^/      /'
            run=$(jq -r --arg id "$id" 'select(.command_id == $id and .run_id != null) | .run_id' "$T/replies.json" | head -1)
            [[ -n $run ]] && attempt_evidence_run "$run"
        done
    fi
    if [[ -s $T/missing.ids ]]; then
        echo "  -- commands without a final reply:"
        head -5 "$T/missing.ids" | while read -r id; do
            echo "    command $id: $(statuses "$T/replies.json" "$id")"
            run=$(jq -r --arg id "$id" 'select(.command_id == $id and .run_id != null) | .run_id' "$T/replies.json" | head -1)
            [[ -n $run ]] && attempt_evidence_run "$run"
        done
    fi
    if [[ -s $T/notok.ids ]]; then
        echo "  -- final replies other than SUCCEEDED:"
        head -5 "$T/notok.ids" | sed 's/^/    /'
    fi
    if [[ -s $T/overlap.probe || -s $T/overlap.time ]]; then
        echo "  -- two executions of one run alive at once (the older one's fate):"
        attempt_overlap_fates | sed 's/^/    /'
        { awk '{ print $2 }' "$T/overlap.probe"; awk '{ print $2 }' "$T/overlap.time"; } |
            sort -u | head -5 | while read -r run; do attempt_evidence_run "$run"; done
    fi
    if [[ -s $T/escaped ]]; then
        echo "  -- executions orphaned (their script died, they ran on):"
        head -3 "$T/escaped" | while read -r l; do
            set -- $l
            attempt_evidence_run "$2"
        done
    fi
    if [[ -s $T/survivors ]]; then
        echo "  -- job processes alive after every final reply (killed now):"
        sed 's/^/    /' "$T/survivors" | head -10
        while read -r l; do
            set -- $l
            attempt_pid_of_run "$1" "$2" && kill -KILL "$1" 2>/dev/null
        done <"$T/survivors"
    fi
    return 0
}
