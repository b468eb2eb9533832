#!/usr/bin/env bash
# 0110: a command on a partition other than its deployment's home
# partition (a producer with another partitioner) is forwarded to the home
# partition inside the transaction and processed there, once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1
home=$("$TOOL" partition --key fwd)
other=$(( (home + 1) % FLOQ_TOPIC_PARTITIONS ))
dep=$(deploy_cmd fwd ok.sh "{x}" | produce --partition "$other")
run=$(run_cmd fwd '{"x":"y"}' | produce --partition "$other")
ok "deploy answered" wait_for 60 has_final "$dep"
ok "run answered" wait_for 60 has_final "$run"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
ok "DEPLOYED" test "$(statuses "$R" "$dep")" = DEPLOYED
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING SUCCEEDED"
ok "forwarded to partition $home" worker_log_has w1 "$run: forwarded from partition $other to its home partition $home"
"$TOOL" runs --latest >"$FLOQ_TEST_TMP/runs.json"
ok "one run" test "$(wc -l <"$FLOQ_TEST_TMP/runs.json")" -eq 1
finish
