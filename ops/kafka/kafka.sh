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
# `start --security sasl_ssl` also opens a SASL_SSL listener per node (TLS
# with a throw-away CA made by openssl, SASL/PLAIN and SCRAM-SHA-256) for
# tests of floq's TLS and SASL settings; `--authorizer` adds Kafka's
# StandardAuthorizer (ACLs), an admin super user and SASL users of one's
# own (`--users`) for tests of the ACLs each floq component needs.
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
SECURITY=plaintext      # or sasl_ssl: an extra SASL_SSL listener per node
SASL_USER=floq          # the client user of the SASL_SSL listener
AUTO_CREATE=false       # --auto-create: auto.create.topics.enable=true
ADMIN_USER=admin        # the super user of --authorizer
AUTHORIZER=0            # 1: StandardAuthorizer, ACLs enforced
USERS=""                # extra SASL users (--users), comma-separated
VERSION_SET=0 PORT_SET=0 NODES_SET=0 SECURITY_SET=0 AUTO_CREATE_SET=0
AUTHORIZER_SET=0 USERS_SET=0

usage() {
    cat <<EOF
kafka.sh - run a real Apache Kafka (KRaft) on 127.0.0.1 for floq's tests.

Usage:
  kafka.sh start [--nodes 1|3] [--version V] [--dir DIR] [--port P] [--timeout S]
                 [--security plaintext|sasl_ssl] [--auto-create]
                 [--authorizer] [--users U1,U2,...]
      Fetch the jars if missing, format fresh storage (any previous data in
      DIR is wiped), start the node(s) in the background and wait until every
      broker answers (deadline --timeout, default 120 s; on timeout the log
      tail is printed, the started nodes are killed and the exit code is 1).
      Last stdout line: the bootstrap address, e.g. 127.0.0.1:39092 or
      127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39094. If a cluster already
      runs in DIR and matches the flags given (--nodes/--version/--port/
      --security; ones not given match anything), it only waits for it and
      prints its address; a different one is an error (stop it first).
      --security sasl_ssl: see "SASL_SSL listener" below; the last stdout
      line stays the PLAINTEXT bootstrap.
      --auto-create: the broker auto-creates topics a client asks for
      (auto.create.topics.enable=true), for tests that prove floq's clients
      never create a topic by looking it up (0220).
      --authorizer (implies --security sasl_ssl): ACLs enforced, see
      "Authorizer" below. --users: more SASL users (letters, digits, '_',
      '-'), each with a password and client config of its own.
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
  kafka.sh bootstrap [--dir DIR] [--security sasl_ssl]
      Print the bootstrap address of the running cluster (with --security
      sasl_ssl: of its SASL_SSL listeners; an error if it has none).
  kafka.sh acls [--dir DIR] ARGS...
      kafka-acls passthrough (AclCommand) as the admin super user over
      SASL_SSL (a cluster started with --authorizer); --bootstrap-server and
      --command-config are added unless given, e.g.
        kafka.sh acls --add --allow-principal User:worker \\
            --operation Read --topic floq.commands
        kafka.sh acls --list
  kafka.sh --help

Cluster layout:
  Every node is a combined broker+controller (process.roles=broker,controller)
  with a static quorum (controller.quorum.voters). Node i (1-based) listens on
  127.0.0.1:PORT+i-1 for clients and 127.0.0.1:PORT+${CONTROLLER_OFFSET}+i-1 for the
  controller quorum. Run dir layout: DIR/cluster.env (what was started),
  DIR/nodeI/{server.properties,server.log,kafka.pid,data/}.

SASL_SSL listener (start --security sasl_ssl):
  Node i also listens on 127.0.0.1:PORT+NODES+i-1 (one node: PORT+1) with
  security.protocol SASL_SSL: TLS with a broker certificate for IP
  127.0.0.1 (and DNS localhost) signed by a CA made afresh by openssl at
  each start, no client certificates; SASL mechanisms PLAIN and
  SCRAM-SHA-256, one user '${SASL_USER}' with a random password (SCRAM with Kafka
  4.x needs librdkafka >= 2.6.1; floq's and kcat's 2.0.2 use PLAIN there).
  The PLAINTEXT and controller listeners are unchanged (inter-broker
  traffic stays PLAINTEXT).
  Files, in DIR/tls/ (printed on stderr at start):
    ca.pem             the CA certificate clients trust (ssl.ca.location)
    client.password    the password of '${SASL_USER}', one line (mode 600), for
                       floq's sasl.password.file
    client.properties  librdkafka settings with the password (mode 600):
                       kcat -F DIR/tls/client.properties -b BOOTSTRAP -L
    ca.key, broker.*   the CA's key and the broker's key and certificate
  A floq program over it:
    floq-worker -b \$(kafka.sh bootstrap --security sasl_ssl) \\
        -X security.protocol=sasl_ssl -X ssl.ca.location=DIR/tls/ca.pem \\
        -X sasl.mechanisms=PLAIN -X sasl.username=${SASL_USER} \\
        -o sasl.password.file=DIR/tls/client.password

Authorizer (start --authorizer):
  authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
  (KRaft's own, ACLs stored in the metadata log), allow.everyone.if.no.acl.found
  false: a principal may do only what an ACL allows. Super users: the
  broker itself (User:ANONYMOUS, the principal of the PLAINTEXT and
  controller listeners, which carry inter-broker traffic, the readiness
  checks and 'kafka.sh topics') and User:${ADMIN_USER} on the SASL_SSL listener. So
  only the SASL_SSL listener enforces ACLs: point the clients under test
  at it, never at the PLAINTEXT port. User '${SASL_USER}' gets no ACLs.
  More files in DIR/tls/:
    admin.password, admin.properties  the super user's password and a Java
                       client config (kafka-acls/kafka-topics --command-config)
    user-U.password, user-U.properties  per user U of --users: its password
                       (for sasl.password.file) and librdkafka config (kcat -F)

Broker settings worth knowing:
  auto.create.topics.enable=false  floq creates its topics with the Admin API;
                                   use 'kafka.sh topics --create' in tests
                                   (true with --auto-create).
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

Needs: java (17+), mvn (only to fetch), kcat (readiness checks), openssl
(--security sasl_ssl only).
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
            --security) SECURITY=${2:?--security needs a value}; SECURITY_SET=1; shift 2 ;;
            --auto-create) AUTO_CREATE=true; AUTO_CREATE_SET=1; shift ;;
            --authorizer) AUTHORIZER=1; AUTHORIZER_SET=1; shift ;;
            --users)   USERS=${2?--users needs a value}; USERS_SET=1; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *)         REST+=("$1"); shift ;;
        esac
    done
    [[ $NODES == 1 || $NODES == 3 ]] || die "--nodes must be 1 or 3 (got $NODES)"
    [[ $PORT =~ ^[0-9]+$ ]] || die "--port must be a number (got $PORT)"
    [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be seconds (got $TIMEOUT)"
    SECURITY=${SECURITY,,}
    [[ $SECURITY == plaintext || $SECURITY == sasl_ssl ]] ||
        die "--security must be plaintext or sasl_ssl (got $SECURITY)"
    if ((AUTHORIZER || USERS_SET)); then
        ((SECURITY_SET)) && [[ $SECURITY != sasl_ssl ]] &&
            die "--authorizer and --users need --security sasl_ssl"
        SECURITY=sasl_ssl
    fi
    local u
    USERS=${USERS//[[:space:]]/,}
    for u in ${USERS//,/ }; do
        [[ $u =~ ^[A-Za-z0-9_-]+$ ]] || die "--users: bad user name '$u'"
        [[ $u != "$SASL_USER" && $u != "$ADMIN_USER" ]] ||
            die "--users: '$u' is made anyway"
    done
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
secure_port()     { echo $((PORT + NODES + $1 - 1)); }
tls_dir()         { echo "$RUN_DIR/tls"; }
controller_port() { echo $((PORT + CONTROLLER_OFFSET + $1 - 1)); }
node_dir()        { echo "$RUN_DIR/node$1"; }
pid_file()        { echo "$RUN_DIR/node$1/kafka.pid"; }

bootstrap() {
    local i out=()
    for ((i = 1; i <= NODES; i++)); do out+=("127.0.0.1:$(client_port "$i")"); done
    (IFS=,; echo "${out[*]}")
}

secure_bootstrap() {
    local i out=()
    for ((i = 1; i <= NODES; i++)); do out+=("127.0.0.1:$(secure_port "$i")"); done
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
SECURITY=$SECURITY
AUTO_CREATE=$AUTO_CREATE
AUTHORIZER=$AUTHORIZER
USERS=$USERS
EOF
}

# load_state: read what `start` recorded (fails if there is none).
load_state() {
    [[ -f $RUN_DIR/cluster.env ]] || return 1
    local k v
    SECURITY=plaintext AUTO_CREATE=false AUTHORIZER=0 USERS=""   # a cluster.env from before these
    while IFS='=' read -r k v; do
        case $k in
            VERSION) VERSION=$v ;; NODES) NODES=$v ;; PORT) PORT=$v ;;
            CLUSTER_ID) CLUSTER_ID=$v ;; LIBS) LIBS=$v ;;
            SECURITY) SECURITY=$v ;; AUTO_CREATE) AUTO_CREATE=$v ;;
            AUTHORIZER) AUTHORIZER=$v ;; USERS) USERS=$v ;;
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
    local i=$1 dir voters="" j rf isr sec_listener="" sec_map=""
    dir=$(node_dir "$i")
    if [[ $SECURITY == sasl_ssl ]]; then
        sec_listener=",SASL_SSL://127.0.0.1:$(secure_port "$i")"
        sec_map=",SASL_SSL:SASL_SSL"
    fi
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
listeners=PLAINTEXT://127.0.0.1:$(client_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")$sec_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$i")$sec_listener
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$sec_map
log.dirs=$dir/data

