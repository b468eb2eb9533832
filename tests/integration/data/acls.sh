# acls.sh - the least-privilege Kafka ACL set of each floq component, as
# docs/security.md, "Kafka ACLs per component" documents them, for tests against a broker started
# with `kafka.sh start --authorizer` (sourced after broker_lib.sh). Each
# acls_COMPONENT function prints one `kafka-acls --add` argument list per
# line (resource names come from the test's FLOQ_TOPIC_* and group
# variables); acl_add / acl_remove apply lines of it through `kafka.sh
# acls`, which runs as the admin super user over SASL_SSL.

# acls_worker PRINCIPAL TXN_PREFIX: floq-worker with topic.create=false and
# the topics made beforehand. Consumes the commands topic in its group,
# restores the state topics by assign() (no group ACL needed), writes
# every topic inside transactions of its transactional id floq-<worker.id>
# (any id starting with TXN_PREFIX), including the commands topic
# (forwarding to a command's home partition).
acls_worker() {
    echo "--allow-principal $1 --operation Read --operation Write --topic $FLOQ_TOPIC_COMMANDS"
    echo "--allow-principal $1 --operation Read --operation Write --topic $FLOQ_TOPIC_DEPLOYMENTS --topic $FLOQ_TOPIC_SCHEDULES --topic $FLOQ_TOPIC_RUNS"
    echo "--allow-principal $1 --operation Write --topic $FLOQ_TOPIC_REPLIES --topic $FLOQ_TOPIC_LINEAGE --topic $FLOQ_TOPIC_DLQ"
    echo "--allow-principal $1 --operation Read --group $FLOQ_GROUP_ID"
    echo "--allow-principal $1 --operation Write --transactional-id $2 --resource-pattern-type prefixed"
}

# acls_producer PRINCIPAL: the floq CLI / libfloq. Writes commands with an
# idempotent producer (Write on a topic is enough for its producer id since
# Kafka 3.0, KIP-679: no IdempotentWrite on the cluster), reads replies by
# assign() (no group ACL needed).
acls_producer() {
    echo "--allow-principal $1 --operation Write --topic $FLOQ_TOPIC_COMMANDS"
    echo "--allow-principal $1 --operation Read --topic $FLOQ_TOPIC_REPLIES"
}

# acls_producer_status PRINCIPAL: what `floq status RUN_ID` needs besides
# (it reads the runs topic to find the run's deployment).
acls_producer_status() {
    echo "--allow-principal $1 --operation Read --topic $FLOQ_TOPIC_RUNS"
}

# acls_lineage PRINCIPAL GROUP DLQ_TOPIC: floq-lineage forward. Consumes the
# lineage topic in GROUP (commits offsets) and dead-letters to DLQ_TOPIC.
acls_lineage() {
    echo "--allow-principal $1 --operation Read --topic $FLOQ_TOPIC_LINEAGE"
    echo "--allow-principal $1 --operation Read --group $2"
    echo "--allow-principal $1 --operation Write --topic $3"
}

# acls_console PRINCIPAL: a read-only console (floq-lineage tail/graph,
# any read_committed consumer of replies and state). Reads by assign().
acls_console() {
    echo "--allow-principal $1 --operation Read --topic $FLOQ_TOPIC_REPLIES --topic $FLOQ_TOPIC_LINEAGE --topic $FLOQ_TOPIC_RUNS --topic $FLOQ_TOPIC_DEPLOYMENTS --topic $FLOQ_TOPIC_SCHEDULES"
}

# acl_add LINE...: add each ACL line (quiet; the output goes to
# $FLOQ_TEST_TMP/acls.log). acl_remove LINE...: remove them.
acl_add() { _acl --add "$@"; }
acl_remove() { _acl --remove --force "$@"; }
_acl() {
    local op=("$1") line
    shift
    [[ ${op[0]} == --remove ]] && { op+=("$1"); shift; }
    for line in "$@"; do
        # shellcheck disable=SC2086  # a line is a word list
        kafka acls "${op[@]}" $line >>"$FLOQ_TEST_TMP/acls.log" 2>&1 || return 1
    done
}

# acl_count PRINCIPAL: how many ACL bindings PRINCIPAL has.
acl_count() {
    kafka acls --list --principal "$1" 2>>"$FLOQ_TEST_TMP/acls.log" |
        grep -c "principal=$1,"
}
