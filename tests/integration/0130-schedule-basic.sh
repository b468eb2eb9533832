#!/usr/bin/env bash
# 0130 (G5): the schedule and unschedule commands. A schedule is answered
# SCHEDULED with the next five fire times (as `floq cron-next` computes
# them); a bad cron expression is REJECTED with the position and reason, a
# bad zone and an unknown deployment are REJECTED; unschedule of one id or
# of all answers UNSCHEDULED; the ScheduleSet shows in `status`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
F="$BIN/floq -b $FLOQ_BROKERS -t 30s"

deploy_cmd nightly ok.sh x | produce >/dev/null
$F schedule nightly --cron '30 2 * * *' --tz America/New_York --json >"$T/s1.json"
ok "schedule answered SCHEDULED" test "$(jq -r .status "$T/s1.json")" = SCHEDULED
ok "five next fire times" test "$(jq '.next_fire_times | length' "$T/s1.json")" -eq 5
first=$(jq -r '.next_fire_times[0]' "$T/s1.json")
want=$($BIN/floq cron-next '30 2 * * *' --tz America/New_York --count 1 | cut -d' ' -f1)
got=$(date -u -d "@$((first / 1000))" +%Y-%m-%dT%H:%M:%SZ)
ok "first fire time is cron-next's ($got)" test "$got" = "$want"

$F schedule nightly --cron '0 1,2,3,61 * * * *' --json >"$T/bad.json"; rc=$?
ok "bad cron exits non-zero" test "$rc" -ne 0
ok "bad cron REJECTED with the position" \
    grep -q 'position 9: value 61 out of range 0-59 for minute' "$T/bad.json"
$F schedule nightly --cron '0 2 * * *' --tz Mars/Olympus --json >"$T/badtz.json"
ok "bad zone REJECTED" grep -q 'invalid time zone' "$T/badtz.json"
$F schedule nosuch --cron '0 2 * * *' --json >"$T/nodep.json"
ok "unknown deployment REJECTED" grep -q "unknown deployment 'nosuch'" "$T/nodep.json"

$F schedule nightly --id weekend --cron '0 9 * * SAT,SUN' --tz Europe/London \
    --catchup latest --overlap skip --json >"$T/s2.json"
ok "second schedule SCHEDULED" test "$(jq -r .status "$T/s2.json")" = SCHEDULED
$F status nightly --json >"$T/st.json"
ok "status shows both schedules" \
    test "$(jq -r '.detail | fromjson | .schedules.schedules | map(.schedule_id) | sort | join(",")' "$T/st.json")" = "default,weekend"
ok "policies stored" \
    test "$(jq -r '.detail | fromjson | .schedules.schedules[] | select(.schedule_id=="weekend") | "\(.catchup) \(.overlap) \(.timezone)"' "$T/st.json")" = "LATEST SKIP Europe/London"
$F unschedule nightly --id weekend --json >"$T/u1.json"
ok "unschedule one answered UNSCHEDULED" test "$(jq -r .status "$T/u1.json")" = UNSCHEDULED
$F unschedule nightly --id weekend --json >"$T/u2.json"
ok "unschedule of a missing id REJECTED" grep -q "no schedule 'weekend'" "$T/u2.json"
$F unschedule nightly --json >"$T/u3.json"
ok "unschedule all answered UNSCHEDULED" test "$(jq -r .status "$T/u3.json")" = UNSCHEDULED
ok "one removed" grep -q '1 schedule(s) removed' "$T/u3.json"
$F status nightly --json >"$T/st2.json"
ok "no schedule left" \
    test "$(jq -r '.detail | fromjson | .schedules.schedules | length' "$T/st2.json")" -eq 0
finish
