#!/usr/bin/env bash
# itest: alone: fault timing
# 0141 (G1, G2): "G2 a zombie cannot write after losing its partitions".
# KIP-447: every transaction that writes state of a partition carries that
# partition's offsets with the group metadata, so the group coordinator
# refuses it once another member owns the partition. Before the fix only
# partitions that had consumed a command since their assignment were sent,
# so a worker that took a run over (no command consumed) wrote its
# heartbeats unfenced.
#
# The zombie Z is a static member (group.instance.id) with a long session
# timeout, so that it does not notice on its own that it was replaced: w1
# starts the long run, Z joins and w1 is killed (-9): Z runs the run
# (handed over or taken over: nothing consumed on its partition), Z is
# SIGSTOP'ed, N joins with Z's group.instance.id (the broker hands it Z's
# partitions at once) and takes the run over after the heartbeat timeout;
# Z is woken. No RunState record
# of Z may follow N's takeover.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
SLOT=zslot-$$
start_worker w1
ok "w1 joins" wait_for 90 worker_assigned w1
retry='{"max_attempts":5,"backoff_ms":100,"backoff_multiplier":1.0,"max_backoff_ms":100,"jitter":0.0}'
deploy_cmd z sleep.sh 120 | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r' |
    produce >"$T/ids"
run_cmd z | produce >>"$T/ids"
running_on() { # running_on WORKER: the run is RUNNING on WORKER
    "$TOOL" runs --latest >"$T/runs.json"
    [[ -n $(jq -r --arg w "$1-$$" 'select(.status=="RUNNING" and .worker==$w)|.run_id' "$T/runs.json") ]]
}
ok "the run started on w1" wait_for 60 running_on w1
start_worker Z -o group.instance.id="$SLOT" -X session.timeout.ms=30000 \
    -X heartbeat.interval.ms=3000
ok "Z joins" wait_for 90 worker_log_has Z "assigned"
kill -KILL "${WPID[w1]}"
ok "Z runs the run (handed over or taken over)" wait_for 90 running_on Z
settled() { # the last 4 RunState records (heartbeats) by Z
    "$TOOL" runs >"$T/all.json"
    [[ $(jq -rs --arg w "Z-$$" '.[-4:] | map(select(.worker == $w)) | length' "$T/all.json") -eq 4 ]]
}
ok "Z heartbeats the run" wait_for 30 settled
kill -STOP "${WPID[Z]}"
echo "  Z stopped"
start_worker N -o group.instance.id="$SLOT" -X session.timeout.ms=30000
ok "N takes Z's place" wait_for 60 worker_log_has N "assigned [1-9]"
ok "N takes the run over" wait_for 60 running_on N
kill -CONT "${WPID[Z]}"
echo "  Z woken"
z_gone() { ! worker_alive Z || worker_log_has Z "lost [0-9]* partition\|fatal"; }
ok "Z notices it was replaced" wait_for 60 z_gone
# Whatever Z did after waking must have been refused: read every RunState
# record in order; none of Z may follow N's first.
"$TOOL" runs >"$T/all.json"
late=$(jq -rs --arg z "Z-$$" --arg n "N-$$" '
    (map(.worker == $n) | index(true)) as $i |
    if $i == null then -1 else (.[$i:] | map(select(.worker == $z)) | length) end' "$T/all.json")
ok "no RunState of Z after N's takeover ($late)" test "$late" -eq 0
grep -h "cannot send offsets\|aborting the transaction\|fatal" "$T/Z.log" | tail -3
finish
