#!/usr/bin/env bash
# itest: alone: its own cluster
# 0220 (G4, issue 10 item 1): reply_to cannot write anywhere. On a broker
# that auto-creates topics (its own, started here with kafka.sh
# --auto-create), a worker allowing "$ns.ok.*" besides its reply topic:
# 5 unsigned commands naming new reply topics create 0 topics and are
# REJECTED on the default reply topic; an allowed but missing topic is not
# created either; an allowed existing one gets the reply. Attacks on a
# victim deployment through reply_to = the deployments topic (command_id
# = the victim's name, a UUID hashing to its partition, a forged
# signature), and reply_to = __consumer_offsets, are all REJECTED on the
# default reply topic: the deployments topic holds only Deployment records
# and the victim still runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
[[ -x $TOOLS/floq_sign_tool ]] || { echo "  not built"; exit 77; }
command -v kcat >/dev/null || { echo "  kcat is required"; exit 77; }
T=$FLOQ_TEST_TMP
SIGN=$TOOLS/floq_sign_tool

# A broker of our own with auto.create.topics.enable=true.
KD=$T/kafka
free_port() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 50); do
    P=$((46000 + RANDOM % 3000))
    free_port "$P" && free_port $((P + 100)) && break
done
stop_own_broker() { cleanup; FLOQ_KAFKA_DIR=$KD ops/kafka/kafka.sh stop >/dev/null 2>&1; }
trap stop_own_broker EXIT
FLOQ_BROKERS=$(FLOQ_KAFKA_DIR=$KD FLOQ_KAFKA_PORT=$P ops/kafka/kafka.sh start --auto-create 2>"$T/kafka.log" | tail -1)
[[ -n $FLOQ_BROKERS ]] || { cat "$T/kafka.log"; fail "own broker"; finish; }
export FLOQ_BROKERS
ok "the broker auto-creates topics" grep -q '^auto.create.topics.enable=true' "$KD/node1/server.properties"

worker_env
ns=$FLOQ_TEST_NS
topics() { kcat -b "$FLOQ_BROKERS" -L -J 2>/dev/null | jq -r '.topics[].topic' | sort; }
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
umask 077
printf 'A=%s\n' "$(hex 32)" >"$T/keys"
printf 'A=%s\n' "$(hex 32)" >"$T/keys.forged"     # right id, wrong secret

start_worker w1 -o security.hmac.keys.file="$T/keys" \
    -o worker.reply.topics.allowed="$ns.ok.*"
ok "worker joins" wait_for 60 worker_assigned w1
deploy_cmd victim ok.sh "{x}" | produce >"$T/dep.id"
ok "victim deployed" wait_for 60 has_status "$(cat "$T/dep.id")" DEPLOYED
ok "allowed reply topic created" "$TOOL" create-topic --key "$ns.ok.real"
topics >"$T/topics.before"

status_to() { # REPLY_TO [EXTRA_JSON]: an unsigned status of victim
    jq -cn --arg r "$1" --argjson e "${2:-{\}}" \
        '{deployment: "victim", reply_to: $r, body: {StatusBody: {run_id: null}}} + $e'
}
# 1. five new topic names, 2. an allowed name that does not exist
{ for i in 1 2 3 4 5; do status_to "$ns.new$i"; done
  status_to "$ns.ok.missing"; } | produce >"$T/refused.ids"
# 3. an allowed topic that exists
good=$(status_to "$ns.ok.real" | produce)
# 4. the victim's name as command_id, its deployments topic as reply_to
status_to "$FLOQ_TOPIC_DEPLOYMENTS" '{"command_id":"victim"}' | produce >>"$T/refused.ids"
# 5. a UUID on the victim's partition
vp=$("$TOOL" partition --key victim)
while :; do
    cid=$(cat /proc/sys/kernel/random/uuid)
    [[ $("$TOOL" partition --key "$cid") == "$vp" ]] && break
done
status_to "$FLOQ_TOPIC_DEPLOYMENTS" "{\"command_id\":\"$cid\"}" | produce >>"$T/refused.ids"
# 6. Kafka's own topics
status_to __consumer_offsets | produce >>"$T/refused.ids"
# 7. a forged signature (refused by the signature check, answered where?)
fid=$(cat /proc/sys/kernel/random/uuid)
status_to "$FLOQ_TOPIC_DEPLOYMENTS" "{\"command_id\":\"$fid\",\"issued_at\":$(date +%s%3N),\"expires_at\":$(( $(date +%s%3N) + 600000 ))}" |
    "$SIGN" sign "$T/keys.forged" A >"$T/forged.bin"
"$TOOL" produce-raw "$T/forged.bin" --key victim
echo "$fid" >>"$T/refused.ids"

ok "every refused command answered" wait_for 60 all_final "$T/refused.ids"
R=$T/replies.json
replies_now "$R"
n=0
while read -r id; do
    [[ $(statuses "$R" "$id") == REJECTED ]] && n=$((n + 1))
done <"$T/refused.ids"
ok "all $(wc -l <"$T/refused.ids") REJECTED on the default reply topic ($n)" \
    test "$n" -eq "$(wc -l <"$T/refused.ids")"
ok "new names: 'not allowed'" \
    test "$(jq -r 'select(.reason // "" | test("is not allowed")) | .command_id' "$R" | wc -l)" -eq 5
ok "allowed but missing: 'does not exist'" \
    bash -c "jq -r '.reason // empty' '$R' | grep -q \"'$ns.ok.missing' does not exist\""
ok "victim's name as id: not a UUID" \
    bash -c "jq -r '.reason // empty' '$R' | grep -q 'not a canonical UUID'"
ok "deployments topic: one of floq's own" \
    bash -c "jq -r '.reason // empty' '$R' | grep -q 'own topics'"
ok "__consumer_offsets: internal" \
    bash -c "jq -r '.reason // empty' '$R' | grep -q 'internal topic'"
ok "forged: the signature reason" \
    test "$(reply_field "$R" "$fid" REJECTED reason)" = "signature check failed: signature does not match (key id 'A')"
good_reply() {
    FLOQ_TOPIC_REPLIES=$ns.ok.real "$TOOL" replies >"$T/ok.json"
    [[ $(statuses "$T/ok.json" "$good") == STATUS ]]
}
ok "allowed existing topic gets its reply" wait_for 60 good_reply
ok "... and not the default one" test -z "$(statuses "$R" "$good")"

topics >"$T/topics.after"
created=$(comm -13 "$T/topics.before" "$T/topics.after" | grep -c "^$ns" || true)
ok "0 topics created by lookups ($created: $(comm -13 "$T/topics.before" "$T/topics.after" | tr '\n' ' '))" \
    test "$created" -eq 0
"$TOOL" deployments >"$T/deps.json" 2>"$T/deps.err"
ok "the deployments topic holds only Deployment records" \
    bash -c "! grep -q offset '$T/deps.err' && test \$(wc -l <'$T/deps.json') -ge 1"
ok "the DLQ has every refused command" \
    bash -c "test \$('$TOOL' dlq | wc -l) -ge $(wc -l <"$T/refused.ids")"
run=$(run_cmd victim '{"x":"after"}' | produce)
ok "the victim still runs" wait_for 60 has_status "$run" SUCCEEDED
ok "worker still alive" worker_alive w1
finish
