#!/usr/bin/env bash
# itest: alone: fault timing
# 0140 (G1, G3): "G1 no re-read from offset 0 after UNSTABLE_OFFSET_COMMIT".
# The issue's deterministic reproduction: w1 answers 12 commands; then a
# transaction is held open over the group's offsets (what a worker killed in
# the middle of its transaction leaves: floq_itest_tool hold-offsets), and
# w2 joins. Its committed-offset fetch answers UNSTABLE_OFFSET_COMMIT until
# the coordinator aborts the held transaction; librdkafka 2.0.2 then went on
# "at offset INVALID" and auto.offset.reset=earliest sent the partitions to
# offset 0: every earlier command got a second final reply (11 of 11 in the
# issue). Required: zero second final replies, zero missing, and the
# commands sent after the takeover answered by the new owner.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
start_worker w1
ok "w1 joins" wait_for 90 worker_assigned w1
for i in 0 1 2 3 4 5; do deploy_cmd "u$i" ok.sh; done | produce >"$T/ids"
for i in 0 1 2 3 4 5; do run_cmd "u$i"; done | produce >>"$T/ids"
ok "w1 answers 12 commands" wait_for 90 all_final "$T/ids"

# The held transaction: the coordinator aborts it after 30 s (and its
# cleanup runs every 10 s), so the offsets stay unstable for 30-40 s.
bg hold "$TOOL" hold-offsets --timeout-ms 30000
HOLD=$!
ok "a transaction holds the group's offsets" wait_for 60 grep -q held "$T/hold.log"
kill -KILL "$HOLD"

start_worker w2
ok "w2 joins" wait_for 90 worker_assigned w2
# A rebalance while w2's committed-offset fetch still meets the held
# offsets: w3 joins.
start_worker w3
ok "w3 joins" wait_for 90 worker_assigned w3
# New commands once w2 owns partitions: it must answer them, from its
# committed offsets, after the held transaction is gone.
for i in 0 1 2 3 4 5; do run_cmd "u$i"; done | produce >"$T/ids2"
ok "the new commands answered" wait_for 120 all_final "$T/ids2"
cat "$T/ids2" >>"$T/ids"
# A new publish of an answered command id: answered again, marked repeat.
first=$(head -1 "$T/ids")
jq -cn --arg id "$first" '{command_id: $id, deployment: "u0",
    body: {DeployBody: {backend: "process", spec: "{}"}}}' | produce >/dev/null
repeated() { replies_now "$T/rep.json"; [[ $(finals "$T/rep.json" "$first") -ge 2 ]]; }
ok "a new publish of an answered command id is answered" wait_for 60 repeated
ok "that answer is marked repeat" test "$(jq -r --arg id "$first" \
    'select(.command_id == $id and .final and .repeat) | .command_id' "$T/rep.json" | wc -l)" -eq 1
# G1 accounting over first answers (repeat false).
jq -c 'select(.repeat | not)' "$T/rep.json" >"$T/first.json"
R=$T/first.json
dup=$(jq -r 'select(.final)|.command_id' "$R" | sort | uniq -d | wc -l)
missing=$(jq -r 'select(.final)|.command_id' "$R" | sort -u | comm -13 - <(sort -u "$T/ids") | wc -l)
ok "zero second final replies ($dup)" test "$dup" -eq 0
ok "zero missing final replies ($missing of $(wc -l <"$T/ids"))" test "$missing" -eq 0
again=$(jq -r 'select(.final and .worker != "w1-'$$'")|.command_id' "$R" |
    sort -u | comm -12 - <(head -12 "$T/ids" | sort -u) | wc -l)
ok "w2 and w3 answered none of w1's 12 commands again ($again)" test "$again" -eq 0
grep -h "not known yet\|AUTO_OFFSET_RESET\|offset reset" "$T/w2.log" "$T/w3.log" | head -5
finish
