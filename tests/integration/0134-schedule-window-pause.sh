#!/usr/bin/env bash
# itest: alone: schedule timing
# 0134 (G5 item 5): start and end dates, pause and resume. A schedule every
# second with a window of four seconds a few seconds ahead is answered with
# exactly the window's fire times and fires exactly those due times (checked
# on RunState.scheduled_for), then records the window's end as handled. A
# paused schedule (catch-up ALL, so a backfill would show) fires nothing
# while paused and, once resumed, continues from the resume without firing
# the paused period. `schedule --paused` stores it paused; an end before the
# start is refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/schedule_lib.sh"
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
# due times are seconds apart: begin once every partition is restored (a
# worker that joins while the test's new topics are still electing their
# leaders can take seconds to restore some of them)
ok "w1 restores all $FLOQ_TOPIC_PARTITIONS partitions" wait_for 60 worker_positioned w1 "$FLOQ_TOPIC_PARTITIONS"
T=$FLOQ_TEST_TMP
F="$BIN/floq -b $FLOQ_BROKERS -t 30s"
for d in win pz pp; do deploy_cmd "$d" ok.sh "$d"; done | produce >/dev/null
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# --- window: every second, fires only in [start, end]
s=$(( $(date -u +%s) + 5 ))
e=$(( s + 3 ))
sched "$T/w.json" win --cron '* * * * * *' --start "$(iso $s)" --end "$(iso $e)"
ok "window: SCHEDULED" test "$(jq -r .status "$T/w.json")" = SCHEDULED
ok "window: next fire times are the window's four seconds" \
    test "$(jq -r '.next_fire_times | join(" ")' "$T/w.json")" = \
    "$((s * 1000)) $((s * 1000 + 1000)) $((s * 1000 + 2000)) $((e * 1000))"
ok "window: detail has the dates" \
    test "$(jq -r '.detail | fromjson | "\(.paused) \(.start_at) \(.end_at)"' "$T/w.json")" = \
    "false $((s * 1000)) $((e * 1000))"
ok "window: past its end" wait_for 30 clock_past $(( e * 1000 + 3000 ))
ok "window: runs ended" wait_for 30 sched_all_terminal win
sched_runs win "$T/wr.json"
got=$(jq -r .scheduled_for "$T/wr.json" | sort -n | paste -sd' ')
ok "window: exactly the due times inside it fired ($got)" \
    test "$got" = "$((s * 1000)) $((s * 1000 + 1000)) $((s * 1000 + 2000)) $((e * 1000))"
$F status win --json >"$T/wst.json"
ok "window: end recorded as handled" \
    test "$(jq -r '.detail | fromjson | .schedules.schedules[0].last_fired' "$T/wst.json")" = "$((e * 1000))"
sched "$T/wbad.json" win --cron '* * * * * *' --start "$(iso $e)" --end "$(iso $s)"
ok "window: end before start refused" test "$(jq -r .status "$T/wbad.json" 2>/dev/null)" != SCHEDULED
ok "window: nothing more fired" test "$(wc -l <"$T/wr.json")" -eq 4

# --- pause / resume: every second, catch-up ALL (a backfill would show)
sched "$T/p.json" pz --cron '* * * * * *' --catchup all --catchup-max 100
ok "pause: SCHEDULED" test "$(jq -r .status "$T/p.json")" = SCHEDULED
ok "pause: firing before the pause" wait_for 30 sched_count pz 2
$F pause pz --json >"$T/pa.json"
t_paused=$(now_ms)
ok "pause: answered SCHEDULED" test "$(jq -r .status "$T/pa.json")" = SCHEDULED
ok "pause: detail paused" test "$(jq -r '.detail | fromjson | .paused' "$T/pa.json")" = true
ok "pause: no next fire times" test "$(jq '.next_fire_times | length' "$T/pa.json")" -eq 0
$F status pz --json >"$T/pst.json"
ok "pause: stored paused" \
    test "$(jq -r '.detail | fromjson | .schedules.schedules[0].paused' "$T/pst.json")" = true
ok "pause: four due times pass" wait_for 30 clock_past $(( t_paused + 4000 ))
t_resume=$(now_ms)
$F resume pz --json >"$T/re.json"
t_resumed=$(now_ms)
ok "resume: answered SCHEDULED" test "$(jq -r .status "$T/re.json")" = SCHEDULED
ok "resume: five next fire times" test "$(jq '.next_fire_times | length' "$T/re.json")" -eq 5
ok "resume: next fire time after the resume" \
    test "$(jq -r '.next_fire_times[0]' "$T/re.json")" -gt "$t_resume"
after_resume() {
    sched_runs pz "$T/pr.json"
    [[ $(jq -r --argjson t "$t_resumed" 'select(.scheduled_for > $t) | .run_id' "$T/pr.json" | wc -l) -ge 2 ]]
}
ok "resume: fires again" wait_for 30 after_resume
$F unschedule pz --json >/dev/null
sched_runs pz "$T/pr.json"
paused_fires=$(jq -r --argjson a "$t_paused" --argjson b "$t_resume" \
    'select(.scheduled_for > $a and .scheduled_for <= $b) | .scheduled_for' "$T/pr.json" | paste -sd' ')
ok "pause: nothing fired while paused, nothing backfilled ($paused_fires)" test -z "$paused_fires"
dups=$(jq -r .scheduled_for "$T/pr.json" | sort | uniq -d | wc -l)
ok "pause: one run per due time" test "$dups" -eq 0

# --- schedule --paused, then resume by id
sched "$T/pp.json" pp --id p1 --cron '* * * * * *' --paused
ok "--paused: SCHEDULED without fire times" \
    test "$(jq -r '"\(.status) \(.next_fire_times | length) \(.detail | fromjson | .paused)"' "$T/pp.json")" = "SCHEDULED 0 true"
t_pp=$(now_ms)
ok "--paused: two due times pass" wait_for 30 clock_past $(( t_pp + 2500 ))
ok "--paused: nothing fired" test "$(sched_runs pp "$T/ppr.json"; wc -l <"$T/ppr.json")" -eq 0
$F resume pp --id nosuch --json >"$T/ppn.json"
ok "resume of a missing id REJECTED" grep -q "no schedule 'nosuch'" "$T/ppn.json"
$F resume pp --id p1 --json >"$T/ppr1.json"
ok "--paused: resumed" test "$(jq '.next_fire_times | length' "$T/ppr1.json")" -eq 5
ok "--paused: fires after the resume" wait_for 30 sched_count pp 1
$F unschedule pp --json >/dev/null
finish
