# broker_lib.sh - a test's own Apache Kafka cluster (ops/kafka/kafka.sh),
# for fault tests that kill and restart brokers (0117, 0118), sourced after
# lib.sh. The cluster lives in $FLOQ_TEST_TMP/kafka on free ports of its
# own, never the suite's shared broker ($FLOQ_BROKERS as given by run.sh),
# and is killed when the test exits, even when it fails or is killed
# itself. Skips (77) without java or kcat.

KAFKA_SH=ops/kafka/kafka.sh
KDIR=$FLOQ_TEST_TMP/kafka
KNODES=1

command -v java >/dev/null && command -v kcat >/dev/null ||
    { echo "  java and kcat are needed for a broker of our own: skipped"; exit 77; }

# kafka CMD [ARGS...]: kafka.sh on this test's cluster.
kafka() { "$KAFKA_SH" "$@" --dir "$KDIR"; }

# port_free P: nothing listens on 127.0.0.1:P.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# broker_kill_all: SIGKILL every node of this test's cluster (its data is
# scratch); quiet, never fails.
broker_kill_all() {
    local i
    for ((i = 1; i <= KNODES; i++)); do kafka kill "$i" >/dev/null 2>&1; done
    return 0
}

# broker_start NODES [START_ARGS...]: start this test's own cluster on free
# ports (client ports P..P+NODES-1, the next NODES ports for a SASL_SSL
# listener when START_ARGS has --security sasl_ssl, controller ports
# P+100...), export FLOQ_BROKERS as its (PLAINTEXT) bootstrap address.
# START_ARGS go to `kafka.sh start`. A guard outside the test's process
# group kills the nodes when the test's shell is gone, however it ended
# (run.sh's timeout kills the whole group; the broker runs in a session of
# its own).
broker_start() {
    local n=$1 try p i free out failed=0
    shift
    KNODES=$n
    trap 'cleanup; broker_kill_all' EXIT
    trap 'exit 143' TERM INT
    setsid bash -c 'tail --pid="$1" -f /dev/null; for ((i = 1; i <= $3; i++)); do
        "$4" kill "$i" --dir "$2"; done >/dev/null 2>&1' _ $$ "$KDIR" "$n" \
        "$PWD/$KAFKA_SH" </dev/null >/dev/null 2>&1 &
    # below the kernel's ephemeral range (32768-60999 by default), so no
    # outgoing connection holds them; another start may still win a race
    # for a port (the node then fails to bind): try other ports, 3 times
    for try in 1 2 3 4 5 6; do
        p=$((20000 + (RANDOM % 1000) * 10))
        free=1
        for ((i = 0; i < n; i++)); do
            port_free $((p + i)) && port_free $((p + n + i)) &&
                port_free $((p + 100 + i)) || free=0
        done
        ((free)) || continue
        if out=$(kafka start --nodes "$n" --port "$p" "$@" 2>"$FLOQ_TEST_TMP/kafka-start.log" | tail -1) &&
            [[ -n $out ]]; then
            export FLOQ_BROKERS=$out
            echo "  own Kafka ($n node(s)) at $FLOQ_BROKERS in $KDIR"
            return 0
        fi
        ((++failed < 3)) || break
    done
    echo "  cannot start a broker of our own:"; tail -20 "$FLOQ_TEST_TMP/kafka-start.log"
    exit 1
}

# node_down I: `kafka.sh status` shows node I down.
node_down() { kafka status 2>/dev/null | grep -q "^node $1: down"; }

# node_port I: client port of node I.
node_port() { kafka status 2>/dev/null | sed -n "s/^node $1: .*127\.0\.0\.1:\([0-9]*\).*/\1/p"; }