# floq creates its topics with the Admin API; a typo must not create a topic
# (true only with --auto-create, for the tests that prove it).
auto.create.topics.enable=$AUTO_CREATE
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
    [[ $SECURITY == sasl_ssl ]] || return 0
    local tls password plain_users u
    tls=$(tls_dir)
    password=$(<"$tls/client.password")
    plain_users="user_${SASL_USER}=\"$password\""
    for u in $(sasl_users_extra); do
        plain_users+=" user_$u=\"$(<"$(user_password_file "$u")")\""
    done
    cat >>"$dir/server.properties" <<EOF

# SASL_SSL listener for clients (kafka.sh --security sasl_ssl): TLS with
# the throw-away CA in $tls, SASL/PLAIN (users in the JAAS line) and
# SCRAM-SHA-256 (credentials stored by 'kafka-storage format --add-scram')
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tls/broker.pem
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required $plain_users;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    ((AUTHORIZER)) || return 0
    cat >>"$dir/server.properties" <<EOF

# kafka.sh --authorizer: ACLs enforced by KRaft's StandardAuthorizer. The
# PLAINTEXT and controller listeners (inter-broker, readiness checks) are
# ANONYMOUS, a super user like ${ADMIN_USER}; clients under test use SASL_SSL.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:${ADMIN_USER}
allow.everyone.if.no.acl.found=false
EOF
}

