#!/usr/bin/env bash
# itest: alone: fault timing
# 0187 (G1, G2; issue 9 item 5): a revocation does not wait for the
# stopped attempts in the rebalance callback. w1 owns both partitions and
# runs a job on each that takes 6 s to stop after SIGTERM (slow_stop.sh);
# w2 joins and the cooperative rebalance moves one partition to it. On
# the partition w1 keeps, a new run must get its final reply while the
# moved partition's job is still stopping; that job, once ended, is
# announced to w2 by a handover notice (retried at the same attempt, no
# attempt consumed) and the kept job runs on, once. Before the fix the
# callback waited for the job to stop (up to process.kill.grace.ms + 5 s)
# and w1's kept partition stood still meanwhile.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
slow_stop_env
T=$FLOQ_TEST_TMP

slow_stop_pair

start_worker w2
ok "w1 gives a partition up" wait_for 60 worker_log_has w1 "revoked 1 partition"
# Which partition w1 keeps is the assignor's choice: a short run on
# each; the kept one's is answered by w1 at once, the moved one's by w2
# once it has restored it.
s0=$(run_cmd "${d[0]}" '{"secs":"0"}' | produce)
s1=$(run_cmd "${d[1]}" '{"secs":"0"}' | produce)
either_final() { has_final "$s0" || has_final "$s1"; }
ok "a run on the kept partition gets its final reply" wait_for 4 either_final
ok "... while the moved partition's job is still stopping" \
    bash -c "! grep -q 'handover notice sent' '$T/w1.log'"
moved() { sed -n 's/.*\[rebalance\] partition \([0-9]\) restored and positioned.*/\1/p' "$T/w2.log" | head -1; }
has_moved() { [[ -n $(moved) ]]; }
ok "w2 takes the other partition" wait_for 30 has_moved
M=$(moved)
K=$((1 - M))
echo "  w1 keeps partition $K, partition $M moved to w2"
ok "the moved job is announced to w2 once it has ended" \
    wait_for 20 worker_log_has w1 "partition $M was lost: handover notice sent"
ok "w2 retries it at the same attempt" \
    wait_for 20 worker_log_has w2 "attempt 1 handed over by worker w1-$$ (it lost partition $M)"
replies_now "$T/replies.json"
ok "both short runs SUCCEEDED" test "$(statuses "$T/replies.json" "$s0")/$(statuses "$T/replies.json" "$s1")" = \
    "ACCEPTED RUNNING SUCCEEDED/ACCEPTED RUNNING SUCCEEDED"
ok "the kept job runs on, once" test "$(statuses "$T/replies.json" "${x[$K]}")" = "ACCEPTED RUNNING"
ok "the moved job has no final reply" test "$(finals "$T/replies.json" "${x[$M]}")" -eq 0
ok "w1 never lost its assignment" bash -c "! grep -Eq 'lost [0-9]+ partition' '$T/w1.log'"
finish
