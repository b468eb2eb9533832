#!/usr/bin/env bash
# 0410: sd_notify (Type=notify units, ops/systemd/floq-worker@.service). A
# worker started with NOTIFY_SOCKET naming a datagram socket this test
# reads (and WATCHDOG_USEC=1 s) sends READY=1 only once it is ready by
# /readyz's rule: when READY=1 arrives the worker's log already holds the
# restore of every partition it was assigned, an earlier STATUS= said "not
# ready", and /readyz answers 200. WATCHDOG=1 keeps arriving (every half
# period) while the loop is alive; SIGTERM sends STOPPING=1 and the worker
# drains and exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
for c in python3 curl; do
    command -v "$c" >/dev/null || { echo "  $c not installed: skipped"; exit 77; }
done
worker_env
T=$FLOQ_TEST_TMP
export FLOQ_TOPIC_PARTITIONS=3
MP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The listener: one line per datagram, "<log bytes at arrival> <message
# with newlines as |>", the log size telling what the worker had logged
# by then (it flushes every line before the loop's next pass).
cat >"$T/listen.py" <<'PY'
import os, socket, sys
sock_path, log_path, out_path = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
with open(out_path, "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        size = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        out.write("%d %s\n" % (size, msg.replace("\n", "|")))
PY
: >"$T/notify.txt"
bg listener python3 "$T/listen.py" "$T/notify.sock" "$T/w1.log" "$T/notify.txt"
wait_for 10 test -S "$T/notify.sock" || fail "the listener's socket exists"

NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000 \
    start_worker w1 -o metrics.listen=127.0.0.1:$MP
got() { grep -q -- "$1" "$T/notify.txt"; }
ok "READY=1 arrives" wait_for 90 got "READY=1"

ready_line=$(grep -n -m1 "READY=1" "$T/notify.txt" | cut -d: -f1)
ready_at=$(sed -n "${ready_line}p" "$T/notify.txt" | cut -d' ' -f1)
head -c "$ready_at" "$T/w1.log" >"$T/log-at-ready"
assigned=$(grep -o 'assigned [0-9]* partition' "$T/log-at-ready" | head -1 | grep -o '[0-9]*')
restored=$(grep -c '\[restore\] partition [0-9]*:' "$T/log-at-ready")
ok "READY=1 after the assignment was logged (${assigned:-none} partitions)" \
    test -n "$assigned"
ok "READY=1 after every assigned partition was restored ($restored of ${assigned:-?})" \
    test "$restored" -ge "${assigned:-1}"
ok "a STATUS=not ready came before READY=1" \
    bash -c "head -n $((ready_line - 1)) '$T/notify.txt' | grep -q 'STATUS=not ready'"
ok "READY=1 carries a STATUS saying ready" \
    bash -c "sed -n '${ready_line}p' '$T/notify.txt' | grep -q 'STATUS=ready: worker w1-'"
ok "/readyz says 200 (as READY=1 did)" \
    test "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MP/readyz")" = 200

pings_after_ready() { tail -n +"$ready_line" "$T/notify.txt" | grep -c '^[0-9]* WATCHDOG=1$'; }
three_pings() { (( $(pings_after_ready) >= 3 )); }
ok "WATCHDOG=1 keeps arriving ($(pings_after_ready) so far)" wait_for 10 three_pings

kill -TERM "${WPID[w1]}"
ok "STOPPING=1 arrives on SIGTERM" wait_for 30 got "STOPPING=1|STATUS=draining"
exited() { ! worker_alive w1; }
ok "the worker drains and exits" wait_for 30 exited
wait "${WPID[w1]}"; rc=$?
ok "exit status 0 after the drain ($rc)" test "$rc" -eq 0
ok "READY=1 was sent once ($(grep -c READY=1 "$T/notify.txt"))" \
    test "$(grep -c READY=1 "$T/notify.txt")" -eq 1
finish
