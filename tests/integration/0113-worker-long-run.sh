#!/usr/bin/env bash
# 0113: a run longer than max.poll.interval.ms completes without the worker
# leaving the group: the loop never blocks on a run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1 -X max.poll.interval.ms=7000
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd lr sleep.sh "{secs}" | produce >/dev/null
run=$(run_cmd lr '{"secs":"12"}' | produce)
ok "run ends" wait_for 60 has_final "$run"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING SUCCEEDED"
ok "never revoked" bash -c "! grep -q -e revoked -e 'lost [0-9]' -e 'maximum poll interval' '$FLOQ_TEST_TMP/w1.log'"
ok "assigned once" test "$(grep -c 'assigned [1-9]' "$FLOQ_TEST_TMP/w1.log")" -eq 1
finish
