#!/usr/bin/env bash
# itest: alone: its own cluster
# 0230 (docs/security.md, "Kafka ACLs per component"): the Kafka ACLs of each floq component,
# tried against a broker that enforces them (kafka.sh start --authorizer:
# KRaft's StandardAuthorizer, allow.everyone.if.no.acl.found=false, one
# SASL user per component). The admin super user creates the topics and
# the ACLs of data/acls.sh (the sets the doc lists); topic.create is off.
# With exactly its ACLs each component does its job over SASL_SSL: the
# worker deploys and runs a job to SUCCEEDED, the CLI publishes and reads
# the replies, floq-lineage forward POSTs the run's events, a read-only
# console tails lineage and reads replies and state but cannot publish.
# With one essential ACL removed each fails within a bound, saying which
# authorization failed: the CLI without Write on commands (exit 1), the
# worker without its group (exit 1; it used to idle in the group for
# ever) or its transactional id (exit 1), the forwarder without its group
# (exit 1; it used to idle too), the console without Read on lineage. A
# worker without Write on the replies topic aborts and retries, logging
# the authorization error, and answers the command once the ACL is back
# (nothing lost).
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq && -x $BIN/floq-lineage ]] ||
    { echo "  floq programs not built"; exit 77; }
command -v openssl >/dev/null || { echo "  openssl is needed: skipped"; exit 77; }
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/broker_lib.sh"
broker_start 1 --authorizer --users worker,producer,lineage,console
source "$(dirname "$0")/data/acls.sh"
T=$FLOQ_TEST_TMP
TLS=$KDIR/tls
PLAIN=$FLOQ_BROKERS          # ANONYMOUS, a super user: the test's own eyes
SB=$(kafka bootstrap --security sasl_ssl)
export FLOQ_BROKERS=$SB      # every floq component talks SASL_SSL
export FLOQ_TOPIC_PARTITIONS=2
worker_env
export FLOQ_TOPIC_CREATE=false
FWD_GROUP=$FLOQ_TEST_NS.forward
LDLQ=$FLOQ_TEST_NS.lineage.dlq

# sasl USER: the librdkafka settings of USER, its password from a file
sasl() {
    echo "-X security.protocol=sasl_ssl -X ssl.ca.location=$TLS/ca.pem" \
         "-X sasl.mechanisms=PLAIN -X sasl.username=$1" \
         "-o sasl.password.file=$TLS/user-$1.password"
}
# shellcheck disable=SC2207
W_SASL=($(sasl worker)) P_SASL=($(sasl producer)) L_SASL=($(sasl lineage)) C_SASL=($(sasl console))
FLOQ=("$BIN/floq" "${P_SASL[@]}")

# timed LIMIT_S OUT CMD...: run CMD with stdout+stderr in OUT; its exit
# code in $RC; false when it took more than LIMIT_S seconds.
timed() {
    local limit=$1 out=$2 t0 ms; shift 2
    t0=$(date +%s%N)
    "$@" >"$out" 2>&1
    RC=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "    (exit $RC in ${ms} ms)"
    (( ms <= limit * 1000 ))
}

# the admin super user creates the topics over SASL_SSL
ADMIN=(--bootstrap-server "$SB" --command-config "$TLS/admin.properties")
for t in "$FLOQ_TOPIC_COMMANDS" "$FLOQ_TOPIC_REPLIES" "$FLOQ_TOPIC_LINEAGE" \
         "$FLOQ_TOPIC_DLQ" "$LDLQ"; do
    kafka topics "${ADMIN[@]}" --create --topic "$t" --partitions 2 >>"$T/topics.log" 2>&1
done
for t in "$FLOQ_TOPIC_DEPLOYMENTS" "$FLOQ_TOPIC_SCHEDULES" "$FLOQ_TOPIC_RUNS"; do
    kafka topics "${ADMIN[@]}" --create --topic "$t" --partitions 2 \
        --config cleanup.policy=compact >>"$T/topics.log" 2>&1
done
ok "the admin created 8 topics over SASL_SSL" test "$(grep -c '^Created topic' "$T/topics.log")" -eq 8

# no ACL yet: the CLI is refused at once, and says why
timed 15 "$T/noacl.out" "${FLOQ[@]}" -t 10s deploy hello -- "$DATA/ok.sh" '{who}'
ok "CLI without ACLs fails within 15 s (exit $RC)" test $? -eq 0 -a "$RC" -ne 0
ok "... saying the topic is not authorized" grep -q 'Topic authorization failed' "$T/noacl.out"

mapfile -t WACL < <(acls_worker User:worker "floq-w1-")
mapfile -t PACL < <(acls_producer User:producer)
mapfile -t LACL < <(acls_lineage User:lineage "$FWD_GROUP" "$LDLQ")
mapfile -t CACL < <(acls_console User:console)
ok "ACLs added" acl_add "${WACL[@]}" "${PACL[@]}" "${LACL[@]}" "${CACL[@]}"
echo "  ACL bindings: worker $(acl_count User:worker), producer $(acl_count User:producer)," \
     "lineage $(acl_count User:lineage), console $(acl_count User:console)"

