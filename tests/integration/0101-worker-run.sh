#!/usr/bin/env bash
# 0101: deploy + run on one worker: DEPLOYED, then ACCEPTED (with run id
# and URL), RUNNING, SUCCEEDED in that order, exactly one final reply per
# command, and the RunState ends SUCCEEDED with the output tail.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1 -o worker.run.url.template='http://ui/{deployment}/{run_id}'
ok "worker joins and gets partitions" wait_for 60 worker_assigned w1

dep=$(deploy_cmd hello ok.sh "{who}" | produce)
run=$(run_cmd hello '{"who":"world"}' | produce)
ok "run gets a final reply" wait_for 60 has_final "$run"
R=$FLOQ_TEST_TMP/replies.json
replies_now "$R"
ok "deploy answered DEPLOYED once" test "$(statuses "$R" "$dep")" = DEPLOYED
ok "run answered ACCEPTED RUNNING SUCCEEDED" \
    test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING SUCCEEDED"
ok "exactly one final reply" test "$(finals "$R" "$run")" -eq 1
rid=$(reply_field "$R" "$run" ACCEPTED run_id)
is_uuid() { [[ $1 =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; }
ok "run id is a UUID" is_uuid "$rid"
ok "URL from the template" test "$(reply_field "$R" "$run" ACCEPTED url)" = "http://ui/hello/$rid"
ok "output tail in the final reply" \
    test "$(reply_field "$R" "$run" SUCCEEDED output_tail)" = "ok world"
ok "exit code 0" test "$(reply_field "$R" "$run" SUCCEEDED exit_code)" = 0
"$TOOL" runs --latest >"$FLOQ_TEST_TMP/runs.json"
ok "RunState SUCCEEDED" test "$(jq -r --arg r "$rid" 'select(.run_id==$r)|.status' "$FLOQ_TEST_TMP/runs.json")" = SUCCEEDED

# status of the deployment and of the run
st1=$(printf '{"deployment":"hello","body":{"StatusBody":{"run_id":null}}}\n' | produce)
st2=$(printf '{"deployment":"hello","body":{"StatusBody":{"run_id":"%s"}}}\n' "$rid" | produce)
ok "status commands answered" wait_for 30 has_final "$st2"
wait_for 30 has_final "$st1"
replies_now "$R"
ok "deployment status has the deployment" \
    test "$(reply_field "$R" "$st1" STATUS detail | jq -r .deployment.generation)" = 1
ok "run status has the run" \
    test "$(reply_field "$R" "$st2" STATUS detail | jq -r .run.status)" = SUCCEEDED
finish
