#!/usr/bin/env bash
# itest: alone: its own cluster
# 0118 (G1, G2): a broker of a three-node cluster dies under load. On a
# 3-node Kafka of its own (every floq topic and the transaction state log
# with replication factor 3, min.insync.replicas 2), two workers run a few
# hundred short runs and a dozen runs of a few seconds; while they are in
# flight the node that matters most (the transaction coordinator of the
# workers and the group coordinator count most, then the leaderships of
# command partitions) is killed with SIGKILL. The fleet keeps answering on
# the two nodes left, the node is restarted on its data, and every run
# command still gets exactly one final reply (read_committed), none missing,
# none duplicated; the workers are never restarted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/broker_lib.sh"
broker_start 3
worker_env
export FLOQ_TOPIC_REPLICATION_FACTOR=3
export FLOQ_WORKER_CONCURRENCY=4
T=$FLOQ_TEST_TMP
N=${FLOQ_FAILOVER_RUNS:-300}
SLOW=12
start_worker w1
start_worker w2
ok "w1 joins" wait_for 90 worker_assigned w1
ok "w2 joins" wait_for 90 worker_assigned w2
metadata "$T/md.json"
rf3() {
    jq -r --arg ns "$FLOQ_TEST_NS." '.topics[] |
        select((.topic | startswith($ns)) or .topic == "__transaction_state") |
        .partitions[] | "\(.replicas | length) \(.isrs | length)"' "$T/md.json" |
        sort | uniq -c
}
ok "floq's topics and the transaction log have 3 replicas in sync" \
    test "$(rf3)" = "$(printf '%7d 3 3' $((7 * FLOQ_TOPIC_PARTITIONS + 10)))"
# min.insync.replicas is the brokers' (kafka.sh: 2 with 3 nodes); floq
# does not override it per topic
kafka topics --describe >"$T/describe.txt" 2>&1
durable() {
    local tab=$'\t'
    grep -E "^Topic: ($FLOQ_TEST_NS\.[a-z]+|__transaction_state)$tab" "$T/describe.txt" |
        grep "ReplicationFactor: 3$tab" | grep -c "min\.insync\.replicas=2"
}
ok "all 8 with min.insync.replicas 2" test "$(durable)" -eq 8

fault_load

# The victim: the node with the highest score, 10 for each coordinator
# role (transactions of w1, of w2, the group), 1 per command partition led.
metadata "$T/md.json"
declare -A score why
role() { score[$1]=$(( ${score[$1]:-0} + $2 )); why[$1]+="$3 "; }
role "$(leader_of "$T/md.json" __transaction_state "$(coordinator_partition "floq-w1-$$" 10)")" 10 "txn-coordinator(w1)"
role "$(leader_of "$T/md.json" __transaction_state "$(coordinator_partition "floq-w2-$$" 10)")" 10 "txn-coordinator(w2)"
role "$(leader_of "$T/md.json" __consumer_offsets "$(coordinator_partition "$FLOQ_GROUP_ID" 10)")" 10 "group-coordinator"
for ((p = 0; p < FLOQ_TOPIC_PARTITIONS; p++)); do
    role "$(leader_of "$T/md.json" "$FLOQ_TOPIC_COMMANDS" $p)" 1 "commands[$p]"
done
victim=1
for n in 1 2 3; do (( ${score[$n]:-0} > ${score[$victim]:-0} )) && victim=$n; done
vport=$(node_port "$victim")
ok "victim chosen (node $victim: ${why[$victim]})" test -n "$vport"

replies_now "$T/before.json"
done_before=$(jq -r 'select(.final)|.command_id' "$T/before.json" | sort -u | comm -12 - <(sort "$T/ids") | wc -l)
l1=$(wc -l <"$T/w1.log") l2=$(wc -l <"$T/w2.log")
kafka kill "$victim" 2>/dev/null
echo "  node $victim killed with $done_before of $((N + SLOW)) runs answered"
ok "node $victim down" node_down "$victim"
noticed() {
    tail -n +$((l1 + 1)) "$T/w1.log" | grep -qE "127\.0\.0\.1:$vport.*(Disconnected|Connection refused)" &&
    tail -n +$((l2 + 1)) "$T/w2.log" | grep -qE "127\.0\.0\.1:$vport.*(Disconnected|Connection refused)"
}
ok "both workers notice" wait_for 30 noticed
progress() {
    replies_now "$T/during.json" 2>>"$T/tool.log"
    (( $(jq -r 'select(.final)|.command_id' "$T/during.json" | sort -u | comm -12 - <(sort "$T/ids") | wc -l) > done_before ))
}
ok "runs keep ending on the two nodes left" wait_for 60 progress
t0=$(date +%s)
ok "node $victim restarted on its data" kafka restart-node "$victim" 2>"$T/restart.log"
echo "  node $victim back after $(( $(date +%s) - t0 )) s"
ok "all $((N + SLOW)) answered" wait_for 120 all_final "$T/ids" 2>>"$T/tool.log"
fault_accounting
finish
