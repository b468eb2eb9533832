#!/usr/bin/env bash
# 0414: JSON logs carry the ids (issue 12, logs). A worker logging JSON
# (log.format=json, at debug level) deploys, runs one job to SUCCEEDED,
# runs another, stops it (CANCELLED) and drains. Every line of its log is a
# JSON object (ts, level, program, facility, msg); every line whose message
# mentions a run id carries it as the run_id field, every line whose
# message mentions a command id carries it as command_id; each run has
# lines with its run_id (accepted, started, ended) and each command lines
# with its command_id.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
export FLOQ_TOPIC_PARTITIONS=2
start_worker w1 -o log.format=json -o log.level=debug -o worker.concurrency=2
ok "worker joins" wait_for 60 worker_log_has w1 '"msg":"assigned [1-9]'
R=$T/replies.json
d1=$(deploy_cmd okjob ok.sh "{n}" | produce)
d2=$(deploy_cmd long sleep.sh "{secs}" | produce)
r1=$(run_cmd okjob '{"n":"1"}' | produce)
r2=$(run_cmd long '{"secs":"60"}' | produce)
ok "the first run succeeds" wait_for 60 has_status "$r1" SUCCEEDED
ok "the second run is RUNNING" wait_for 60 has_status "$r2" RUNNING
replies_now "$R"
rid1=$(reply_field "$R" "$r1" ACCEPTED run_id)
rid2=$(reply_field "$R" "$r2" ACCEPTED run_id)
s1=$(printf '{"deployment":"long","body":{"StopBody":{"run_id":"%s"}}}\n' "$rid2" | produce)
ok "the stopped run ends CANCELLED" wait_for 30 has_status "$r2" CANCELLED
ok "the stop is answered" wait_for 30 has_status "$s1" STOPPED
kill -TERM "${WPID[w1]}"
exited() { ! worker_alive w1; }
ok "the worker drains and exits" wait_for 30 exited

cat >"$T/check.py" <<'PY'
import json, sys
log, runs, cmds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
bad, lines = [], []
for n, line in enumerate(open(log, encoding="utf-8", errors="replace"), 1):
    try:
        o = json.loads(line)
        assert isinstance(o, dict) and all(k in o for k in ("ts", "level", "program", "facility", "msg"))
        lines.append(o)
    except Exception:
        bad.append("line %d is not a JSON log object: %r" % (n, line[:160]))
seen = {i: 0 for i in runs + cmds}
for o in lines:
    for field, ids in (("run_id", runs), ("command_id", cmds)):
        for i in ids:
            if i in o["msg"] or o.get(field) == i:
                seen[i] += 1
                if o.get(field) != i:
                    bad.append("%s %s missing: %s" % (field, i, json.dumps(o)[:300]))
for i in runs:
    if seen[i] < 3:
        bad.append("run %s: only %d lines" % (i, seen[i]))
for i in cmds:
    if seen[i] < 1:
        bad.append("command %s: no line" % i)
print("  %d lines; lines per id: %s" % (len(lines), ", ".join("%s..=%d" % (i[:8], seen[i]) for i in seen)))
for b in bad[:15]:
    print("   ", b)
sys.exit(1 if bad else 0)
PY
ok "every line is JSON, and carries the run and command ids it mentions" \
    python3 "$T/check.py" "$T/w1.log" "$rid1,$rid2" "$d1,$d2,$r1,$r2,$s1"
finish