# sasl_users_extra: the users besides SASL_USER, one per word (the admin
# with --authorizer, then --users).
sasl_users_extra() {
    ((AUTHORIZER)) && echo "$ADMIN_USER"
    local u
    for u in ${USERS//,/ }; do echo "$u"; done
}

user_password_file() {
    if [[ $1 == "$ADMIN_USER" ]]; then echo "$(tls_dir)/admin.password"
    else echo "$(tls_dir)/user-$1.password"; fi
}

# new_password: letters and digits only, as it goes into a JAAS line and
# SCRAM's format.
new_password() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }

# make_users: a password (and a client config) for each extra user.
make_users() {
    local tls u pw
    tls=$(tls_dir)
    (umask 077
     for u in $(sasl_users_extra); do
         pw=$(new_password)
         printf '%s\n' "$pw" >"$(user_password_file "$u")"
         if [[ $u == "$ADMIN_USER" ]]; then
             cat >"$tls/admin.properties" <<EOF
# Java client settings of the super user '$ADMIN_USER' (kafka-acls and
# kafka-topics --command-config), for the SASL_SSL listener
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$ADMIN_USER" password="$pw";
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
EOF
         else
             cat >"$tls/user-$u.properties" <<EOF
# librdkafka settings of user '$u' for the SASL_SSL listener (kcat -F this-file)
security.protocol=sasl_ssl
ssl.ca.location=$tls/ca.pem
sasl.mechanisms=PLAIN
sasl.username=$u
sasl.password=$pw
EOF
         fi
     done)
}

