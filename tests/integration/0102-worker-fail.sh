#!/usr/bin/env bash
# 0102: a run whose process exits non-zero ends FAILED with the exit code
# and the tail of its output (stdout and stderr) in the final reply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd bad fail.sh "{code}" | produce >/dev/null
run=$(run_cmd bad '{"code":"7"}' | produce)
ok "run gets a final reply" wait_for 60 has_final "$run"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
ok "ACCEPTED RUNNING FAILED" test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING FAILED"
ok "exit code 7" test "$(reply_field "$R" "$run" FAILED exit_code)" = 7
tail=$(reply_field "$R" "$run" FAILED output_tail)
ok "stdout in the tail" grep -q "about to fail" <<<"$tail"
ok "stderr in the tail" grep -q "failing on purpose" <<<"$tail"
ok "one final reply" test "$(finals "$R" "$run")" -eq 1
finish
