#!/usr/bin/env bash
# 0104: a run longer than its timeout ends TIMED_OUT (the run command's
# timeout_ms overrides the deployment's), killed within the grace.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd slow sleep.sh "{secs}" | produce >/dev/null
run=$(jq -cn '{deployment:"slow",body:{RunBody:{params:{secs:"60"},timeout_ms:1000}}}' | produce)
ok "run ends" wait_for 30 has_final "$run"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
ok "ACCEPTED RUNNING TIMED_OUT" test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING TIMED_OUT"
ok "one final reply" test "$(finals "$R" "$run")" -eq 1
finish
