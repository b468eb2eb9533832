#!/usr/bin/env bash
# Brokers nobody listens on: exit 4 with a clear message within
# client.connect.timeout.ms (default 10 s), never a hang.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq ]] || exit 77
floq_test_topics
port=1   # nothing listens on tcpmux
timed() {
    local limit=$1 expect=$2; shift 2
    local t0=$(date +%s%N)
    "$@" >"$FLOQ_TEST_TMP/out" 2>&1
    local rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "    ($* -> exit $rc in ${ms} ms)"
    (( rc == expect && ms <= limit * 1000 ))
}
ok "run with -b 127.0.0.1:$port exits 4 within 15s (default timeout)" \
    timed 15 4 "$BIN/floq" -b 127.0.0.1:$port run x --wait
ok "the message names the brokers" grep -q "cannot reach Kafka at '127.0.0.1:$port'" "$FLOQ_TEST_TMP/out"
ok "client.connect.timeout.ms=1500 bounds it" \
    timed 5 4 "$BIN/floq" -b 127.0.0.1:$port -o client.connect.timeout.ms=1500 deploy x -- /bin/true
FLOQ_BROKERS=127.0.0.1:$port ok "FLOQ_BROKERS is used" \
    timed 5 4 env FLOQ_CLIENT_CONNECT_TIMEOUT_MS=1500 FLOQ_BROKERS=127.0.0.1:$port "$BIN/floq" status x
ok "an unresolvable host exits 4" \
    timed 5 4 "$BIN/floq" -b no-such-host.invalid:9092 -o client.connect.timeout.ms=1500 status x
ok "watch exits 4 too" \
    timed 5 4 "$BIN/floq" -b 127.0.0.1:$port -o client.connect.timeout.ms=1500 watch
finish
