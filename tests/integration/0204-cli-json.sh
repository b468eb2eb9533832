#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# --json: every line of output is one JSON object (a Reply) that a script
# can parse; checked with jq when installed, else Debian's python3.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq ]] || { echo "  no floq-worker yet"; exit 77; }
floq_test_topics
jobs=$FLOQ_TEST_TMP/jobs; mkdir -p "$jobs"
export FLOQ_PROCESS_ALLOWED_DIRS=$jobs
printf '#!/bin/sh\necho "json $1"\n' > "$jobs/echo.sh"; chmod +x "$jobs/echo.sh"
bg worker "$BIN/floq-worker"

# field FILE LINE KEY: the value of KEY in line LINE (1-based, -1 = last)
field() {
    /usr/bin/python3 - "$@" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
objs = [json.loads(l) for l in lines]   # every line must parse
o = objs[int(sys.argv[2]) - 1 if int(sys.argv[2]) > 0 else -1]
v = o.get(sys.argv[3])
print("null" if v is None else (str(v).lower() if isinstance(v, bool) else v))
PY
}

out=$FLOQ_TEST_TMP/out
"$BIN/floq" --json deploy j --timeout 60s -- "$jobs/echo.sh" '{x}' >"$out"
ok "deploy --json exits 0" test $? -eq 0
ok "deploy --json: one object, status DEPLOYED" test "$(field "$out" 1 status)" = DEPLOYED
ok "deploy --json: final true" test "$(field "$out" 1 final)" = true

"$BIN/floq" run j -p x=1 --wait --json --timeout 60s >"$out"
ok "run --wait --json exits 0" test $? -eq 0
ok "every line parses; the first is ACCEPTED" test "$(field "$out" 1 status)" = ACCEPTED
ok "the last is SUCCEEDED" test "$(field "$out" -1 status)" = SUCCEEDED
ok "the last carries the output tail" bash -c "[[ '$(field "$out" -1 output_tail)' == json\ 1* ]]"
ok "command_id is the same on every line" \
    test "$(field "$out" 1 command_id)" = "$(field "$out" -1 command_id)"
if command -v jq >/dev/null; then
    ok "jq reads it too" bash -c "jq -e 'select(.final) | .status == \"SUCCEEDED\"' '$out' >/dev/null"
fi

"$BIN/floq" run j --json --correlation-id my-corr-1 >"$out"
ok "run --json exits 0 with ACCEPTED" test "$(field "$out" 1 status)" = ACCEPTED
ok "correlation id echoed" test "$(field "$out" 1 correlation_id)" = my-corr-1
"$BIN/floq" status j --json >"$out"
ok "status --json parses" test "$(field "$out" 1 status)" = STATUS

# watch --json: lines from other clients' commands, live
"$BIN/floq" watch j --json --timeout 8s >"$FLOQ_TEST_TMP/watch" 2>&1 &
watcher=$!
sleep_until_watching() { "$BIN/floq" run j -p x=w >/dev/null 2>&1 && grep -q '"ACCEPTED"' "$FLOQ_TEST_TMP/watch"; }
ok "watch --json shows replies of other clients" wait_for 15 sleep_until_watching
wait "$watcher"
ok "watch exits 0 at its --timeout" test $? -eq 0
ok "every watch line is JSON" /usr/bin/python3 -c "
import json,sys
[json.loads(l) for l in open('$FLOQ_TEST_TMP/watch') if l.strip()]"
finish
