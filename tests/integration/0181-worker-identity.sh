#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# 0181 (G1/G2, stable identity): with no worker.id given, a worker's id is
# <hostname>-<worker.slot>, the same on every start, so a restarted worker
# fences its previous incarnation (KIP-98): here the old one is frozen with
# SIGSTOP, the new one starts (on "another host": its own lock directory),
# and once woken the old one's transactional producer is fenced: nothing it
# had open commits, and every command is still answered exactly once. On one host, a second
# worker with the same slot is refused with a clear message (exit 2); with
# --slot 1 it runs beside the first under its own id.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
host=$(hostname)
mkdir -p "$T/hostA" "$T/hostB" "$T/hostC"
# plain_worker NAME LOCKDIR [ARGS...]: the default identity (no worker.id)
plain_worker() {
    local name=$1 dir=$2; shift 2
    FLOQ_WORKER_LOCK_DIR=$dir bg "$name" "$BIN/floq-worker" \
        -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 "$@"
    WPID[$name]=$!
}

# --- one host: the same slot twice is refused, another slot is not
plain_worker s0 "$T/hostC"
ok "slot 0 joins" wait_for 90 worker_assigned s0
ok "slot 0 is $host-0" worker_log_has s0 "worker $host-0 started"
plain_worker s0b "$T/hostC"
exited() { ! worker_alive "$1"; }
ok "a second slot 0 on the host stops" wait_for 30 exited s0b
rc=running
if exited s0b; then wait "${WPID[s0b]}"; rc=$?; fi
ok "refused as a configuration error (exit $rc)" test "$rc" = 2
ok "saying why" worker_log_has s0b "worker id '$host-0' is already in use on this host"
plain_worker s1 "$T/hostC" --slot 1
ok "slot 1 joins beside it" wait_for 90 worker_assigned s1
ok "slot 1 is $host-1" worker_log_has s1 "worker $host-1 started"
kill -TERM "${WPID[s0]}" "${WPID[s1]}"
ok "both drain" wait_for 60 eval '! worker_alive s0 && ! worker_alive s1'

# --- a restart fences the frozen previous incarnation
worker_env   # fresh topics and group
plain_worker old "$T/hostA"
ok "old joins" wait_for 90 worker_assigned old
for i in 0 1 2 3 4 5; do deploy_cmd "f$i" ok.sh; done | produce >"$T/ids"
for i in 0 1 2 3 4 5; do run_cmd "f$i"; done | produce >>"$T/ids"
ok "old answers" wait_for 60 all_final "$T/ids"
kill -STOP "${WPID[old]}"
thaw() { kill -CONT "${WPID[old]}" 2>/dev/null; }
trap 'thaw; cleanup' EXIT
plain_worker new "$T/hostB"
ok "new joins with the same id" wait_for 90 worker_assigned new
ok "new is $host-0" worker_log_has new "worker $host-0 started"
for i in 0 1 2 3 4 5; do run_cmd "f$i"; done | produce >>"$T/ids"
ok "new answers while old is frozen" wait_for 60 all_final "$T/ids"
thaw
# work for both, so that the old one has to use its producer
for i in $(seq 1 24); do run_cmd "f$((i % 6))"; done | produce >>"$T/ids"
ok "the old incarnation is fenced" wait_for 60 worker_log_has old "fenced"
ok "every command answered" wait_for 90 all_final "$T/ids"
assert_one_final "$T/ids"
# Which of the two then gives up (fenced twice within a minute) is a race
# of the producer replacement in worker/txn.c (docs/worker.md, "Limits").
for n in old new; do worker_alive $n && echo "  $n still runs" || echo "  $n exited"; done
finish