# java_hash STR: Java's String.hashCode() of an ASCII STR (signed 32 bits).
java_hash() {
    local s=$1 h=0 i c
    for ((i = 0; i < ${#s}; i++)); do
        printf -v c '%d' "'${s:i:1}"
        h=$(( (h * 31 + c) & 0xFFFFFFFF ))
    done
    (( h >= 0x80000000 )) && h=$(( h - 0x100000000 ))
    echo "$h"
}

# coordinator_partition ID N: the partition of __transaction_state (for a
# transactional.id) or __consumer_offsets (for a group id) with N
# partitions that holds ID, as Kafka computes it: Utils.abs(hashCode) % N.
coordinator_partition() {
    local h
    h=$(java_hash "$1")
    (( h == -2147483648 )) && h=0
    echo $(( (h < 0 ? -h : h) % $2 ))
}

# metadata FILE: the cluster's metadata (kcat -L -J) in FILE.
metadata() { kcat -b "$FLOQ_BROKERS" -m 10 -L -J >"$1" 2>/dev/null; }

# leader_of FILE TOPIC PARTITION: the leader's node id in metadata FILE.
leader_of() {
    jq -r --arg t "$2" --argjson p "$3" \
        '.topics[] | select(.topic == $t) | .partitions[] | select(.partition == $p) | .leader' "$1"
}

# ------------------------------------------------ load for broker faults
# fault_load: the load 0117 and 0118 put on two workers before a broker
# fault (N short runs, SLOW runs of 4 s with a retry policy, six
# deployments of each). A third of the short runs go first, then the long
# ones, then the rest: when the fault hits, some runs have ended, the long
# ones hold the executor slots through it, short ones queue behind them and
# more commands are still unread. Writes the command ids to $T/short,
# $T/slow and $T/ids, and returns once at least 4 long runs are RUNNING.
fault_load() {
    local retry='{"max_attempts":3,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":2000,"jitter":0.1}' i
    {
        for i in 0 1 2 3 4 5; do
            deploy_cmd "slow$i" sleep.sh "{secs}" | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r'
            deploy_cmd "short$i" ok.sh "{n}"
        done
    } | produce >/dev/null
    fault_short_runs 1 $((N / 3)) | produce >"$T/short"
    for i in $(seq 1 "$SLOW"); do run_cmd "slow$((i % 6))" '{"secs":"4"}'; done | produce >"$T/slow"
    fault_short_runs $((N / 3 + 1)) "$N" | produce >>"$T/short"
    cat "$T/slow" "$T/short" >"$T/ids"
    ok "$((N + SLOW)) commands produced" test "$(wc -l <"$T/ids")" -eq $((N + SLOW))
    ok "long runs are running" wait_for 60 fault_slow_running
}
fault_short_runs() {
    local i
    for i in $(seq "$1" "$2"); do
        printf '{"deployment":"short%d","body":{"RunBody":{"params":{"n":"%d"}}}}\n' $((i % 6)) "$i"
    done
}
fault_slow_running() {
    "$TOOL" runs --latest >"$T/runs.json"
    [[ $(jq -r 'select(.status=="RUNNING" and (.deployment|startswith("slow")))|.run_id' "$T/runs.json" | wc -l) -ge 4 ]]
}

# fault_accounting: G1 after the fault, once every command of $T/ids has
# its final reply: exactly one final each, the short runs SUCCEEDED, the
# long ones SUCCEEDED (after a retry) or LOST, nothing left unfinished,
# and the workers w1 and w2 are the processes started before the fault.
fault_accounting() {
    local R=$T/replies.json
    assert_one_final "$T/ids" "$R"
    ok "short runs all SUCCEEDED" test "$(final_count "$T/short" "$R" SUCCEEDED)" -eq "$N"
    ok "long runs end SUCCEEDED or LOST" test "$(final_count "$T/slow" "$R" 'SUCCEEDED|LOST')" -eq "$SLOW"
    "$TOOL" runs --latest >"$T/runs.json"
    ok "no run left unfinished" test "$(jq -r 'select(.status|IN("SUCCEEDED","FAILED","CANCELLED","TIMED_OUT","LOST")|not)|.run_id' "$T/runs.json" | wc -l)" -eq 0
    echo "  retried runs: $(jq -r 'select(.attempt > 1)|.run_id' "$T/runs.json" | wc -l), LOST: $(jq -r 'select(.status=="LOST")|.run_id' "$T/runs.json" | wc -l)"
    ok "w1 still serving (never restarted)" worker_alive w1
    ok "w2 still serving (never restarted)" worker_alive w2
}
