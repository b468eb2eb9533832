#!/usr/bin/env bash
# 0105 (G3): a repeated command_id or idempotency key executes once and is
# answered with the original outcome: same run id, one RunState, one
# execution; a repeated deploy does not bump the generation.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd idem sleep.sh "{secs}" | produce >/dev/null
R=$FLOQ_TEST_TMP/replies.json

# the same command twice, the repeat while the run is active
c1=$(cat /proc/sys/kernel/random/uuid)
{ run_cmd idem '{"secs":"2"}' "{\"command_id\":\"$c1\"}"
  run_cmd idem '{"secs":"2"}' "{\"command_id\":\"$c1\"}"; } | produce >/dev/null
ok "run ends" wait_for 60 has_final "$c1"
# and once more after it ended
run_cmd idem '{"secs":"2"}' "{\"command_id\":\"$c1\"}" | produce >/dev/null
two_finals() { replies_now "$R"; [[ $(finals "$R" "$c1") -ge 2 ]]; }
ok "late repeat answered" wait_for 30 two_finals
ok "one run id for the command" \
    test "$(jq -r --arg id "$c1" 'select(.command_id==$id)|.run_id' "$R" | sort -u | wc -l)" -eq 1
ok "late repeat answered with the outcome (SUCCEEDED)" \
    test "$(jq -r --arg id "$c1" 'select(.command_id==$id and .final)|.status' "$R" | sort -u)" = SUCCEEDED
ok "started once" test "$(jq -r --arg id "$c1" 'select(.command_id==$id and .status=="RUNNING")|.status' "$R" | wc -l)" -eq 1

# the same idempotency key under two command ids; the first run lasts
# until the test opens its gate, so the second use meets it active
gate=$FLOQ_TEST_TMP/gate-open
deploy_cmd gated gate.sh "{file}" | produce >/dev/null
k1=$(run_cmd gated "{\"file\":\"$gate\"}" '{"idempotency_key":"K-1"}' | produce)
ok "keyed run RUNNING" wait_for 30 has_status "$k1" RUNNING
k2=$(run_cmd gated "{\"file\":\"$gate\"}" '{"idempotency_key":"K-1"}' | produce)
ok "second key use answered" wait_for 30 has_final "$k2"
touch "$gate"
ok "first keyed run ends" wait_for 30 has_final "$k1"
k3=$(run_cmd gated "{\"file\":\"$gate\"}" '{"idempotency_key":"K-1"}' | produce)
ok "third key use answered" wait_for 30 has_final "$k3"
replies_now "$R"
rid=$(reply_field "$R" "$k1" ACCEPTED run_id)
ok "second use gets the original run id" test "$(reply_field "$R" "$k2" ACCEPTED run_id)" = "$rid"
ok "second use: final ACCEPTED naming the key" \
    grep -q "idempotency key" <<<"$(reply_field "$R" "$k2" ACCEPTED reason)"
ok "third use gets the original outcome" test "$(statuses "$R" "$k3")" = SUCCEEDED
ok "... and run id" test "$(reply_field "$R" "$k3" SUCCEEDED run_id)" = "$rid"
"$TOOL" runs --latest >"$FLOQ_TEST_TMP/runs.json"
ok "one run per command id or key" test "$(jq -r 'select(.deployment=="idem" or .deployment=="gated")|.run_id' "$FLOQ_TEST_TMP/runs.json" | wc -l)" -eq 2

# a repeated deploy command
d1=$(cat /proc/sys/kernel/random/uuid)
deploy_cmd again ok.sh | jq -c --arg id "$d1" '. + {command_id: $id}' >"$FLOQ_TEST_TMP/dep.json"
produce <"$FLOQ_TEST_TMP/dep.json" >/dev/null
produce <"$FLOQ_TEST_TMP/dep.json" >/dev/null
two_deployed() { replies_now "$R"; [[ $(finals "$R" "$d1") -eq 2 ]]; }
ok "both deploys answered" wait_for 30 two_deployed
ok "both DEPLOYED" test "$(statuses "$R" "$d1")" = "DEPLOYED DEPLOYED"
"$TOOL" deployments --latest >"$FLOQ_TEST_TMP/deps.json"
ok "generation stays 1" test "$(jq -r 'select(.name=="again")|.generation' "$FLOQ_TEST_TMP/deps.json")" = 1

# A schedule command delivered again after a later one changed the
# schedule (a producer's retry, a replayed topic) changes nothing: it is
# answered from the recorded outcome. The same holds for unschedule.
sched_cmd() {
    jq -cn --arg id "$1" --arg cron "$2" '{command_id: $id, deployment: "again",
        body: {ScheduleBody: {schedule_id: "s", cron: $cron, timezone: "UTC"}}}'
}
s1=$(cat /proc/sys/kernel/random/uuid) s2=$(cat /proc/sys/kernel/random/uuid)
u1=$(cat /proc/sys/kernel/random/uuid)
sched_cmd "$s1" '0 1 * * *' >"$FLOQ_TEST_TMP/s1.json"
produce <"$FLOQ_TEST_TMP/s1.json" >/dev/null
ok "first schedule answered" wait_for 30 has_final "$s1"
sched_cmd "$s2" '0 2 * * *' | produce >/dev/null
ok "second schedule answered" wait_for 30 has_final "$s2"
produce <"$FLOQ_TEST_TMP/s1.json" >/dev/null
two_sched() { replies_now "$R"; [[ $(finals "$R" "$s1") -eq 2 ]]; }
ok "repeated schedule answered" wait_for 30 two_sched
ok "both SCHEDULED" test "$(statuses "$R" "$s1")" = "SCHEDULED SCHEDULED"
cron_now() {
    "$TOOL" schedules --latest |
        jq -r 'select(.deployment=="again")|.schedules[]|select(.schedule_id=="s")|.cron'
}
ok "the repeat did not bring the old schedule back" test "$(cron_now)" = "0 2 * * *"
jq -cn --arg id "$u1" '{command_id: $id, deployment: "again",
    body: {UnscheduleBody: {schedule_id: null}}}' >"$FLOQ_TEST_TMP/u1.json"
produce <"$FLOQ_TEST_TMP/u1.json" >/dev/null
ok "unschedule answered" wait_for 30 has_final "$u1"
sched_cmd "$(cat /proc/sys/kernel/random/uuid)" '0 3 * * *' | produce >/dev/null
produce <"$FLOQ_TEST_TMP/u1.json" >/dev/null
two_unsched() { replies_now "$R"; [[ $(finals "$R" "$u1") -eq 2 ]]; }
ok "repeated unschedule answered" wait_for 30 two_unsched
ok "both UNSCHEDULED, same reason" \
    test "$(jq -r --arg id "$u1" 'select(.command_id==$id)|.reason' "$R" | sort -u | wc -l)" -eq 1
ok "the repeat did not remove the newer schedule" test "$(cron_now)" = "0 3 * * *"
finish
