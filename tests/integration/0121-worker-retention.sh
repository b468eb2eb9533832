#!/usr/bin/env bash
# itest: alone: a time bound
# 0121: retention of finished runs. With worker.run.retention.ms set, a
# finished run's RunState is tombstoned once it is older than that (memory
# and the compacted runs topic stay bounded), a worker restarted afterwards
# does not restore it, and a repeat of its command, issued before the
# window, is REJECTED (and sent to the DLQ) instead of running again: G3
# holds across retention. A fresh command still runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
RET=10000   # well above a loaded machine's delay from issue to decision
start_worker w1 -o worker.run.retention.ms=$RET
ok "worker joins" wait_for 60 worker_assigned w1
R=$FLOQ_TEST_TMP/replies.json

deploy_cmd kept ok.sh "{who}" | produce >/dev/null
c1=$(cat /proc/sys/kernel/random/uuid)
run_cmd kept '{"who":"once"}' \
    "{\"command_id\":\"$c1\",\"issued_at\":$(date +%s%3N)}" >"$FLOQ_TEST_TMP/c1.json"
produce <"$FLOQ_TEST_TMP/c1.json" >/dev/null
ok "run ends" wait_for 60 has_final "$c1"
replies_now "$R"
rid=$(reply_field "$R" "$c1" SUCCEEDED run_id)
ok "run SUCCEEDED with a run id" test -n "$rid"
"$TOOL" runs >"$FLOQ_TEST_TMP/runs.json"   # every version, not just the latest
ok "its RunState is on the runs topic" grep -q "\"run_id\":\"$rid\"" "$FLOQ_TEST_TMP/runs.json"

run_gone() {
    "$TOOL" runs --latest >"$FLOQ_TEST_TMP/runs.json" &&
        ! grep -q "\"run_id\":\"$rid\"" "$FLOQ_TEST_TMP/runs.json"
}
ok "the finished run is tombstoned after the retention time" wait_for 60 run_gone
ok "the worker logs the removal" worker_log_has w1 "retention: 1 finished run"

# the same command again: issued before the window, so never run twice
produce <"$FLOQ_TEST_TMP/c1.json" >/dev/null
two_finals() { replies_now "$R"; [[ $(finals "$R" "$c1") -ge 2 ]]; }
ok "the repeat is answered" wait_for 30 two_finals
ok "... REJECTED, naming retention" \
    grep -q "worker.run.retention.ms" <<<"$(reply_field "$R" "$c1" REJECTED reason)"
ok "... and started nothing" \
    test "$(jq -r --arg id "$c1" 'select(.command_id==$id and .status=="RUNNING")|.status' "$R" | wc -l)" -eq 1
in_dlq() { "$TOOL" dlq --count 1 --timeout-ms 5000 | grep -q 'retention'; }
ok "... and is in the DLQ" wait_for 30 in_dlq

# a fresh command runs; a restarted worker restores no expired run
c2=$(run_cmd kept '{"who":"again"}' | produce)
ok "a fresh run still runs" wait_for 60 has_final "$c2"
replies_now "$R"
ok "... SUCCEEDED" test "$(statuses "$R" "$c2")" = "ACCEPTED RUNNING SUCCEEDED"
kill -TERM "${WPID[w1]}"
w1_gone() { ! worker_alive w1; }
ok "first worker drains and exits" wait_for 60 w1_gone
start_worker w2 -o worker.run.retention.ms=$RET
ok "second worker joins" wait_for 60 worker_assigned w2
st=$(printf '{"deployment":"kept","body":{"StatusBody":{"run_id":"%s"}}}\n' "$rid" | produce)
ok "status of the removed run answered" wait_for 30 has_final "$st"
replies_now "$R"
ok "... the run is unknown after a restart" test "$(statuses "$R" "$st")" = REJECTED
finish
