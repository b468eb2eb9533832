#!/usr/bin/env bash
# itest: alone: fault timing
# 0188 (G1, stop): a committed stop is never undone by a revocation. w1
# runs a job on each of two partitions that takes 6 s to stop after
# SIGTERM (slow_stop.sh); both runs are stopped (the STOPPED replies are
# committed, the runs' CANCELLED is w1's to write once the jobs end), and
# w2 joins before they have ended, so one partition moves. The moved
# job's end is announced to w2 by a handover notice; w2 must end that run
# CANCELLED, as the stop said. Before the fix w2 took the notice as a
# handover of a live attempt: RETRYING, and the stopped run started again.
# The same rule holds for a takeover after a worker's death.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
slow_stop_env
T=$FLOQ_TEST_TMP

slow_stop_pair
rid() { replies_now "$T/r.json"; reply_field "$T/r.json" "$1" RUNNING run_id; }
r0=$(rid "${x[0]}") r1=$(rid "${x[1]}")
k0=$(printf '{"deployment":"%s","body":{"StopBody":{"run_id":"%s"}}}\n' "${d[0]}" "$r0" | produce)
k1=$(printf '{"deployment":"%s","body":{"StopBody":{"run_id":"%s"}}}\n' "${d[1]}" "$r1" | produce)
both_stopped() { has_status "$k0" STOPPED && has_status "$k1" STOPPED; }
ok "both stops are answered STOPPED" wait_for 20 both_stopped
start_worker w2
ok "w1 gives a partition up" wait_for 60 worker_log_has w1 "revoked 1 partition"
ok "... before its jobs have stopped" bash -c "! grep -q 'of .* ended CANCELLED' '$T/w1.log'"
both_final() { has_final "${x[0]}" && has_final "${x[1]}"; }
ok "both runs get their final reply" wait_for 60 both_final
replies_now "$T/replies.json"
ok "... CANCELLED, as the stops said ($(statuses "$T/replies.json" "${x[0]}") / $(statuses "$T/replies.json" "${x[1]}"))" \
    test "$(statuses "$T/replies.json" "${x[0]}")/$(statuses "$T/replies.json" "${x[1]}")" = \
    "ACCEPTED RUNNING CANCELLED/ACCEPTED RUNNING CANCELLED"
ok "the moved run was announced to w2" worker_log_has w1 "handover notice sent"
ok "... and w2 ended it CANCELLED" worker_log_has w2 "stopped; its attempt 1 ended on worker w1-$$"
started() { grep -c "started (attempt" "$T/w1.log" "$T/w2.log" | awk -F: '{n += $2} END {print n}'; }
ok "no stopped run started again ($(started) starts)" test "$(started)" -eq 2
finish
