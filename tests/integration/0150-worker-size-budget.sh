#!/usr/bin/env bash
# 0150 (G1, G4): the size budget on a real broker (docs/worker.md, "Size
# budget"). A command of about 1,000,000 bytes (a run whose params could
# never be written) is REJECTED, lands in the DLQ cut to the budget with
# its original size and coordinates in headers, and the normal commands
# published after it on the same partition all get their replies; a
# STATUS over many active runs with large params stays within the budget,
# lists fewer runs and says so. Before the budget the first made the
# worker abort and rewind to it forever, and the STATUS was never sent.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
export FLOQ_TOPIC_PARTITIONS=1 # every command on the one partition
worker_env
start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
BUDGET=999488 # the producer's message.max.bytes (1000000) minus 512

# The test's producer must be able to publish what the worker refuses.
big_produce() { "$TOOL" -X message.max.bytes=2000000 produce; }
pad() { head -c "$1" /dev/zero | tr '\0' "$2"; }

dep=$( { deploy_cmd good ok.sh; deploy_cmd long sleep.sh 60; } | produce)
ok "deployed" wait_for 60 all_final <(printf '%s\n' $dep)

# 1. a ~1,000,000-byte command, then normal ones behind it
jq -cn --rawfile p <(pad 999800 x) \
    '{deployment: "good", body: {RunBody: {params: {pad: $p}}}}' >"$T/big.json"
big=$(big_produce <"$T/big.json")
after=$T/after.ids
for i in 1 2 3 4 5; do run_cmd good "{\"i\":\"$i\"}"; done | produce >"$after"
ok "every command after it answered" wait_for 60 all_final "$after"
R=$T/replies.json
replies_now "$R"
n=0
while read -r id; do
    [[ $(statuses "$R" "$id") == *SUCCEEDED ]] && n=$((n + 1))
done <"$after"
ok "all 5 runs after it SUCCEEDED ($n)" test "$n" -eq 5
ok "the big command REJECTED" test "$(statuses "$R" "$big")" = REJECTED
ok "with the reason" grep -q "run params too large" \
    <(reply_field "$R" "$big" REJECTED reason)
"$TOOL" dlq >"$T/dlq.json"
ok "its DLQ record is cut and points to it" test "$(jq -r \
    'select(.headers["floq.truncated"] == "true") |
     .headers["floq.original.size"]' "$T/dlq.json" | wc -l)" -ge 1
orig=$(jq -r 'select(.headers["floq.truncated"] == "true") |
    .headers["floq.original.size"]' "$T/dlq.json" | head -1)
ok "original size recorded ($orig)" test "${orig:-0}" -ge 999000
ok "DLQ copy within the budget" test "$(jq -r \
    'select(.headers["floq.truncated"] == "true") | .len' "$T/dlq.json" |
    head -1)" -lt "$BUDGET"
ok "no transaction aborted" bash -c "! grep -q 'aborting the transaction' '$T/w1.log'"

# 2. STATUS over 8 active runs of 200 KiB params each (1.6 MB in all)
jq -cn --rawfile p <(pad 204800 p) \
    '{deployment: "long", body: {RunBody: {params: {pad: $p}}}}' >"$T/run.json"
for i in 1 2 3 4 5 6 7 8; do cat "$T/run.json"; done | produce >"$T/long.ids"
accepted() {
    replies_now "$T/acc.json"
    local id
    while read -r id; do
        [[ -n $(reply_field "$T/acc.json" "$id" ACCEPTED command_id) ]] ||
            return 1
    done <"$T/long.ids"
}
ok "8 large runs accepted" wait_for 60 accepted
st=$(jq -cn '{deployment: "long", body: {StatusBody: {run_id: null}}}' | produce)
ok "STATUS answered" wait_for 60 has_status "$st" STATUS
replies_now "$R"
reply_field "$R" "$st" STATUS detail >"$T/detail.json"
ok "detail within the budget ($(wc -c <"$T/detail.json") bytes)" \
    test "$(wc -c <"$T/detail.json")" -lt "$BUDGET"
ok "8 active runs counted" test "$(jq -r .active_runs_total "$T/detail.json")" -eq 8
listed=$(jq -r '.active_runs | length' "$T/detail.json")
ok "fewer listed ($listed)" test "$listed" -ge 1 -a "$listed" -lt 8
ok "and said so" grep -q "listing $listed of 8 active runs" \
    <(reply_field "$R" "$st" STATUS reason)
jq -cn '{deployment: "long", body: {StopBody: {run_id: null}}}' | produce >/dev/null
ok "no transaction aborted" bash -c "! grep -q 'aborting the transaction' '$T/w1.log'"
ok "worker still alive" worker_alive w1
finish
