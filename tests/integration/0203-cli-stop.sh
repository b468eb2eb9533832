#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# `floq stop NAME --run RUN_ID` cancels a long run: STOPPED (exit 0) lists
# it, and the `run --wait` following it ends CANCELLED with exit 1 well
# before the job would have finished. `stop NAME` cancels every active run.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq ]] || { echo "  no floq-worker yet"; exit 77; }
floq_test_topics
jobs=$FLOQ_TEST_TMP/jobs; mkdir -p "$jobs"
export FLOQ_PROCESS_ALLOWED_DIRS=$jobs
cp "$(command -v sleep)" "$jobs/sleep"
bg worker "$BIN/floq-worker" -o process.kill.grace.ms=2000

out=$FLOQ_TEST_TMP/out
"$BIN/floq" deploy sleeper --timeout 60s -- "$jobs/sleep" '{secs}' >"$out" 2>&1
ok "deploy exits 0" test $? -eq 0

wait_out=$FLOQ_TEST_TMP/wait.out
"$BIN/floq" run sleeper -p secs=120 --wait --timeout 100s >"$wait_out" 2>&1 &
waiter=$!
running() { grep -q '^RUNNING .*run_id=' "$wait_out"; }
ok "the run is RUNNING" wait_for 60 running
rid=$(sed -n 's/^RUNNING .*run_id=\([0-9a-f-]\{36\}\).*/\1/p' "$wait_out" | head -1)

start=$(date +%s)
"$BIN/floq" stop sleeper --run "$rid" >"$out" 2>&1
ok "stop --run exits 0" test $? -eq 0
ok "STOPPED lists the run" grep -q "^STOPPED .*cancelled=.*$rid" "$out"
wait "$waiter"; rc=$?
secs=$(( $(date +%s) - start ))
ok "run --wait exits 1 after the stop (got $rc)" test $rc -eq 1
ok "run --wait ends CANCELLED" bash -c "tail -1 '$wait_out' | grep -q '^CANCELLED'"
ok "within the kill grace period (${secs}s)" test "$secs" -lt 30

# stop NAME: every active run, the deployment disabled
"$BIN/floq" run sleeper -p secs=120 >"$out" 2>&1
rid2=$(sed -n 's/.*run_id=\([0-9a-f-]\{36\}\).*/\1/p' "$out" | head -1)
is_running() { "$BIN/floq" status sleeper --run "$rid2" 2>/dev/null | grep -q '"status":"RUNNING"'; }
ok "second run starts" wait_for 60 is_running
"$BIN/floq" stop sleeper >"$out" 2>&1
ok "stop NAME exits 0 and cancels it" bash -c "grep -q \"^STOPPED .*$rid2\" '$out'"
finish
