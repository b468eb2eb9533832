#!/usr/bin/env bash
# itest: alone: timing
# 0193 (start-up of a new group): the first transaction of a worker whose
# partitions have no committed offset commits at once. It carries, for
# each idle partition, the log start; before the fix that was asked on the
# group member's own connection, where each ListOffsets (two per
# partition) waited behind the member's fetch, which the broker holds up
# to fetch.wait.max.ms when there is nothing to read: with the default
# 500 ms the loop stood ~5 s on the first commit of six partitions (a
# schedule added in that transaction lost the due times of those seconds,
# seen as a gap in 0135 under load). Here the fetch wait is 3 s, past the
# transactional calls' timeout (1.67 s): each ask timed out, the
# transaction aborted and was tried again the same way, and the deploy
# got no reply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
PARTS=$FLOQ_TOPIC_PARTITIONS

start_worker w1 -X fetch.wait.max.ms=3000
ok "w1 has restored and positioned all $PARTS partitions" \
    wait_for 90 worker_positioned w1 "$PARTS"
ok "no partition of the new group has a committed offset" \
    test "$(grep -c "has no committed offset" "$T/w1.log")" -eq "$PARTS"
d0=$(name_on 0)
"$BIN/floq" -b "$FLOQ_BROKERS" -t 8s deploy "$d0" -- "$DATA/sleep.sh" >"$T/d0" 2>&1
ok "the first deploy of the new group is answered DEPLOYED within 8 s" \
    grep -q "^DEPLOYED" "$T/d0"
ok "... by the first transaction, not a retry" \
    test "$(grep -c "cannot read the committed offsets" "$T/w1.log")" -eq 0
d1=$(name_on 1)
"$BIN/floq" -b "$FLOQ_BROKERS" -t 8s deploy "$d1" -- "$DATA/sleep.sh" >"$T/d1" 2>&1
ok "a deploy on another partition after it, too" grep -q "^DEPLOYED" "$T/d1"
sed 's/^/    /' "$T/d0" "$T/d1"
finish
