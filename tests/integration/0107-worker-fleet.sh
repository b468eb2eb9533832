#!/usr/bin/env bash
# 0107: three workers share the partitions; all runs are answered exactly
# once; one worker drains away (SIGTERM, exit 0) and the other two take its
# partitions and answer everything sent afterwards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
for w in w1 w2 w3; do start_worker $w; done
for w in w1 w2 w3; do ok "$w joins" wait_for 90 worker_assigned $w; done
T=$FLOQ_TEST_TMP
for i in 0 1 2 3 4 5 6 7; do deploy_cmd "job$i" ok.sh "{n}"; done | produce >/dev/null
for i in $(seq 1 80); do run_cmd "job$((i % 8))" "{\"n\":\"$i\"}"; done | produce >"$T/ids1"
ok "80 runs answered" wait_for 120 all_final "$T/ids1"
"$TOOL" runs --latest >"$T/runs.json"
ok "runs spread over workers" test "$(jq -r .worker "$T/runs.json" | sort -u | wc -l)" -ge 2

kill -TERM "${WPID[w2]}"
wait "${WPID[w2]}"; rc=$?
ok "w2 drained with exit 0" test "$rc" -eq 0
for i in $(seq 81 160); do run_cmd "job$((i % 8))" "{\"n\":\"$i\"}"; done | produce >"$T/ids2"
ok "80 more runs answered by the others" wait_for 120 all_final "$T/ids2"
R=$T/replies.json
replies_now "$R"
cat "$T/ids1" "$T/ids2" >"$T/ids"
dup=$(jq -r 'select(.final)|.command_id' "$R" | sort | uniq -d | wc -l)
ok "no command has two final replies" test "$dup" -eq 0
ok "every run SUCCEEDED" test "$(jq -r 'select(.final and .status=="SUCCEEDED")|.command_id' "$R" | sort -u | comm -12 - <(sort "$T/ids") | wc -l)" -eq 160
"$TOOL" runs --latest >"$T/runs.json"
ok "later runs not on w2" test "$(jq -r --arg w "w2-$$" 'select(.worker==$w and .status!="SUCCEEDED")|.run_id' "$T/runs.json" | wc -l)" -eq 0
finish
