#!/usr/bin/env bash
# itest: alone: counts heartbeats
# 0161 (G2): heartbeats do not rewrite a run. A run with 100 kB of params
# runs for a while: its full RunState is written twice (ACCEPTED,
# RUNNING), every heartbeat is a small record of its own key
# ("<run_id>:hb", heartbeat_only), so the runs topic grows by well under
# 1 kB a heartbeat instead of the params each time. Then the worker is
# killed with SIGKILL and a new one restores: it applies the heartbeat
# records (the stale heartbeat it acts on is the last heartbeat, not the
# RUNNING record's) and ends the run LOST, once. Before the fix every
# heartbeat rewrote the whole RunState.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v kcat >/dev/null || { echo "  kcat is required"; exit 77; }
export FLOQ_TOPIC_PARTITIONS=1
worker_env
T=$FLOQ_TEST_TMP

start_worker w1
ok "w1 joins" wait_for 90 worker_assigned w1
deploy_cmd slow sleep.sh "{secs}" | produce >/dev/null
blob=$(head -c 100000 /dev/zero | tr '\0' x)
c=$(run_cmd slow "{\"secs\":\"300\",\"blob\":\"$blob\"}" | produce)
ok "the run is RUNNING" wait_for 60 has_status "$c" RUNNING
replies_now "$T/replies.json"
rid=$(reply_field "$T/replies.json" "$c" RUNNING run_id)

# key TAB value size of every committed record on the runs topic
records() {
    kcat -b "$FLOQ_BROKERS" -C -t "$FLOQ_TOPIC_RUNS" -e -q -f '%k\t%S\n' 2>/dev/null >"$T/runs.tsv"
}
heartbeats() { records; (( $(grep -c "^$rid:hb" "$T/runs.tsv") >= 8 )); }
ok "eight heartbeats written (every 500 ms)" wait_for 60 heartbeats
full=$(awk -F'\t' -v k="$rid" '$1 == k' "$T/runs.tsv" | wc -l)
ok "the run's full state written twice ($full): ACCEPTED, RUNNING" test "$full" -eq 2
big=$(awk -F'\t' -v k="$rid:hb" '$1 == k && $2 >= 1024' "$T/runs.tsv" | wc -l)
ok "every heartbeat record is under 1 kB" test "$big" -eq 0
bytes=$(awk -F'\t' '{s += $2} END {print s}' "$T/runs.tsv")
ok "the runs topic holds the params twice, not once a heartbeat ($bytes bytes)" \
    test "$bytes" -lt 300000

"$TOOL" runs --latest >"$T/runs.json"
started=$(jq -r --arg r "$rid" 'select(.run_id==$r)|.started_at' "$T/runs.json")
kill -KILL "${WPID[w1]}"
start_worker w2
took_over() { worker_log_has w2 "run $rid (attempt 1): worker w1-$$ lost"; }
ok "w2 takes the run over" wait_for 90 took_over
# "<ts> ... no heartbeat for X ms": the last heartbeat w2 knew of
line=$(grep "run $rid (attempt 1): worker w1-$$ lost" "$T/w2.log" | head -1)
ts=$(date -d "$(cut -d' ' -f1 <<<"$line")" +%s%3N)
x=$(sed -n 's/.*no heartbeat for \([0-9]*\) ms.*/\1/p' <<<"$line")
ok "w2 restored the last heartbeat, not the RUNNING record's ($((ts - x - started)) ms after start)" \
    test $((ts - x - started)) -ge 2500
ok "the run is answered once" wait_for 60 has_final "$c"
replies_now "$T/replies.json"
ok "... LOST" test "$(statuses "$T/replies.json" "$c")" = "ACCEPTED RUNNING LOST"
finish
