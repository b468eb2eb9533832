#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# 0100: floq-worker's interface: --help lists every config key with its
# default, --version, precedence flags > environment > file, and a bad
# key or value stops start-up with a clear message and exit status 2.
source "$(dirname "$0")/lib.sh"
W=$BIN/floq-worker
T=$FLOQ_TEST_TMP
"$W" --help >"$T/help" 2>&1; rc=$?
ok "--help exits 0" test "$rc" -eq 0
for k in worker.concurrency worker.batch.size worker.commit.interval.ms \
         worker.heartbeat.interval.ms worker.heartbeat.timeout.ms \
         worker.drain.grace.ms worker.run.url.template worker.queue.max \
         worker.transaction.timeout.ms group.instance.id topic.commands \
         process.allowed.dirs message.max.bytes; do
    ok "--help lists $k" grep -q "^$k " "$T/help"
done
ok "--version" bash -c "'$W' --version | grep -q '^floq-worker [0-9]'"
printf 'worker.concurrency=2\nworker.batch.size=7\nbrokers=file:1\n' >"$T/w.props"
ok "file value" bash -c "env -u FLOQ_WORKER_CONCURRENCY '$W' -F '$T/w.props' --dump-config | grep -qx worker.concurrency=2"
conc() { env FLOQ_WORKER_CONCURRENCY="$1" "$W" -F "$T/w.props" --dump-config "${@:2}" | grep '^worker.concurrency='; }
ok "environment beats the file" test "$(conc 3)" = worker.concurrency=3
ok "flags beat the environment" test "$(conc 3 -o worker.concurrency=4)" = worker.concurrency=4
ok "untouched file value kept" bash -c "FLOQ_WORKER_CONCURRENCY=3 '$W' -F '$T/w.props' --dump-config | grep -qx worker.batch.size=7"
ok "-b sets brokers" bash -c "'$W' -F '$T/w.props' -b flag:1 --dump-config | grep -qx brokers=flag:1"
bad() { "$W" "$@" >"$T/bad" 2>&1; [[ $? -eq 2 ]]; }
ok "unknown key: exit 2" bad -o worker.concurency=3
ok "... with a suggestion" grep -q "did you mean 'worker.concurrency'" "$T/bad"
ok "bad value: exit 2" bad -o worker.concurrency=abc
ok "... naming the key" grep -q "worker.concurrency" "$T/bad"
ok "bad librdkafka property: exit 2" bad -X no.such.property=1
ok "bad environment value: exit 2" bash -c "FLOQ_WORKER_BATCH_SIZE=x '$W' >/dev/null 2>&1; [[ \$? -eq 2 ]]"
ok "stray argument: exit 2" bad extra
finish
