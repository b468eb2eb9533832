#!/usr/bin/env bash
# itest: alone: load
# One libfloq client publishes 10,000 run commands without waiting for
# replies (asynchronous sends, one flush); every one is on the commands
# topic afterwards (counted with a plain consumer), and the throughput is
# printed.
source "$(dirname "$0")/lib.sh"
[[ -x $B/bench/bench_publish ]] || exit 77
floq_test_topics
N=10000
"$B/bench/bench_publish" -n $N --libfloq-only >"$FLOQ_TEST_TMP/bench.log" 2>&1
ok "bench_publish acknowledged all $N (exit $?)" test $? -eq 0
cat "$FLOQ_TEST_TMP/bench.log"

# +1: the warm-up command bench_publish sends before the clock starts
count() {
    local n
    n=$(kcat -b "$FLOQ_BROKERS" -C -t "$FLOQ_TOPIC_COMMANDS" -e -q \
            -X isolation.level=read_committed -f '%k\n' 2>/dev/null | grep -c '^bench$')
    echo "    counted $n"
    (( n == N + 1 ))
}
ok "all $N (+1 warm-up) commands on $FLOQ_TOPIC_COMMANDS" wait_for 30 count
# all on the deployment's home partition (murmur2, as Java's partitioner)
parts=$(kcat -b "$FLOQ_BROKERS" -C -t "$FLOQ_TOPIC_COMMANDS" -e -q -f '%p\n' 2>/dev/null | sort -u | wc -l)
ok "keyed by deployment: one partition ($parts)" test "$parts" -eq 1
finish
