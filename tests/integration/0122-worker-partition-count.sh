#!/usr/bin/env bash
# 0122 (G1, G4): the partition count of the commands topic changing under a
# running fleet. A command forwarded by a worker that saw another count and
# still off its home partition is rejected, not forwarded again (two
# workers disagreeing would pass it back and forth forever); a worker that
# learns the topic grew (a forwarded command counted more partitions, or a
# partition it never knew is assigned, or a forwarded command counted
# more partitions and the cluster confirms the topic grew) stops with exit
# 2 instead of computing stale home partitions; a forwarded count the
# cluster does not confirm (a stale or forged header: headers are not
# signed) is refused, and the worker goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
command -v kcat >/dev/null || { echo "  kcat is required"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
P=$FLOQ_TOPIC_PARTITIONS
meta=(-X topic.metadata.refresh.interval.ms=1000)
start_worker w1 "${meta[@]}"
ok "w1 joins" wait_for 60 worker_assigned w1

# raw NAME PARTITION HEADER: a deploy of NAME, its id on stdout, produced to
# PARTITION with the forwarding header HEADER.
raw() {
    local id
    id=$(cat /proc/sys/kernel/random/uuid)
    deploy_cmd "$1" ok.sh | jq -c --arg id "$id" '. + {command_id: $id}' |
        "$TOOL" encode >"$T/$id.bin"
    kcat -P -b "$FLOQ_BROKERS" -t "$FLOQ_TOPIC_COMMANDS" -p "$2" \
        -H "floq.forwarded=$3" -k "$1" "$T/$id.bin" || return 1
    echo "$id"
}
reply_of() { replies_now "$T/r.json"; jq -r --arg id "$1" 'select(.command_id == $id) | .status + " " + (.reason // "")' "$T/r.json"; }
has_reply() { [[ -n $(reply_of "$1") ]]; }
off_home() { echo $(( ($("$TOOL" partition --key "$1") + 1) % P )); }

# a stale forwarder (it saw 2 partitions) put it off home: rejected
id=$(raw pc-stale "$(off_home pc-stale)" "1/2")
ok "stale forward answered" wait_for 30 has_reply "$id"
r=$(reply_of "$id")
ok "stale forward REJECTED, not forwarded again ($r)" \
    bash -c '[[ $1 == REJECTED*disagree* ]]' _ "$r"
ok "stale forward in the DLQ" bash -c '"$1" dlq | grep -q "disagree on the partition count"' _ "$TOOL"
ok "w1 still running" kill -0 "${WPID[w1]}"

# a header claiming more partitions than the topic has (headers are not
# signed: stale, or forged to stop the fleet): w1 asks the cluster, which
# says the topic did not grow, so the command is refused and w1 goes on
id=$(raw pc-forged "$(off_home pc-forged)" "0/$((P * 2))")
ok "forged count answered" wait_for 30 has_reply "$id"
r=$(reply_of "$id")
ok "forged count REJECTED ($r)" bash -c '[[ $1 == REJECTED*"stale or forged"* ]]' _ "$r"
ok "w1 still running after a forged count" kill -0 "${WPID[w1]}"
id2=$(deploy_cmd pc-after ok.sh | produce)
ok "and still answering" wait_for 30 has_reply "$id2"

# the topic really grows: a worker assigned a partition it never knew stops
# (on topics of its own: the command above waits for a next owner)
if ops/kafka/kafka.sh status >/dev/null 2>&1; then
    worker_env
    start_worker w2 "${meta[@]}"
    ok "w2 joins" wait_for 60 worker_assigned w2
    ops/kafka/kafka.sh topics --alter --topic "$FLOQ_TOPIC_COMMANDS" \
        --partitions $((P + 2)) >"$T/alter.log" 2>&1
    ok "w2 stops when the topic grows" wait_for 60 bash -c '! kill -0 $1 2>/dev/null' _ "${WPID[w2]}"
    ok "naming the new partition" worker_log_has w2 "its partition count changed"
    ok "with exit 2 (config)" wait_for 10 worker_log_has w2 "\\[worker\\] exit 2"
else
    echo "  (no kafka.sh cluster to alter topics in: growth step skipped)"
fi
finish
