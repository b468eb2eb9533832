#!/usr/bin/env bash
# 0115 (G1): a transaction that cannot commit (its reply topic was deleted
# after the worker had seen it) is aborted; the worker restores its state,
# rewinds to the committed offsets and processes the batch again: the
# command naming the missing topic goes to the DLQ and every other command
# of the aborted batch is answered exactly once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
custom="$FLOQ_TEST_NS.custom"
start_worker w1 -o worker.reply.topics.allowed="$custom"
ok "worker joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
ok "custom reply topic created" "$TOOL" create-topic --key "$custom"
deploy_cmd ab ok.sh "{x}" | produce >/dev/null
first=$(run_cmd ab '{"x":"1"}' "{\"reply_to\":\"$custom\"}" | produce)
custom_final() {
    FLOQ_TOPIC_REPLIES=$custom "$TOOL" replies >"$T/custom.json"
    [[ $(finals "$T/custom.json" "$first") -eq 1 ]]
}
ok "reply on the custom topic" wait_for 60 custom_final
ok "custom topic deleted" "$TOOL" delete-topic --key "$custom"
{ run_cmd ab '{"x":"2"}' "{\"reply_to\":\"$custom\"}"
  run_cmd ab '{"x":"3"}'; } | produce >"$T/ids"
second=$(sed -n 1p "$T/ids")
third=$(sed -n 2p "$T/ids")
ok "the other command is answered" wait_for 120 has_final "$third"
R=$T/replies.json
replies_now "$R"
ok "... exactly once" test "$(finals "$R" "$third")" -eq 1
ok "... SUCCEEDED" test "$(statuses "$R" "$third")" = "ACCEPTED RUNNING SUCCEEDED"
in_dlq() { "$TOOL" dlq | grep -q "$custom"; }
ok "the command for the deleted topic is in the DLQ" wait_for 60 in_dlq
ok "the transaction was aborted" worker_log_has w1 "aborting the transaction"
"$TOOL" runs --latest >"$T/runs.json"
ok "no run left over from the aborted batch" \
    test "$(jq -r 'select(.deployment=="ab")|.run_id' "$T/runs.json" | wc -l)" -eq 2
finish
