#!/usr/bin/env bash
# itest: alone: schedule timing
# 0131 (G5): a schedule firing every second (`* * * * * *`, catch-up all) for
# about a minute on three workers; the worker owning the schedule is
# SIGKILLed in the middle and restarted. Every due second of the window has
# exactly one run (RunState.scheduled_for forms a gapless sequence of
# seconds, no duplicates), and each of them has exactly one final reply
# keyed by its derived command id.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/schedule_lib.sh"
worker_env
start_worker w1
start_worker w2
start_worker w3
ok "w1 joins" wait_for 90 worker_assigned w1
ok "w2 joins" wait_for 90 worker_assigned w2
ok "w3 joins" wait_for 90 worker_assigned w3
T=$FLOQ_TEST_TMP
deploy_cmd tick ok.sh tick | produce >/dev/null
sched "$T/s.json" tick --cron '* * * * * *' --catchup all --catchup-max 1000
ok "SCHEDULED" test "$(jq -r .status "$T/s.json")" = SCHEDULED
first_due=$(jq -r '.next_fire_times[0]' "$T/s.json")

ok "runs start" wait_for 30 sched_count tick 10
owner=
for n in w1 w2 w3; do worker_log_has "$n" "'tick'/'default' due" && owner=$n; done
ok "the owner is known ($owner)" test -n "$owner"
kill -KILL "${WPID[$owner]}"
echo "  killed $owner at $(now_ms)"
start_worker "$owner"
ok "$owner restarted" wait_for 60 worker_assigned "$owner"
ok "60 due times fired" wait_for 120 sched_count tick 60
"$BIN/floq" -b "$FLOQ_BROKERS" -t 30s unschedule tick --json >"$T/u.json"
ok "UNSCHEDULED" test "$(jq -r .status "$T/u.json")" = UNSCHEDULED
ok "every run ended" wait_for 60 sched_all_terminal tick

sched_runs tick "$T/runs.json"
jq -r .scheduled_for "$T/runs.json" | sort -n >"$T/due"
n=$(wc -l <"$T/due")
lo=$(head -1 "$T/due"); hi=$(tail -1 "$T/due")
echo "  $n runs, due $lo .. $hi"
ok "no due time fired twice" test -z "$(uniq -d "$T/due")"
ok "no gap: one run per second from $lo to $hi" test $(( (hi - lo) / 1000 + 1 )) -eq "$n"
ok "the first due time after SCHEDULED fired" test "$lo" -eq "$first_due"
ok "all due times whole seconds" test -z "$(grep -v '000$' "$T/due")"
ok "all SUCCEEDED" test "$(jq -r 'select(.status!="SUCCEEDED")|.run_id' "$T/runs.json" | wc -l)" -eq 0
R=$T/replies.json
replies_now "$R"
jq -r .command_id "$T/runs.json" | sort >"$T/cmds"
finals_ok=$(jq -r 'select(.final)|.command_id' "$R" | sort | grep -F -x -f "$T/cmds" | uniq -c | awk '$1==1' | wc -l)
ok "one final reply per scheduled run ($finals_ok of $n)" test "$finals_ok" -eq "$n"
ok "the killed worker's successor fired after it" \
    grep -q "'tick'/'default' due" "$T/$owner.log"
finish
