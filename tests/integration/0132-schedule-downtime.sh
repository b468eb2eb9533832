#!/usr/bin/env bash
# itest: alone: schedule timing
# 0132 (G5): catch-up after downtime. Five deployments get a schedule with
# five due times two seconds apart (6-field cron naming exact seconds);
# every worker is stopped before the first and restarted after the last.
# Then, exactly: skip fires none, latest fires the last one, all with
# catchup_max 3 fires the last three, all with catchup_max 10 fires all
# five, and a stopped (disabled) deployment fires none; every schedule
# records the last due time as handled.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/schedule_lib.sh"
worker_env
export FLOQ_WORKER_SCHEDULE_MISFIRE_MS=1000
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
for d in cskip clatest call3 call10 cstop; do deploy_cmd "$d" ok.sh "$d"; done |
    produce >/dev/null
"$BIN/floq" -b "$FLOQ_BROKERS" -t 30s stop cstop >/dev/null
# Five due seconds within one minute, the first 8 s ahead.
# (the check is a function so wait_for re-reads the clock on every try)
early_in_minute() { (( $(date -u +%s) % 60 < 40 )); }
wait_for 60 early_in_minute
t0=$(( $(date -u +%s) + 8 ))
secs=$(for i in 0 2 4 6 8; do echo $(( (t0 + i) % 60 )); done | paste -sd,)
cron="$secs $(date -u -d "@$t0" +'%-M %-H') * * *"
echo "  cron '$cron'"
sched "$T/1.json" cskip --cron "$cron" --catchup skip
sched "$T/2.json" clatest --cron "$cron" --catchup latest
sched "$T/3.json" call3 --cron "$cron" --catchup all --catchup-max 3
sched "$T/4.json" call10 --cron "$cron" --catchup all --catchup-max 10
sched "$T/5.json" cstop --cron "$cron" --catchup all --catchup-max 10
ok "five SCHEDULED" test "$(cat "$T"/[1-5].json | jq -r .status | grep -c SCHEDULED)" -eq 5
first=$(jq -r '.next_fire_times[0]' "$T/1.json")
ok "scheduled before the first due time" test "$(now_ms)" -lt "$first"
kill -TERM "${WPID[w1]}"
ok "w1 drained" wait_for 30 worker_log_has w1 "exit 0"
last=$(( t0 * 1000 + 8000 ))
ok "all five due times passed while down" wait_for 30 clock_past $(( last + 1500 ))
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
handled() {
    "$BIN/floq" -b "$FLOQ_BROKERS" -t 30s status "$1" --json >"$T/st-$1.json" &&
        [[ $(jq -r '.detail | fromjson | .schedules.schedules[0].last_fired' "$T/st-$1.json") == "$last" ]]
}
for d in cskip clatest call3 call10 cstop; do
    ok "$d: last due time recorded" wait_for 30 handled "$d"
done
ok "runs ended" wait_for 30 sched_all_terminal call10
dues() { sched_runs "$1" "$T/r-$1.json"; jq -r .scheduled_for "$T/r-$1.json" | sort -n | paste -sd' '; }
ok "skip: none fired" test -z "$(dues cskip)"
ok "latest: the last one" test "$(dues clatest)" = "$last"
ok "all, max 3: the last three" \
    test "$(dues call3)" = "$((last - 4000)) $((last - 2000)) $last"
ok "all, max 10: all five" \
    test "$(dues call10)" = "$((last - 8000)) $((last - 6000)) $((last - 4000)) $((last - 2000)) $last"
ok "stopped deployment: none fired" test -z "$(dues cstop)"
finish