# ---- each component with exactly its ACLs
start_worker w1 "${W_SASL[@]}"
ok "worker joins with its ACLs" wait_for 60 worker_assigned w1
timed 60 "$T/deploy.out" "${FLOQ[@]}" -t 45s deploy hello -- "$DATA/ok.sh" '{who}'
ok "CLI deploy exits 0 (exit $RC)" test "$RC" -eq 0
ok "... DEPLOYED" grep -q '^DEPLOYED deployment=hello' "$T/deploy.out"
timed 60 "$T/run.out" "${FLOQ[@]}" -t 45s run hello -p who=acl --wait
ok "CLI run --wait exits 0 (exit $RC)" test "$RC" -eq 0
ok "... the run SUCCEEDED" bash -c "tail -1 '$T/run.out' | grep -q '^SUCCEEDED .*exit_code=0'"
RUN_ID=$(sed -n 's/^SUCCEEDED .*run_id=\([^ ]*\).*/\1/p' "$T/run.out")
# status by run id reads the runs topic: one ACL more
timed 15 "$T/status-run.out" "${FLOQ[@]}" -t 10s status "$RUN_ID"
ok "CLI status RUN_ID without Read on runs fails within 15 s (exit $RC)" test $? -eq 0 -a "$RC" -eq 1
ok "... saying topic authorization failed" \
    grep -q "topic '$FLOQ_TOPIC_RUNS': .*Topic authorization failed" "$T/status-run.out"
mapfile -t PSACL < <(acls_producer_status User:producer)
acl_add "${PSACL[@]}"
timed 30 "$T/status-run2.out" "${FLOQ[@]}" -t 20s status "$RUN_ID"
ok "... and with it: STATUS of the run (exit $RC)" grep -q "^STATUS .*run_id=$RUN_ID" "$T/status-run2.out"
acl_remove "${PSACL[@]}"

bg sink /usr/bin/python3 "$DATA/lineage_sink.py" --log "$T/requests.jsonl" --port-file "$T/port"
ok "sink listening" wait_for 20 test -s "$T/port"
URL=http://127.0.0.1:$(<"$T/port")/api/v1/lineage
bg forward "$BIN/floq-lineage" "${L_SASL[@]}" -t "$FLOQ_TOPIC_LINEAGE" forward \
    --url "$URL" --group "$FWD_GROUP" --dlq-topic "$LDLQ"
fwd_pid=$!
forwarded() {
    [[ $(jq -r --arg r "$RUN_ID" 'select(.status == 201 and .body.run.runId == $r) | .body.eventType' \
        "$T/requests.jsonl" 2>/dev/null | sort -u | tr '\n' ' ') == "COMPLETE START " ]]
}
ok "forwarder POSTs the run's START and COMPLETE" wait_for 30 forwarded
kill -TERM "$fwd_pid"; wait "$fwd_pid"
ok "... and stops cleanly (exit $?)" test $? -eq 0

timed 20 "$T/tail.out" "$BIN/floq-lineage" "${C_SASL[@]}" -t "$FLOQ_TOPIC_LINEAGE" tail --from-beginning -e
ok "console tails lineage (exit $RC)" test "$RC" -eq 0
ok "... START and COMPLETE of the run" \
    bash -c "grep -q 'START .*hello run $RUN_ID' '$T/tail.out' && grep -q 'COMPLETE .*hello run $RUN_ID' '$T/tail.out'"
# shellcheck disable=SC2046
kcat -F "$TLS/user-console.properties" -b "$SB" -C -e -o beginning -q \
    -X isolation.level=read_committed -t "$FLOQ_TOPIC_REPLIES" -f '%k\n' >"$T/reply-keys" 2>"$T/kcat.log"
ok "console reads the replies (read_committed)" test "$(wc -l <"$T/reply-keys")" -ge 4
kcat -F "$TLS/user-console.properties" -b "$SB" -C -e -o beginning -q \
    -X isolation.level=read_committed -t "$FLOQ_TOPIC_RUNS" -f '%k\n' >"$T/run-keys" 2>>"$T/kcat.log"
ok "console reads the runs topic" grep -qxF "$RUN_ID" "$T/run-keys"
timed 15 "$T/console-status.out" "$BIN/floq" "${C_SASL[@]}" -t 10s status hello
ok "console cannot publish a command: exit $RC within 15 s" test $? -eq 0 -a "$RC" -ne 0
ok "... topic authorization failed" grep -q 'Topic authorization failed' "$T/console-status.out"
echo x | kcat -F "$TLS/user-console.properties" -b "$SB" -P -t "$FLOQ_TOPIC_COMMANDS" \
    -X message.timeout.ms=5000 >"$T/console-kcat.out" 2>&1
