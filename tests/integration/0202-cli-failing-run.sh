#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# A failing run makes `floq run --wait` exit 1 with FAILED, its exit code
# and the output tail; a rejected deploy (executable outside the allowed
# directories) and a run of an unknown deployment exit 1 with REJECTED.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq ]] || { echo "  no floq-worker yet"; exit 77; }
floq_test_topics
jobs=$FLOQ_TEST_TMP/jobs; mkdir -p "$jobs"
export FLOQ_PROCESS_ALLOWED_DIRS=$jobs
cat > "$jobs/fail.sh" <<'SH'
#!/bin/sh
echo "about to fail with $1" >&2
exit "$1"
SH
chmod +x "$jobs/fail.sh"
bg worker "$BIN/floq-worker"

out=$FLOQ_TEST_TMP/out err=$FLOQ_TEST_TMP/err
"$BIN/floq" deploy failing --timeout 60s -- "$jobs/fail.sh" '{code}' >"$out" 2>&1
ok "deploy exits 0" test $? -eq 0

"$BIN/floq" run failing -p code=3 --wait --timeout 60s >"$out" 2>"$err"
rc=$?
ok "failing run --wait exits 1 (got $rc)" test $rc -eq 1
ok "last line is FAILED with exit_code=3" bash -c "tail -1 '$out' | grep -q '^FAILED .*exit_code=3'"
ok "the output tail is shown on stderr" grep -q 'about to fail with 3' "$err"

"$BIN/floq" deploy bad --timeout 60s -- /bin/true >"$out" 2>&1
rc=$?
ok "deploy outside the allowed dirs exits 1 (got $rc)" test $rc -eq 1
ok "and prints REJECTED with a reason" grep -q '^REJECTED .*reason=' "$out"

"$BIN/floq" run nosuchdeployment --wait --timeout 60s >"$out" 2>&1
rc=$?
ok "run of an unknown deployment exits 1 (got $rc)" test $rc -eq 1
ok "and prints REJECTED" grep -q '^REJECTED' "$out"
finish