# make_tls: a fresh CA, a broker certificate for 127.0.0.1 signed by it, a
# random password for SASL_USER and a librdkafka client config, in
# DIR/tls. Keys and password files are readable by the owner only.
make_tls() {
    local tls password log
    command -v openssl >/dev/null || die "openssl not found (needed for --security sasl_ssl)"
    tls=$(tls_dir)
    log=$tls/openssl.log
    rm -rf "$tls"
    mkdir -p "$tls"
    chmod 700 "$tls"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 \
            -subj "/CN=floq kafka.sh test CA $(date +%s)" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign \
            -keyout "$tls/ca.key" -out "$tls/ca.pem" &&
        openssl req -new -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$tls/broker.key" -out "$tls/broker.csr" &&
        printf '%s\n' 'basicConstraints=CA:FALSE' \
            'keyUsage=critical,digitalSignature,keyEncipherment' \
            'extendedKeyUsage=serverAuth' \
            'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$tls/broker.ext" &&
        openssl x509 -req -days 7 -in "$tls/broker.csr" -CA "$tls/ca.pem" \
            -CAkey "$tls/ca.key" -CAcreateserial -extfile "$tls/broker.ext" \
            -out "$tls/broker.crt"
    } >"$log" 2>&1 || { cat "$log" >&2; die "cannot make the TLS certificates"; }
    # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the chain.
    cat "$tls/broker.key" "$tls/broker.crt" "$tls/ca.pem" >"$tls/broker.pem"
    chmod 600 "$tls/ca.key" "$tls/broker.key" "$tls/broker.pem"
    password=$(new_password)
    (umask 077
     printf '%s\n' "$password" >"$tls/client.password"
     cat >"$tls/client.properties" <<EOF
# librdkafka settings for the SASL_SSL listener (kcat -F this-file)
security.protocol=sasl_ssl
ssl.ca.location=$tls/ca.pem
sasl.mechanisms=PLAIN
sasl.username=$SASL_USER
sasl.password=$password
EOF
    )
}

format_storage() {
    local i=$1 dir cls
    dir=$(node_dir "$i")
    cls=$(storage_tool_class "$LIBS")
    local scram=() u
    if [[ $SECURITY == sasl_ssl ]]; then
        scram=(--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$(<"$(tls_dir)/client.password")]")
        for u in $(sasl_users_extra); do
            scram+=(--add-scram "SCRAM-SHA-256=[name=$u,password=$(<"$(user_password_file "$u")")]")
        done
    fi
    run_tool "$LIBS" "$cls" format -t "$CLUSTER_ID" -c "$dir/server.properties" \
        "${scram[@]}" >>"$dir/format.log" 2>&1 ||
        { cat "$dir/format.log" >&2; die "formatting node $i failed"; }
}

