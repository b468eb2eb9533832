#!/usr/bin/env bash
# The Kubernetes API mock of the kubernetes backend's tests (fabric8's
# kubernetes-server-mock in CRUD mode, ops/k8s-mock/src/.../Main.java).
# Fetches the jars from Maven Central and compiles Main.java once into a
# cache outside the repository, then starts the server on 127.0.0.1.
#
#   ops/k8s-mock/k8s-mock.sh fetch        jars + classes into the cache only
#   ops/k8s-mock/k8s-mock.sh start DIR    start in the background; pid in
#                                         DIR/mock.pid, log DIR/mock.log;
#                                         prints the URL (plain HTTP) last
#   ops/k8s-mock/k8s-mock.sh stop DIR     stop what start DIR started
#
# FLOQ_K8S_MOCK_CACHE: the cache (default ~/.cache/floq/k8s-mock).
# Needs java 17+ and javac; mvn only for the first fetch.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${FLOQ_K8S_MOCK_CACHE:-${HOME:-/tmp}/.cache/floq/k8s-mock}
VER=$(sed -n 's:.*<fabric8.version>\(.*\)</fabric8.version>.*:\1:p' "$HERE/pom.xml")
LIBS=$CACHE/$VER/libs
CLASSES=$CACHE/$VER/classes
SRC=$HERE/src/main/java/io/floq/k8smock/Main.java

die() { echo "k8s-mock: $*" >&2; exit 1; }

fetch() {
    mkdir -p "$CACHE/$VER"
    exec 9>"$CACHE/$VER/.lock"
    flock 9
    if [[ ! -f $LIBS/.done ]]; then
        command -v mvn >/dev/null || die "mvn not found: needed once to fetch the mock"
        local tmp
        tmp=$(mktemp -d "$CACHE/$VER/libs.XXXXXX")
        mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
            -DoutputDirectory="$tmp" -DincludeScope=runtime \
            >"$CACHE/$VER/mvn.log" 2>&1 ||
            { rm -rf "$tmp"; cat "$CACHE/$VER/mvn.log" >&2; die "mvn failed"; }
        rm -rf "$LIBS"
        mv "$tmp" "$LIBS"
        touch "$LIBS/.done"
    fi
    # recompile when Main.java changes
    local sum
    sum=$(sha256sum "$SRC" | cut -c1-16)
    if [[ ! -f $CLASSES/.$sum ]]; then
        rm -rf "$CLASSES.tmp"
        mkdir -p "$CLASSES.tmp"
        javac -nowarn -d "$CLASSES.tmp" -cp "$LIBS/*" "$SRC"
        touch "$CLASSES.tmp/.$sum"
        rm -rf "$CLASSES"
        mv "$CLASSES.tmp" "$CLASSES"
    fi
    exec 9>&-
}

case "${1:-}" in
fetch)
    fetch
    echo "$CLASSES"
    ;;
start)
    dir=${2:?usage: k8s-mock.sh start DIR}
    fetch
    mkdir -p "$dir"
    java -Xshare:auto -XX:TieredStopAtLevel=1 -Xmx256m \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$CLASSES:$LIBS/*" io.floq.k8smock.Main 0 \
        >"$dir/mock.log" 2>&1 &
    echo $! >"$dir/mock.pid"
    for _ in $(seq 1 600); do
        url=$(sed -n 's/^url //p' "$dir/mock.log")
        if [[ -n $url ]]; then echo "$url"; exit 0; fi
        kill -0 "$(cat "$dir/mock.pid")" 2>/dev/null ||
            { cat "$dir/mock.log" >&2; die "the mock exited"; }
        sleep 0.1
    done
    die "the mock did not start within 60 s (see $dir/mock.log)"
    ;;
stop)
    dir=${2:?usage: k8s-mock.sh stop DIR}
    if [[ -f $dir/mock.pid ]]; then
        kill "$(cat "$dir/mock.pid")" 2>/dev/null || true
        rm -f "$dir/mock.pid"
    fi
    ;;
*)
    sed -n '2,14s/^# \{0,1\}//p' "$0"
    exit 2
    ;;
esac
