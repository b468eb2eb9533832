#!/usr/bin/env bash
# kafka.sh - a real Apache Kafka broker (KRaft, no ZooKeeper, no Docker) on
# 127.0.0.1 for floq's integration, fault and bench tests and for local demos.
#
# The broker jars come from Maven Central through ops/kafka/pom.xml and are
# cached outside the repository (one folder per Kafka version, reused across
# runs). `start` formats fresh storage, launches one node (combined
# broker+controller) or three (a 3-voter quorum on one host) in the background,
# waits until every broker answers a metadata request, and prints the bootstrap
# address as the last line of stdout, so a caller can write
#     FLOQ_BROKERS=$(ops/kafka/kafka.sh start | tail -1)
# Everything else goes to stderr. `kill`/`restart-node` exist for fault tests.
# Run `kafka.sh --help` for the full usage.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly POM="$SCRIPT_DIR/pom.xml"
readonly DEFAULT_VERSION=3.9.1

# Settings (flags override the environment, which overrides the defaults).
VERSION=${FLOQ_KAFKA_VERSION:-$DEFAULT_VERSION}
RUN_DIR=${FLOQ_KAFKA_DIR:-/tmp/floq-kafka}
PORT=${FLOQ_KAFKA_PORT:-39092}
CACHE=${FLOQ_KAFKA_CACHE:-${HOME:-/tmp}/.cache/floq/kafka}
NODES=1
TIMEOUT=${FLOQ_KAFKA_TIMEOUT:-120}
STOP_TIMEOUT=30
CONTROLLER_OFFSET=100   # controller port of node i = PORT + 100 + i - 1
HEAP_OPTS=${FLOQ_KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}
JVM_OPTS=${FLOQ_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
VERSION_SET=0 PORT_SET=0 NODES_SET=0

usage() {
    cat <<EOF
kafka.sh - run a real Apache Kafka (KRaft) on 127.0.0.1 for floq's tests.

Usage:
  kafka.sh start [--nodes 1|3] [--version V] [--dir DIR] [--port P] [--timeout S]
      Fetch the jars if missing, format fresh storage (any previous data in
      DIR is wiped), start the node(s) in the background and wait until every
      broker answers (deadline --timeout, default 120 s; on timeout the log
      tail is printed, the started nodes are killed and the exit code is 1).
      Last stdout line: the bootstrap address, e.g. 127.0.0.1:39092 or
      127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39094. If a cluster already
      runs in DIR and matches the flags given (--nodes/--version/--port; ones
      not given match anything), it only waits for it and prints its address;
      a different one is an error (stop it first).
  kafka.sh stop [--dir DIR]
      SIGTERM all nodes, wait up to ${STOP_TIMEOUT} s, then SIGKILL; removes the pid
      files. Exit 0 (with a message) if nothing runs.
  kafka.sh status [--dir DIR]
      One line per node: up/down, pid, port. Exit 0 if all nodes run, 3 if
      some or all are down (as for a stopped cluster).
  kafka.sh kill NODE [--dir DIR]
      SIGKILL node NODE (1-based), for fault tests. Its data is kept.
  kafka.sh restart-node NODE [--dir DIR] [--timeout S]
      Start a killed (or stopped) node again with the same config and data,
      wait until it answers and, with 3 nodes, until all brokers are back.
  kafka.sh fetch [--version V]
      Only fetch the jars into the cache (CI warm-up). Prints the libs dir.
  kafka.sh topics [--dir DIR] ARGS...
      kafka-topics passthrough (org.apache.kafka.tools.TopicCommand) against
      the running cluster; --bootstrap-server is added unless given, e.g.
        kafka.sh topics --create --topic t --partitions 3
        kafka.sh topics --list
  kafka.sh bootstrap [--dir DIR]
      Print the bootstrap address of the running cluster.
  kafka.sh --help

Cluster layout:
  Every node is a combined broker+controller (process.roles=broker,controller)
  with a static quorum (controller.quorum.voters). Node i (1-based) listens on
  127.0.0.1:PORT+i-1 for clients and 127.0.0.1:PORT+${CONTROLLER_OFFSET}+i-1 for the
  controller quorum. Run dir layout: DIR/cluster.env (what was started),
  DIR/nodeI/{server.properties,server.log,kafka.pid,data/}.

Broker settings worth knowing:
  auto.create.topics.enable=false  floq creates its topics with the Admin API;
                                   use 'kafka.sh topics --create' in tests.
  1 node : offsets/transaction state replication 1, min.insync.replicas 1
  3 nodes: replication factor 3, min.insync.replicas 2 (also for
           __consumer_offsets and __transaction_state)
  num.partitions=1, group.initial.rebalance.delay.ms=0, transactions enabled,
  __consumer_offsets/__transaction_state with 10 partitions (quick to create).
  A killed node stays listed in metadata until broker.session.timeout.ms
  (6 s here, Kafka's default is 9 s) expires; a killed node restarted
  sooner waits for that too (DUPLICATE_BROKER_REGISTRATION until then).

Environment:
  FLOQ_KAFKA_VERSION  Kafka version (default ${DEFAULT_VERSION}); exact versions
                      only, e.g. 3.9.1, 4.1.1, 4.3.1
  FLOQ_KAFKA_DIR      run dir (default /tmp/floq-kafka)
  FLOQ_KAFKA_PORT     first client port (default 39092)
  FLOQ_KAFKA_CACHE    jar cache (default \$HOME/.cache/floq/kafka); jars go
                      to CACHE/VERSION/libs
  FLOQ_KAFKA_TIMEOUT  start/restart deadline in seconds (default 120)
  FLOQ_KAFKA_HEAP_OPTS  JVM heap flags per node (default -Xmx512m -Xms256m)
  FLOQ_KAFKA_JVM_OPTS   other JVM flags (default -XX:+UseSerialGC
                        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true)

Needs: java (17+), mvn (only to fetch), kcat (readiness checks).
EOF
}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- arguments

# parse_opts ARGS...: sets the globals; leftover positional args in REST.
REST=()
parse_opts() {
    while (($#)); do
        case $1 in
            --nodes)   NODES=${2:?--nodes needs a value}; NODES_SET=1; shift 2 ;;
            --version) VERSION=${2:?--version needs a value}; VERSION_SET=1; shift 2 ;;
            --dir)     RUN_DIR=${2:?--dir needs a value}; shift 2 ;;
            --port)    PORT=${2:?--port needs a value}; PORT_SET=1; shift 2 ;;
            --timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *)         REST+=("$1"); shift ;;
        esac
    done
    [[ $NODES == 1 || $NODES == 3 ]] || die "--nodes must be 1 or 3 (got $NODES)"
    [[ $PORT =~ ^[0-9]+$ ]] || die "--port must be a number (got $PORT)"
    [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be seconds (got $TIMEOUT)"
    [[ $RUN_DIR == /* ]] || RUN_DIR="$PWD/$RUN_DIR"
    [[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
        die "--version must be an exact version like 3.9.1 or 4.3.1 (got $VERSION)"
    return 0
}

# ---------------------------------------------------------------- jars

libs_dir() { echo "$CACHE/$1/libs"; }

# fetch_jars VERSION: copy kafka_2.13 (+ kafka-tools when Maven Central has
# it for this version) and their runtime deps into the cache, once.
fetch_jars() {
    local v=$1 libs tmp
    libs=$(libs_dir "$v")
    [[ -f $libs/.complete ]] && return 0
    command -v mvn >/dev/null || die "mvn not found: needed once to fetch Kafka $v"
    mkdir -p "$CACHE/$v"
    # Serialise concurrent fetches of the same version.
    exec 9>"$CACHE/$v/.lock"
    flock 9
    if [[ ! -f $libs/.complete ]]; then
        tmp="$CACHE/$v/libs.tmp.$$"
        rm -rf "$tmp"
        log "fetching Kafka $v jars into $libs"
        if mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" \
                -DincludeScope=runtime -Dkafka.version="$v" >"$CACHE/$v/mvn.log" 2>&1; then
            echo "tools=yes" >"$tmp/.complete"
        else
            # Some versions have a broker but no kafka-tools on Central.
            rm -rf "$tmp"
            log "no kafka-tools $v on Maven Central (see $CACHE/$v/mvn.log); fetching the broker only"
            mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" \
                -DincludeScope=runtime -Dkafka.version="$v" -Dfloq.notools >>"$CACHE/$v/mvn.log" 2>&1 ||
                { rm -rf "$tmp"; cat "$CACHE/$v/mvn.log" >&2; exec 9>&-;
                  die "could not fetch org.apache.kafka:kafka_2.13:$v (is it a released version?)"; }
            echo "tools=no" >"$tmp/.complete"
        fi
        rm -rf "$libs"
        mv "$tmp" "$libs"
    fi
    exec 9>&-
}

# has_class LIBS CLASS: is CLASS (dotted) in one of the jars? Jar central
# directories store names uncompressed, so grep finds them without unzip.
has_class() {
    local path="${2//.//}.class"
    LC_ALL=C grep -qaF "$path" "$1"/kafka*.jar 2>/dev/null
}

storage_tool_class() {
    local c
    for c in kafka.tools.StorageTool org.apache.kafka.tools.StorageTool; do
        has_class "$1" "$c" && { echo "$c"; return; }
    done
    die "no StorageTool class in $1"
}

topic_command_class() {
    local c
    for c in org.apache.kafka.tools.TopicCommand kafka.admin.TopicCommand; do
        has_class "$1" "$c" && { echo "$c"; return; }
    done
    return 1
}

# Short-lived tools: small heap, C1 only, quiet slf4j-simple.
run_tool() {
    local libs=$1; shift
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
        -cp "$libs/*" "$@"
}

# ---------------------------------------------------------------- cluster state

client_port()     { echo $((PORT + $1 - 1)); }
controller_port() { echo $((PORT + CONTROLLER_OFFSET + $1 - 1)); }
node_dir()        { echo "$RUN_DIR/node$1"; }
pid_file()        { echo "$RUN_DIR/node$1/kafka.pid"; }

bootstrap() {
    local i out=()
    for ((i = 1; i <= NODES; i++)); do out+=("127.0.0.1:$(client_port "$i")"); done
    (IFS=,; echo "${out[*]}")
}

save_state() {
    cat >"$RUN_DIR/cluster.env" <<EOF
# written by ops/kafka/kafka.sh start; read by stop/status/kill/restart-node
VERSION=$VERSION
NODES=$NODES
PORT=$PORT
CLUSTER_ID=$CLUSTER_ID
LIBS=$LIBS
EOF
}

# load_state: read what `start` recorded (fails if there is none).
load_state() {
    [[ -f $RUN_DIR/cluster.env ]] || return 1
    local k v
    while IFS='=' read -r k v; do
        case $k in
            VERSION) VERSION=$v ;; NODES) NODES=$v ;; PORT) PORT=$v ;;
            CLUSTER_ID) CLUSTER_ID=$v ;; LIBS) LIBS=$v ;;
        esac
    done <"$RUN_DIR/cluster.env"
}

# node_pid I: print the pid of node I if it is alive and really our broker.
node_pid() {
    local f pid cmd
    f=$(pid_file "$1")
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmd == *" kafka.Kafka $(node_dir "$1")/server.properties " ]] || return 1
    echo "$pid"
}

any_running() {
    local i
    for ((i = 1; i <= NODES; i++)); do node_pid "$i" >/dev/null && return 0; done
    return 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- config

write_config() {
    local i=$1 dir voters="" j rf isr
    dir=$(node_dir "$i")
    for ((j = 1; j <= NODES; j++)); do
        voters+="${voters:+,}$j@127.0.0.1:$(controller_port "$j")"
    done
    if ((NODES == 1)); then rf=1 isr=1; else rf=3 isr=2; fi
    mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<EOF
# generated by ops/kafka/kafka.sh (Kafka $VERSION, node $i of $NODES)
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(client_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$i")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data

# floq creates its topics with the Admin API; a typo must not create a topic.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
delete.topic.enable=true

# fault tests: a killed node is fenced (and may re-register after
# restart-node) after 6 s instead of Kafka's 9 s
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1500

# small, quick test broker
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
EOF
    if [[ ${VERSION%%.*} -ge 4 ]]; then
        cat >>"$dir/server.properties" <<EOF
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
EOF
    fi
}

format_storage() {
    local i=$1 dir cls
    dir=$(node_dir "$i")
    cls=$(storage_tool_class "$LIBS")
    run_tool "$LIBS" "$cls" format -t "$CLUSTER_ID" -c "$dir/server.properties" \
        >>"$dir/format.log" 2>&1 ||
        { cat "$dir/format.log" >&2; die "formatting node $i failed"; }
}

# launch_node I: start node I in the background (own session, so it outlives
# the caller's terminal and process group), stdout+stderr to its log.
launch_node() {
    local i=$1 dir pid
    dir=$(node_dir "$i")
    port_busy "$(client_port "$i")" && die "port $(client_port "$i") is already in use"
    port_busy "$(controller_port "$i")" && die "port $(controller_port "$i") is already in use"
    {
        echo "=== $(date '+%F %T') kafka.sh: starting node $i (Kafka $VERSION)"
    } >>"$dir/server.log"
    # shellcheck disable=SC2086  # the option strings are word lists
    setsid java $HEAP_OPTS $JVM_OPTS \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss,SSS" \
        -Dorg.slf4j.simpleLogger.logFile=System.out \
        -Dkafka.logs.dir="$dir" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$dir/server.log" 2>&1 &
    pid=$!
    echo "$pid" >"$(pid_file "$i")"
    # Until the background child has exec'd java its cmdline is still this
    # script's, and node_pid (hence wait_ready) would take the node for
    # dead; on a busy host that window is long enough for restart-node to
    # give up on, and then kill, a healthy node.
    local until=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ! node_pid "$i" >/dev/null &&
        ((SECONDS < until)); do
        sleep 0.05
    done
    log "node $i: pid $pid, 127.0.0.1:$(client_port "$i"), log $dir/server.log"
}

# ---------------------------------------------------------------- readiness

# brokers_seen PORT: how many brokers a metadata request to PORT reports.
brokers_seen() {
    port_busy "$1" || return 0   # not listening yet: skip kcat's own wait
    timeout 10 kcat -b "127.0.0.1:$1" -L -m 5 -t __floq_probe 2>/dev/null |
        sed -n 's/^ *\([0-9][0-9]*\) brokers:$/\1/p' | head -1 || true
}

# wait_ready NODE...: until each node answers metadata listing all NODES
# brokers. On deadline or if a node dies: log tails, kill what we started.
wait_ready() {
    local deadline=$((SECONDS + TIMEOUT)) i n pending
    command -v kcat >/dev/null || die "kcat not found (needed to check readiness)"
    while :; do
        pending=()
        for i in "$@"; do
            if ! node_pid "$i" >/dev/null; then
                fail_start "node $i exited during start-up" "$@"
            fi
            n=$(brokers_seen "$(client_port "$i")")
            [[ ${n:-0} -ge $NODES ]] || pending+=("$i")
        done
        ((${#pending[@]} == 0)) && return 0
        ((SECONDS >= deadline)) &&
            fail_start "not ready after ${TIMEOUT}s (waiting for node ${pending[*]})" "$@"
        sleep 0.5
    done
}

fail_start() {
    local msg=$1 i; shift
    log "error: $msg"
    for i in "$@"; do
        log "---- last lines of $(node_dir "$i")/server.log"
        tail -n 40 "$(node_dir "$i")/server.log" >&2 || true
    done
    for i in "$@"; do kill_node "$i" quiet; done
    exit 1
}

# ---------------------------------------------------------------- stop/kill

kill_node() {
    local i=$1 pid
    if pid=$(node_pid "$i"); then
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        [[ ${2:-} == quiet ]] || log "node $i (pid $pid) killed"
    else
        [[ ${2:-} == quiet ]] || log "node $i is not running"
    fi
    rm -f "$(pid_file "$i")"
}

stop_all() {
    local i pids=() nodes=() deadline pid
    for ((i = 1; i <= NODES; i++)); do
        if pid=$(node_pid "$i"); then pids+=("$pid"); nodes+=("$i"); fi
    done
    if ((${#pids[@]} == 0)); then
        log "nothing running in $RUN_DIR"
        for ((i = 1; i <= NODES; i++)); do rm -f "$(pid_file "$i")"; done
        return 0
    fi
    # All at once: stopping one by one can leave the last nodes without a
    # controller quorum, and their controlled shutdown then waits.
    log "stopping node(s) ${nodes[*]} (pids ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid still alive after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    done
    for ((i = 1; i <= NODES; i++)); do rm -f "$(pid_file "$i")"; done
    log "stopped"
}

# ---------------------------------------------------------------- commands

cmd_fetch() {
    fetch_jars "$VERSION"
    libs_dir "$VERSION"
}

cmd_start() {
    local i want_v=$VERSION want_n=$NODES want_p=$PORT t0=$SECONDS
    command -v java >/dev/null || die "java not found (Kafka needs Java 17+)"
    if load_state && any_running; then
        if { ((!VERSION_SET)) || [[ $want_v == "$VERSION" ]]; } &&
           { ((!NODES_SET)) || [[ $want_n == "$NODES" ]]; } &&
           { ((!PORT_SET)) || [[ $want_p == "$PORT" ]]; }; then
            local all=()
            for ((i = 1; i <= NODES; i++)); do all+=("$i"); done
            log "already running in $RUN_DIR (Kafka $VERSION, $NODES node(s))"
            wait_ready "${all[@]}"
            bootstrap
            return 0
        fi
        die "a different cluster (Kafka $VERSION, $NODES node(s), port $PORT) runs in $RUN_DIR: run 'kafka.sh stop' first"
    fi
    VERSION=$want_v NODES=$want_n PORT=$want_p
    fetch_jars "$VERSION"
    LIBS=$(libs_dir "$VERSION")
    # A base64url id; one starting with '-' would be read as an option by
    # kafka-storage's argument parser (1 start in 64 failed that way).
    CLUSTER_ID=-
    while [[ $CLUSTER_ID == -* ]]; do
        CLUSTER_ID=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    for ((i = 1; i <= NODES; i++)); do
        port_busy "$(client_port "$i")" && die "port $(client_port "$i") is already in use (another broker? try --port)"
    done
    # Fresh cluster: wipe the old node folders, keep nothing else of ours.
    mkdir -p "$RUN_DIR"
    rm -rf "$RUN_DIR"/node[0-9]* "$RUN_DIR/cluster.env"
    save_state
    local all=()
    for ((i = 1; i <= NODES; i++)); do
        write_config "$i"
        format_storage "$i"
        all+=("$i")
    done
    for i in "${all[@]}"; do launch_node "$i"; done
    wait_ready "${all[@]}"
    log "Kafka $VERSION ready with $NODES node(s) in $((SECONDS - t0))s"
    bootstrap
}

cmd_stop() {
    if ! load_state; then
        log "nothing running in $RUN_DIR (no cluster.env)"
        return 0
    fi
    stop_all
}

cmd_status() {
    load_state || { log "no cluster in $RUN_DIR"; return 3; }
    local i pid down=0 n
    echo "Kafka $VERSION, $NODES node(s), dir $RUN_DIR, bootstrap $(bootstrap)"
    for ((i = 1; i <= NODES; i++)); do
        if pid=$(node_pid "$i"); then
            n=$(brokers_seen "$(client_port "$i")")
            echo "node $i: up   pid $pid  127.0.0.1:$(client_port "$i")  sees ${n:-?} broker(s)"
        else
            echo "node $i: down            127.0.0.1:$(client_port "$i")"
            down=1
        fi
    done
    ((down == 0)) || return 3
}

node_arg() {
    local n=${REST[0]:-}
    if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > NODES)); then
        die "need a node number between 1 and $NODES (got '${n}')"
    fi
    echo "$n"
}

cmd_kill() {
    load_state || die "no cluster in $RUN_DIR"
    local n
    n=$(node_arg)
    kill_node "$n"
}

cmd_restart_node() {
    load_state || die "no cluster in $RUN_DIR"
    local n t0=$SECONDS
    n=$(node_arg)
    node_pid "$n" >/dev/null && die "node $n is running; 'kafka.sh kill $n' first"
    [[ -f $(node_dir "$n")/server.properties ]] || die "node $n was never started"
    launch_node "$n"
    wait_ready "$n"
    log "node $n back in $((SECONDS - t0))s"
}

cmd_topics() {
    load_state || die "no cluster in $RUN_DIR: start one first"
    local libs=$LIBS cls
    if ! cls=$(topic_command_class "$libs"); then
        # This version has no kafka-tools on Central: use the default
        # version's tools; they are a client and speak to any 3.x/4.x broker.
        fetch_jars "$DEFAULT_VERSION"
        libs=$(libs_dir "$DEFAULT_VERSION")
        cls=$(topic_command_class "$libs") || die "no TopicCommand in $libs"
    fi
    local a has_bs=0
    for a in "${REST[@]}"; do [[ $a == --bootstrap-server ]] && has_bs=1; done
    if ((has_bs)); then
        run_tool "$libs" "$cls" "${REST[@]}"
    else
        run_tool "$libs" "$cls" --bootstrap-server "$(bootstrap)" "${REST[@]}"
    fi
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        -h|--help|help) usage ;;
        "") usage >&2; exit 2 ;;
        start|stop|status|kill|restart-node|fetch|topics|bootstrap)
            if [[ $cmd == topics ]]; then
                # Only --dir is ours; everything else goes to kafka-topics.
                while (($#)); do
                    if [[ $1 == --dir ]]; then RUN_DIR=${2:?}; shift 2
                    else REST+=("$1"); shift; fi
                done
            else
                parse_opts "$@"
            fi
            case $cmd in
                start) cmd_start ;;
                stop) cmd_stop ;;
                status) cmd_status ;;
                kill) cmd_kill ;;
                restart-node) cmd_restart_node ;;
                fetch) cmd_fetch ;;
                topics) cmd_topics ;;
                bootstrap) load_state || die "no cluster in $RUN_DIR"; bootstrap ;;
            esac ;;
        *) log "unknown command '$cmd'"; usage >&2; exit 2 ;;
    esac
}

main "$@"