# launch_node I: start node I in the background (own session, so it outlives
# the caller's terminal and process group), stdout+stderr to its log.
launch_node() {
    local i=$1 dir pid
    dir=$(node_dir "$i")
    port_busy "$(client_port "$i")" && die "port $(client_port "$i") is already in use"
    port_busy "$(controller_port "$i")" && die "port $(controller_port "$i") is already in use"
    if [[ $SECURITY == sasl_ssl ]] && port_busy "$(secure_port "$i")"; then
        die "port $(secure_port "$i") is already in use"
    fi
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
        ((${#pending[@]} == 0)) && break
        ((SECONDS >= deadline)) &&
            fail_start "not ready after ${TIMEOUT}s (waiting for node ${pending[*]})" "$@"
        sleep 0.5
    done
    secure_ready "$@"
}

# secure_ready NODE...: each node's SASL_SSL listener completes a TLS
# handshake (CA verified, hostname checked) and SASL logins with the client
# credentials and answers a metadata request. SCRAM is only checked on 3.x:
# kcat's (and floq's) librdkafka 2.0.2 cannot do SCRAM with Kafka 4.x, which
# rejects its client-final nonce (fixed in librdkafka 2.6.1, #4895).
secure_ready() {
    local i mech mechs=(PLAIN SCRAM-SHA-256) deadline=$((SECONDS + 30))
    [[ $SECURITY == sasl_ssl ]] || return 0
    [[ ${VERSION%%.*} -ge 4 ]] && mechs=(PLAIN)
    for i in "$@"; do
        for mech in "${mechs[@]}"; do
            until timeout 10 kcat -F "$(tls_dir)/client.properties" -X sasl.mechanisms="$mech" \
                    -b "127.0.0.1:$(secure_port "$i")" -L -m 5 -t __floq_probe >/dev/null 2>&1; do
                ((SECONDS < deadline)) ||
                    fail_start "node $i: no SASL_SSL ($mech) metadata at 127.0.0.1:$(secure_port "$i")" "$@"
                sleep 0.5
            done
        done
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
    local i want_v=$VERSION want_n=$NODES want_p=$PORT want_s=$SECURITY t0=$SECONDS
    local want_ac=$AUTO_CREATE want_a=$AUTHORIZER want_u=$USERS
    command -v java >/dev/null || die "java not found (Kafka needs Java 17+)"
    if load_state && any_running; then
        if { ((!VERSION_SET)) || [[ $want_v == "$VERSION" ]]; } &&
           { ((!NODES_SET)) || [[ $want_n == "$NODES" ]]; } &&
           { ((!PORT_SET)) || [[ $want_p == "$PORT" ]]; } &&
           { ((!SECURITY_SET)) || [[ $want_s == "$SECURITY" ]]; } &&
           { ((!AUTO_CREATE_SET)) || [[ $want_ac == "$AUTO_CREATE" ]]; } &&
           { ((!AUTHORIZER_SET)) || [[ $want_a == "$AUTHORIZER" ]]; } &&
           { ((!USERS_SET)) || [[ $want_u == "$USERS" ]]; }; then
            local all=()
            for ((i = 1; i <= NODES; i++)); do all+=("$i"); done
            log "already running in $RUN_DIR (Kafka $VERSION, $NODES node(s), $SECURITY)"
            wait_ready "${all[@]}"
            log_security
            bootstrap
            return 0
        fi
        die "a different cluster (Kafka $VERSION, $NODES node(s), port $PORT, $SECURITY$(
            ((AUTHORIZER)) && echo ", authorizer")${USERS:+, users $USERS}) runs in $RUN_DIR: run 'kafka.sh stop' first"
    fi
    VERSION=$want_v NODES=$want_n PORT=$want_p SECURITY=$want_s AUTO_CREATE=$want_ac
    AUTHORIZER=$want_a USERS=$want_u
    if [[ $SECURITY == sasl_ssl ]]; then
        command -v openssl >/dev/null || die "openssl not found (needed for --security sasl_ssl)"
    fi
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
        if [[ $SECURITY == sasl_ssl ]] && port_busy "$(secure_port "$i")"; then
            die "port $(secure_port "$i") is already in use (another broker? try --port)"
        fi
    done
    # Fresh cluster: wipe the old node folders, keep nothing else of ours.
    mkdir -p "$RUN_DIR"
    rm -rf "$RUN_DIR"/node[0-9]* "$RUN_DIR/cluster.env" "$(tls_dir)"
    if [[ $SECURITY == sasl_ssl ]]; then make_tls; make_users; fi
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
    log_security
    bootstrap
}

# log_security: where a SASL_SSL client finds its address and credentials.
log_security() {
    [[ $SECURITY == sasl_ssl ]] || return 0
    local tls
    tls=$(tls_dir)
    log "SASL_SSL bootstrap $(secure_bootstrap) (SASL/PLAIN or SCRAM-SHA-256, user '$SASL_USER')"
    log "  CA certificate (ssl.ca.location): $tls/ca.pem"
    log "  password file (sasl.password.file): $tls/client.password"
    log "  librdkafka client config: $tls/client.properties"
    log "  'kafka.sh bootstrap --security sasl_ssl' prints the SASL_SSL bootstrap"
    local u
    if ((AUTHORIZER)); then
        log "  ACLs enforced (StandardAuthorizer); super user '$ADMIN_USER': $tls/admin.properties"
        log "  'kafka.sh acls ...' runs kafka-acls as '$ADMIN_USER'"
    fi
    for u in ${USERS//,/ }; do
        log "  user '$u': $tls/user-$u.password, $tls/user-$u.properties"
    done
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
    echo "Kafka $VERSION, $NODES node(s), dir $RUN_DIR, bootstrap $(bootstrap)$(
        [[ $SECURITY == sasl_ssl ]] && echo ", sasl_ssl $(secure_bootstrap)")$(
        ((AUTHORIZER)) && echo ", ACLs enforced")"
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

acl_command_class() {
    local c
    for c in org.apache.kafka.tools.AclCommand kafka.admin.AclCommand; do
        has_class "$1" "$c" && { echo "$c"; return; }
    done
    return 1
}

cmd_acls() {
    load_state || die "no cluster in $RUN_DIR: start one first"
    ((AUTHORIZER)) || die "the cluster in $RUN_DIR has no authorizer (start --authorizer)"
    local libs=$LIBS cls a has_bs=0 has_cc=0 extra=()
    if ! cls=$(acl_command_class "$libs"); then
        fetch_jars "$DEFAULT_VERSION"
        libs=$(libs_dir "$DEFAULT_VERSION")
        cls=$(acl_command_class "$libs") || die "no AclCommand in $libs"
    fi
    for a in "${REST[@]}"; do
        [[ $a == --bootstrap-server ]] && has_bs=1
        [[ $a == --command-config ]] && has_cc=1
    done
    ((has_bs)) || extra+=(--bootstrap-server "$(secure_bootstrap)")
    ((has_cc)) || extra+=(--command-config "$(tls_dir)/admin.properties")
    run_tool "$libs" "$cls" "${extra[@]}" "${REST[@]}"
}

cmd_bootstrap() {
    local want_s=$SECURITY
    load_state || die "no cluster in $RUN_DIR"
    if ((SECURITY_SET)) && [[ $want_s == sasl_ssl ]]; then
        [[ $SECURITY == sasl_ssl ]] ||
            die "the cluster in $RUN_DIR has no SASL_SSL listener (start --security sasl_ssl)"
        secure_bootstrap
    else
        bootstrap
    fi
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        -h|--help|help) usage ;;
        "") usage >&2; exit 2 ;;
        start|stop|status|kill|restart-node|fetch|topics|bootstrap|acls)
            if [[ $cmd == topics || $cmd == acls ]]; then
                # Only --dir is ours; everything else goes to the tool.
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
                bootstrap) cmd_bootstrap ;;
                acls) cmd_acls ;;
            esac ;;
        *) log "unknown command '$cmd'"; usage >&2; exit 2 ;;
    esac
}

main "$@"
