#!/usr/bin/env bash
# itest: alone: fault timing
# 0116 (G2): a worker that cannot commit (the broker is frozen with
# SIGSTOP) stops its live attempts before its heartbeats could be declared
# missing, so a takeover can never overlap them; once the broker is back the
# attempt is recorded RETRYING (not consumed), restarted and succeeds, with
# one final reply. Needs the broker's pid: runs only when the broker was
# started by ops/kafka/kafka.sh in FLOQ_KAFKA_DIR (default /tmp/floq-kafka)
# and answers on FLOQ_BROKERS, else skips.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
dir=${FLOQ_KAFKA_DIR:-/tmp/floq-kafka}
st=$(ops/kafka/kafka.sh status --dir "$dir" 2>/dev/null | grep '^node 1: up')
bpid=$(awk '{print $5}' <<<"$st")
bport=$(awk '{print $6}' <<<"$st")
if [[ -z $bpid || ",$FLOQ_BROKERS," != *",$bport,"* ]]; then
    echo "  broker of $FLOQ_BROKERS not found in $dir: skipped"; exit 77
fi
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd sf sleep.sh "{secs}" | produce >/dev/null
run=$(run_cmd sf '{"secs":"6"}' | produce)
ok "run RUNNING" wait_for 30 has_status "$run" RUNNING
kill -STOP "$bpid"
thaw() { kill -CONT "$bpid" 2>/dev/null; }
trap 'thaw; cleanup' EXIT
ok "worker stops its attempt while it cannot commit" \
    wait_for 20 worker_log_has w1 "no transaction committed"
thaw
ok "run ends" wait_for 90 has_final "$run"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
ok "SUCCEEDED with attempt 1 (the stopped one did not count)" \
    test "$(reply_field "$R" "$run" SUCCEEDED attempt)" = 1
ok "one final reply" test "$(finals "$R" "$run")" -eq 1
ok "started twice" test "$(jq -r --arg id "$run" 'select(.command_id==$id and .status=="RUNNING")|.status' "$R" | wc -l)" -eq 2

# Frozen for longer than the transaction and session timeouts: the
# coordinator times the open transaction out (the producer is fenced and
# replaced), the group drops the member (the partitions are lost and come
# back), the run is taken over from Kafka's state; still one final reply.
retry='{"max_attempts":3,"backoff_ms":100,"backoff_multiplier":1.0,"max_backoff_ms":100,"jitter":0.0}'
deploy_cmd sf2 sleep.sh "{secs}" | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r' | produce >/dev/null
run2=$(run_cmd sf2 '{"secs":"6"}' | produce)
ok "second run RUNNING" wait_for 30 has_status "$run2" RUNNING
n0=$(grep -c "Timed out" "$FLOQ_TEST_TMP/w1.log")
kill -STOP "$bpid"
# frozen until the worker has seen three request timeouts (each takes
# seconds): well past the 6 s transaction and session timeouts
timeouts_seen() { (( $(grep -c "Timed out" "$FLOQ_TEST_TMP/w1.log") >= n0 + 3 )); }
ok "the worker sees its requests time out" wait_for 60 timeouts_seen
thaw
ok "second run ends" wait_for 120 has_final "$run2"
replies_now "$R"
ok "SUCCEEDED" test "$(statuses "$R" "$run2" | awk '{print $NF}')" = SUCCEEDED
ok "one final reply" test "$(finals "$R" "$run2")" -eq 1
ok "worker still serving" worker_alive w1
finish
