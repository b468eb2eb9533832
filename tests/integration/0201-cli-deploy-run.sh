#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# floq CLI against a real broker and a running floq-worker: deploy a
# process job, `run --wait` exits 0 with SUCCEEDED, `run` without --wait
# prints ACCEPTED with run id and URL and exits 0, `status` by name and by
# run id, and usage errors exit 2 without touching Kafka.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq ]] || { echo "  no floq-worker yet"; exit 77; }
floq_test_topics
jobs=$FLOQ_TEST_TMP/jobs; mkdir -p "$jobs"
export FLOQ_PROCESS_ALLOWED_DIRS=$jobs
cat > "$jobs/hello.sh" <<'SH'
#!/bin/sh
echo "hello $1"
SH
chmod +x "$jobs/hello.sh"
bg worker "$BIN/floq-worker"

out=$FLOQ_TEST_TMP/out
"$BIN/floq" deploy hello --timeout 60s -- "$jobs/hello.sh" '{who}' >"$out" 2>&1
ok "deploy exits 0" test $? -eq 0
ok "deploy prints DEPLOYED" grep -q '^DEPLOYED deployment=hello' "$out"

"$BIN/floq" run hello -p who=world --wait --timeout 60s >"$out" 2>&1
rc=$?
ok "run --wait exits 0 (got $rc)" test $rc -eq 0
ok "run --wait ends with SUCCEEDED" bash -c "tail -1 '$out' | grep -q '^SUCCEEDED .*exit_code=0'"
ok "run --wait on a pipe prints ACCEPTED and RUNNING lines" \
    bash -c "grep -q '^ACCEPTED ' '$out' && grep -q '^RUNNING ' '$out'"

"$BIN/floq" run hello -p who=async >"$out" 2>&1
ok "run without --wait exits 0" test $? -eq 0
ok "run without --wait prints ACCEPTED with run_id and url" \
    grep -Eq '^ACCEPTED .*run_id=[0-9a-f-]{36} .*url=' "$out"
rid=$(sed -n 's/.*run_id=\([0-9a-f-]\{36\}\).*/\1/p' "$out" | head -1)

run_done() { "$BIN/floq" status hello --run "$rid" 2>/dev/null | grep -q '"status":"SUCCEEDED"'; }
ok "status NAME --run RUN_ID reaches SUCCEEDED" wait_for 30 run_done
"$BIN/floq" status "$rid" >"$out" 2>&1
ok "status RUN_ID (deployment looked up) exits 0" test $? -eq 0
ok "status RUN_ID names the run" grep -q "run_id=$rid" "$out"
"$BIN/floq" status hello >"$out" 2>&1
ok "status NAME exits 0 with STATUS" grep -q '^STATUS deployment=hello' "$out"

# TTY progress: one updating line (\r), ending with the terminal state.
script -qfec "$BIN/floq run hello -p who=tty --wait --timeout 60s" /dev/null >"$out" 2>&1
ok "run --wait on a terminal exits 0" test $? -eq 0
ok "on a terminal the progress line is rewritten with \\r" grep -q $'\r' "$out"
ok "on a terminal it ends with SUCCEEDED" grep -q 'SUCCEEDED' "$out"

# usage errors: exit 2, no Kafka needed
"$BIN/floq" -b 127.0.0.1:1 dploy x 2>"$out"; rc=$?
ok "unknown command exits 2" test $rc -eq 2
ok "unknown command suggests deploy" grep -q "did you mean 'deploy'" "$out"
"$BIN/floq" -b 127.0.0.1:1 run hello -p nokey 2>"$out"; rc=$?
ok "bad -p exits 2" test $rc -eq 2
"$BIN/floq" help run >"$out"; rc=$?
ok "help run exits 0 with examples" bash -c "test $rc -eq 0 && grep -q examples: '$out'"
finish
