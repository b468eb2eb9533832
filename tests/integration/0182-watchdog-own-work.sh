#!/usr/bin/env bash
# itest: alone: fault timing
# 0182 (G2 without collateral damage): the watchdog self-fences (stops
# every live attempt) only when commits really cannot reach Kafka, never
# because of work the worker chose itself. Here a run is live while a batch
# of three deploys waits on an artifact server that never answers (each
# download bounded by artifact.deploy.timeout.ms, 5 s, together longer
# than the 2/3 of the heartbeat timeout that trips the watchdog). The
# downloads are parked off the loop (worker/offload.c; before issue 9 item
# 5 they blocked it and only a busy mark spared the run): the run must not
# be stopped: one RUNNING, SUCCEEDED at attempt 1, no self-fence in the
# log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
PY=/usr/bin/python3
[[ -x $PY ]] || { echo "  $PY is required"; exit 77; }
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=6000      # the watchdog: 4 s
export FLOQ_WORKER_TRANSACTION_TIMEOUT_MS=15000   # the open batch survives
worker_env
T=$FLOQ_TEST_TMP
slow_http_start

start_worker w1 -X session.timeout.ms=10000 -o artifact.cache.dir="$T/cache"
ok "w1 joins" wait_for 90 worker_assigned w1
deploy_cmd long sleep.sh "{secs}" | produce >/dev/null
run=$(run_cmd long '{"secs":"12"}' | produce)
ok "run RUNNING" wait_for 60 has_status "$run" RUNNING
for i in 1 2 3; do
    jq -cn --arg d "slow$i" --arg u "$URL" --arg s "$sha" --arg spec "$(jq -cn '{executable: "{artifact}"}')" \
        '{deployment: $d, body: {DeployBody: {backend: "process", spec: $spec,
          artifact_url: $u, artifact_sha256: $s}}}'
done | produce >"$T/deploys"
ok "the deploys are answered (REJECTED: no artifact)" wait_for 90 all_final "$T/deploys"
ok "the downloads were parked off the loop" worker_log_has w1 "until its off-loop work is done"
ok "run ends" wait_for 60 has_final "$run"
R=$T/replies.json
replies_now "$R"
ok "no self-fence" eval '! worker_log_has w1 "no transaction committed"'
ok "SUCCEEDED" test "$(statuses "$R" "$run" | awk '{print $NF}')" = SUCCEEDED
ok "at attempt 1, started once" \
    test "$(jq -r --arg id "$run" 'select(.command_id==$id and .status=="RUNNING")|.attempt' "$R" | tr '\n' ' ')" = "1 "
finish