ok "... not even with kcat" grep -q 'authorization failed' "$T/console-kcat.out"

# ---- one essential ACL removed
# worker_gone NAME: the worker exited. worker_reap NAME: its exit code in
# WRC[NAME] (one still running after its deadline is killed: 137).
worker_gone() { ! worker_alive "$1"; }
declare -A WRC
worker_reap() {
    worker_alive "$1" && kill -KILL "${WPID[$1]}"
    wait "${WPID[$1]}"; WRC[$1]=$?
}
# CLI without Write on commands
acl_remove "${PACL[0]}"
timed 15 "$T/p-nowrite.out" "${FLOQ[@]}" -t 10s run hello
ok "CLI without Write on commands fails within 15 s (exit $RC)" test $? -eq 0 -a "$RC" -eq 1
ok "... saying topic authorization failed" grep -q "topic '$FLOQ_TOPIC_COMMANDS': .*Topic authorization failed" "$T/p-nowrite.out"
acl_add "${PACL[0]}"

# worker without Write on replies: aborts and retries, nothing lost
acl_remove "${WACL[2]}"
acl_add "--allow-principal User:worker --operation Write --topic $FLOQ_TOPIC_LINEAGE --topic $FLOQ_TOPIC_DLQ"
id=$(deploy_cmd hello2 ok.sh '{who}' | FLOQ_BROKERS=$PLAIN produce)
# The refusal reaches the worker either as the produce's delivery report
# or, when the transaction's AddPartitions is answered first, as
# librdkafka's line naming the partition; both name the topic.
replies_refused() {
    worker_log_has w1 "cannot produce to '$FLOQ_TOPIC_REPLIES': Broker: Topic authorization failed" ||
        worker_log_has w1 "Failed to add partition \"$FLOQ_TOPIC_REPLIES\" \[[0-9]*\] to transaction: Broker: Topic authorization failed"
}
ok "worker without Write on replies logs the authorization error, naming the topic" \
    wait_for 30 replies_refused
FLOQ_BROKERS=$PLAIN replies_now "$T/r1.json"
ok "... and publishes no reply" test "$(finals "$T/r1.json" "$id")" -eq 0
acl_add "${WACL[2]}"
answered() { FLOQ_BROKERS=$PLAIN has_final "$id"; }
ok "... the command is answered once the ACL is back" wait_for 60 answered
# the restores after those aborts read by assign() under a placeholder
# group that needs no ACL: no group authorization warning from them
ok "... and its restores warn of no group authorization" \
    bash -c "! grep -q 'WARN  \[restore\].*Group authorization failed' '$T/w1.log'"
kill -TERM "${WPID[w1]}"; wait "${WPID[w1]}"
ok "worker w1 drains and exits 0 (exit $?)" test $? -eq 0

# worker without its group
acl_remove "${WACL[3]}"
acl_add "--allow-principal User:worker --operation Write --transactional-id floq-w2-$$"
start_worker w2 "${W_SASL[@]}"
ok "worker without its group ACL exits within 30 s" wait_for 30 worker_gone w2
worker_reap w2
ok "... with exit 1 (${WRC[w2]})" test "${WRC[w2]}" -eq 1
ok "... saying group authorization failed" worker_log_has w2 'Group authorization failed.*lacks a Kafka ACL'
acl_add "${WACL[3]}"

# worker without its transactional id (w3 has none)
start_worker w3 "${W_SASL[@]}"
ok "worker without its transactional-id ACL exits within 60 s" wait_for 60 worker_gone w3
worker_reap w3
ok "... with exit 1 (${WRC[w3]})" test "${WRC[w3]}" -eq 1
ok "... saying transactional id authorization failed" worker_log_has w3 'Transactional Id authorization failed'

# forwarder without its group
acl_remove "${LACL[1]}"
timed 30 "$T/fwd-nogroup.log" timeout 40 "$BIN/floq-lineage" "${L_SASL[@]}" -t "$FLOQ_TOPIC_LINEAGE" forward \
    --url "$URL" --group "$FWD_GROUP" --dlq-topic "$LDLQ"
ok "forwarder without its group ACL exits within 30 s (exit $RC)" test $? -eq 0 -a "$RC" -ne 0
ok "... saying group authorization failed" grep -q 'Group authorization failed' "$T/fwd-nogroup.log"

# console without Read on lineage
acl_remove "--allow-principal User:console --operation Read --topic $FLOQ_TOPIC_LINEAGE"
timed 20 "$T/tail-noread.out" timeout 30 "$BIN/floq-lineage" "${C_SASL[@]}" -t "$FLOQ_TOPIC_LINEAGE" tail -e
ok "console without Read on lineage exits within 20 s (exit $RC)" test $? -eq 0 -a "$RC" -ne 0
ok "... saying topic authorization failed" grep -q "Topic authorization failed" "$T/tail-noread.out"
finish
