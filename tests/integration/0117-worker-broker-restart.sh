#!/usr/bin/env bash
# itest: alone: its own cluster
# 0117 (G1, G2): the broker itself dies. On a single-node Kafka of its own,
# two workers run a few hundred short runs and a dozen runs of a few
# seconds; while they are in flight the broker is killed with SIGKILL (no
# clean shutdown), the workers notice, and the broker is restarted on the
# same data. The workers are not restarted: they reconnect, and every run
# command still gets exactly one final reply (read_committed), none missing,
# none duplicated; the long runs end SUCCEEDED (possibly after a retry) or
# LOST, never silently.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/broker_lib.sh"
broker_start 1
worker_env
export FLOQ_WORKER_CONCURRENCY=4
T=$FLOQ_TEST_TMP
N=${FLOQ_RESTART_RUNS:-300}
SLOW=12
start_worker w1
start_worker w2
ok "w1 joins" wait_for 90 worker_assigned w1
ok "w2 joins" wait_for 90 worker_assigned w2
fault_load
replies_now "$T/before.json"
done_before=$(jq -r 'select(.final)|.command_id' "$T/before.json" | sort -u | comm -12 - <(sort "$T/ids") | wc -l)
l1=$(wc -l <"$T/w1.log") l2=$(wc -l <"$T/w2.log")
kafka kill 1 2>/dev/null
echo "  broker killed with $done_before of $((N + SLOW)) runs answered"
ok "broker down" node_down 1
lost_broker() {
    tail -n +$((l1 + 1)) "$T/w1.log" | grep -qE "Connection refused|brokers are down" &&
    tail -n +$((l2 + 1)) "$T/w2.log" | grep -qE "Connection refused|brokers are down"
}
ok "both workers notice" wait_for 30 lost_broker
t0=$(date +%s)
ok "broker restarted on its data" kafka restart-node 1 2>"$T/restart.log"
echo "  broker back after $(( $(date +%s) - t0 )) s"
ok "all $((N + SLOW)) answered" wait_for 180 all_final "$T/ids" 2>>"$T/tool.log"
fault_accounting
finish
