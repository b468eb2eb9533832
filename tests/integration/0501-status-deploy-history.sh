#!/usr/bin/env bash
# 0501: a `status` of a deployment deployed many times: the detail has the
# deployment (its last generation) without its replay memory
# (recent_commands, up to 1000 outcomes of the last hour), so a status
# costs and weighs the same after 1 deploy as after 40; the memory is still
# there: a repeat of the first deploy's command id is answered with its
# original outcome. Before, every status serialised the whole memory (the
# bench's `status` fell from ~3,000/s to ~1,000/s after 3,000 deploys).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
ok "worker joins and gets partitions" wait_for 60 worker_assigned w1

ids=$FLOQ_TEST_TMP/deploys.txt
deploy_cmd hist ok.sh | produce >"$ids"
st1=$(printf '{"deployment":"hist","body":{"StatusBody":{"run_id":null}}}\n' | produce)
ok "first deploy and status answered" wait_for 60 has_final "$st1"
first=$(head -1 "$ids")
for i in $(seq 2 40); do deploy_cmd hist ok.sh; done | produce >>"$ids"
st40=$(printf '{"deployment":"hist","body":{"StatusBody":{"run_id":null}}}\n' | produce)
rep=$(printf '{"command_id":"%s","deployment":"hist","body":{"DeployBody":{"backend":"process","spec":%s}}}\n' \
    "$first" "$(spec ok.sh)" | produce)
ok "40 deploys, the status and the repeat answered" wait_for 60 has_final "$st40"
wait_for 30 all_final "$ids"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
d1=$(reply_field "$R" "$st1" STATUS detail)
d40=$(reply_field "$R" "$st40" STATUS detail)
ok "status after 40 deploys has generation 40" \
    test "$(jq -r .deployment.generation <<<"$d40")" = 40
ok "status detail has no recent_commands" \
    test "$(jq -r '.deployment | has("recent_commands")' <<<"$d40")" = false
ok "status detail does not grow with the deploys (${#d1} vs ${#d40} bytes)" \
    test "${#d40}" -le $(( ${#d1} + 64 ))
ok "the repeat of the first deploy answered from the memory" \
    test "$(jq -r --arg id "$first" 'select(.command_id == $id and .repeat == true) | .status' "$R" | head -1)" = DEPLOYED
ok "the first deploy's id answered once as new, once as a repeat" \
    test "$(finals "$R" "$first")" -eq 2
finish
