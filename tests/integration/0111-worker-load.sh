#!/usr/bin/env bash
# itest: alone: load
# 0111 (G1): three workers, 1000 run commands of a short process: every
# command accounted for, exactly one terminal reply each, zero duplicates,
# zero missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
N=${FLOQ_LOAD_RUNS:-1000}
for w in w1 w2 w3; do start_worker $w; done
for w in w1 w2 w3; do ok "$w joins" wait_for 90 worker_assigned $w; done
T=$FLOQ_TEST_TMP
for i in $(seq 0 11); do deploy_cmd "load$i" ok.sh "{n}"; done | produce >/dev/null
t0=$(date +%s)
for i in $(seq 1 "$N"); do
    printf '{"deployment":"load%d","body":{"RunBody":{"params":{"n":"%d"}}}}\n' $((i % 12)) "$i"
done | produce >"$T/ids"
ok "$N commands produced" test "$(wc -l <"$T/ids")" -eq "$N"
ok "all $N answered" wait_for 300 all_final "$T/ids"
echo "  $N runs answered in $(( $(date +%s) - t0 )) s"
R=$T/replies.json
replies_now "$R"
jq -r 'select(.final)|.command_id' "$R" | sort >"$T/finals"
ok "zero duplicates" test "$(uniq -d "$T/finals" | wc -l)" -eq 0
ok "zero missing" test "$(sort "$T/ids" | comm -23 - "$T/finals" | wc -l)" -eq 0
ok "all SUCCEEDED" test "$(jq -r 'select(.final and .status=="SUCCEEDED")|.command_id' "$R" | sort | comm -12 - <(sort "$T/ids") | wc -l)" -eq "$N"
finish
