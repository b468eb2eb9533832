#!/usr/bin/env bash
# With no worker serving the topics, every wait ends with exit 3 at its
# timeout (never a hang): run --wait, run, deploy and status.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq ]] || exit 77
floq_test_topics

timed() { # timed LIMIT_S EXPECT_RC CMD...: rc and duration within bounds
    local limit=$1 expect=$2; shift 2
    local t0=$(date +%s%N)
    "$@" >"$FLOQ_TEST_TMP/out" 2>&1
    local rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "    ($* -> exit $rc in ${ms} ms)"
    (( rc == expect && ms <= limit * 1000 ))
}
ok "run --wait --timeout 3s exits 3 within 10s" timed 10 3 "$BIN/floq" run nobody --wait --timeout 3s
ok "it says what it waited for" grep -q 'timed out after' "$FLOQ_TEST_TMP/out"
ok "took at least the timeout" bash -c "! grep -q 'after [0-2]\.' '$FLOQ_TEST_TMP/out'"
ok "run --timeout 2s exits 3" timed 10 3 "$BIN/floq" run nobody --timeout 2s
ok "deploy --timeout 2s exits 3" timed 10 3 "$BIN/floq" deploy nobody --timeout 2s -- /bin/true
ok "status with client.timeout.ms=2000 exits 3" timed 10 3 "$BIN/floq" -o client.timeout.ms=2000 status nobody
finish
