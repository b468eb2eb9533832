#!/usr/bin/env bash
# itest: alone: counts heartbeats
# 0500 (G2, issue 13): heartbeats go to attempts that are alive, not to
# runs that only wait in the worker's queue. One worker with one executor
# slot gets three runs of a long job: the first runs (RUNNING) and gets a
# heartbeat record every 500 ms, the other two stay ACCEPTED and queued and
# get none. Before the fix every queued run got one too, so under a
# backlog the heartbeats outnumbered the state changes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v kcat >/dev/null || { echo "  kcat is required"; exit 77; }
export FLOQ_TOPIC_PARTITIONS=1
worker_env
T=$FLOQ_TEST_TMP

start_worker w1 -o worker.concurrency=1
ok "w1 joins" wait_for 90 worker_assigned w1
deploy_cmd slow sleep.sh 300 | produce >/dev/null
ids=$(for i in 1 2 3; do run_cmd slow; done | produce)
first=$(head -1 <<<"$ids")
ok "the first run is RUNNING" wait_for 60 has_status "$first" RUNNING
accepted() {
    replies_now "$T/replies.json"
    local c
    for c in $ids; do
        [[ -n $(reply_field "$T/replies.json" "$c" ACCEPTED run_id) ]] || return 1
    done
}
ok "all three ACCEPTED" wait_for 30 accepted
rid() { reply_field "$T/replies.json" "$1" ACCEPTED run_id; }
r1=$(rid "$first")

records() {
    kcat -b "$FLOQ_BROKERS" -C -t "$FLOQ_TOPIC_RUNS" -e -q -f '%k\n' 2>/dev/null >"$T/keys"
}
six_beats() { records; (( $(grep -c "^$r1:hb\$" "$T/keys") >= 6 )); }
ok "the running attempt has six heartbeats (every 500 ms)" wait_for 60 six_beats
for c in $(tail -n +2 <<<"$ids"); do
    r=$(rid "$c")
    n=$(grep -c "^$r:hb\$" "$T/keys")
    ok "queued run $r has no heartbeat record ($n)" test "$n" -eq 0
done
ok "w1 still runs only the first" test -z "$(jq -r --arg c "$(sed -n 2p <<<"$ids")" \
    'select(.command_id == $c and .status == "RUNNING") | .status' "$T/replies.json")"
finish
