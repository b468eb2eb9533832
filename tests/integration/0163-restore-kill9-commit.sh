#!/usr/bin/env bash
# itest: alone: fault timing
# 0163 (G1, G2): kill -9 right at a run's end, the kill -9 version of 0160.
# Four rounds: the owner of the one partition runs a job and is killed
# with SIGKILL, in odd rounds the moment it logs the run SUCCEEDED (its
# transaction with the terminal RunState, the final reply and the
# consumed offsets is then open or committing), in even rounds the moment
# that final reply is committed (right after the commit, markers maybe
# still in flight to the other partitions); the next worker
# takes the partition over, waiting for that transaction to commit or to
# be aborted by the coordinator (committed offsets and last stable offset,
# see 0160) before it restores. Each run command gets exactly one final
# reply; one that ended SUCCEEDED ran once (the job records every
# execution) and was not also declared LOST; no earlier command is
# answered again (the commands partition is not re-read from the start).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=1
worker_env
T=$FLOQ_TEST_TMP
: >"$T/executions"

start_worker w0
ok "w0 joins" wait_for 90 worker_assigned w0
deploy_cmd rec record.sh "{file}" "{tag}" "{secs}" | produce >/dev/null
prev=w0
for round in 1 2 3 4; do
    run_cmd rec "{\"file\":\"$T/executions\",\"tag\":\"r$round\",\"secs\":\"1\"}" | produce >>"$T/ids"
    ended() { worker_log_has "$prev" "ended SUCCEEDED"; }
    if (( round % 2 )); then
        ok "round $round: $prev ends the run" wait_for 90 ended
    else
        ok "round $round: $prev commits the run's end" wait_for 90 has_final "$(tail -1 "$T/ids")"
    fi
    kill -KILL "${WPID[$prev]}"
    next=w$round
    start_worker "$next"
    ok "round $round: $next takes the partition" wait_for 90 worker_assigned "$next"
    ok "round $round: the run is answered" wait_for 90 has_final "$(tail -1 "$T/ids")"
    prev=$next
done
assert_one_final "$T/ids"
R=$T/replies.json
bad=0
round=0
while read -r id; do
    round=$((round + 1))
    st=$(jq -r --arg id "$id" 'select(.command_id==$id and .final)|.status' "$R")
    n=$(grep -c "^r$round\$" "$T/executions")
    echo "  round $round: $st, executed $n time(s)"
    [[ $st == SUCCEEDED && $n -ne 1 ]] && bad=$((bad + 1))
    [[ $st != SUCCEEDED && $st != LOST ]] && bad=$((bad + 1))
    (( round % 2 == 0 )) && [[ $st != SUCCEEDED ]] && bad=$((bad + 1))
done <"$T/ids"
ok "a SUCCEEDED run ran once, a committed end stays SUCCEEDED, the others are LOST" test "$bad" -eq 0
deployed=$(jq -r 'select(.status=="DEPLOYED")|.command_id' "$R" | wc -l)
ok "the deploy is answered once (no re-read from offset 0)" test "$deployed" -eq 1
finish
