#!/usr/bin/env bash
# 0120 (G7, issue 6): the worker's OpenLineage events on a real broker.
# Runs that succeed, fail, fail after a retry, time out, are stopped while
# running or while queued, end LOST (their worker killed with -9, a second
# worker takes over), declare datasets, report datasets on stdout, and one
# started by another run. Every event read_committed from the lineage topic
# validates against OpenLineage 2-0-2 and its facet schemas; each run has
# exactly one START and exactly one COMPLETE/FAIL/ABORT matching its final
# reply; runId = the run id of the replies; the key is run:{ns}/{job} (the
# parent's job for a child); the events are written by transactions.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
PY=/usr/bin/python3
VALIDATE=tests/data/openlineage/validate.py
command -v kcat >/dev/null || { echo "  kcat is required"; exit 77; }
$PY -c 'import jsonschema' 2>/dev/null ||
    { echo "  $PY with python3-jsonschema is required"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
start_worker w1 -o worker.concurrency=2
ok "w1 joins" wait_for 60 worker_assigned w1

# A deployment name other than "ok" on the same partition, for the child.
home=$("$TOOL" partition --key ok)
child=
for i in $(seq 0 200); do
    if [[ $("$TOOL" partition --key "child$i") == "$home" ]]; then
        child=child$i; break
    fi
done
ok "a child deployment on ok's partition ($child)" test -n "$child"

retry='{"max_attempts":2,"backoff_ms":200,"backoff_multiplier":2.0,"max_backoff_ms":1000,"jitter":0.1}'
{
    deploy_cmd ok ok.sh
    deploy_cmd "$child" ok.sh child
    deploy_cmd bad fail.sh "{code}"
    deploy_cmd flaky fail.sh 5 | jq -c --argjson r "$retry" '.body.DeployBody.retry = $r'
    deploy_cmd slow sleep.sh "{secs}"
    deploy_cmd long sleep.sh "{secs}"
    deploy_cmd rep report.sh "{tag}"
    deploy_cmd io ok.sh | jq -c '.body.DeployBody += {namespace: "etl",
        inputs: [{namespace: "postgres://db:5432", name: "shop.orders"}],
        outputs: [{namespace: "s3://lake", name: "mart/orders"}]}'
} | produce >"$T/deploys"
ok "deployments DEPLOYED" wait_for 60 all_final "$T/deploys"

declare -A CMD
CMD[ok]=$(run_cmd ok | produce)
CMD[bad]=$(run_cmd bad '{"code":"7"}' | produce)
CMD[flaky]=$(run_cmd flaky | produce)
CMD[slow]=$(jq -cn '{deployment:"slow",body:{RunBody:{params:{secs:"60"},timeout_ms:1000}}}' | produce)
CMD[rep]=$(run_cmd rep '{"tag":"t1"}' | produce)
CMD[io]=$(run_cmd io | produce)
printf '%s\n' "${CMD[@]}" >"$T/runs1"
ok "first runs end" wait_for 120 all_final "$T/runs1"
R=$T/replies.json
replies_now "$R"
rid_of() { reply_field "$R" "$1" ACCEPTED run_id; }
parent_rid=$(rid_of "${CMD[ok]}")
CMD[child]=$(jq -cn --arg d "$child" --arg p "$parent_rid" \
    '{deployment:$d,body:{RunBody:{params:{},parent_run_id:$p}}}' | produce)
ok "child run ends" wait_for 60 has_final "${CMD[child]}"

# stopped: two running (concurrency 2), one queued that never starts
CMD[stop1]=$(run_cmd long '{"secs":"60"}' | produce)
CMD[stop2]=$(run_cmd long '{"secs":"60"}' | produce)
ok "two long runs RUNNING" wait_for 60 has_status "${CMD[stop2]}" RUNNING
wait_for 60 has_status "${CMD[stop1]}" RUNNING
CMD[stopq]=$(run_cmd long '{"secs":"60"}' | produce)
ok "third long run ACCEPTED" wait_for 30 has_status "${CMD[stopq]}" ACCEPTED
printf '{"deployment":"long","body":{"StopBody":{"run_id":null}}}\n' | produce >/dev/null
printf '%s\n' "${CMD[stop1]}" "${CMD[stop2]}" "${CMD[stopq]}" >"$T/runs2"
ok "stopped runs end" wait_for 60 all_final "$T/runs2"

# LOST: max_attempts 1, its worker killed -9 while it runs
deploy_cmd lost sleep.sh "{secs}" | produce >"$T/deploy_lost"
ok "lost DEPLOYED" wait_for 30 all_final "$T/deploy_lost"
CMD[lost]=$(run_cmd lost '{"secs":"60"}' | produce)
ok "lost run RUNNING" wait_for 60 has_status "${CMD[lost]}" RUNNING
kill -KILL "${WPID[w1]}"
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
ok "lost run ends" wait_for 90 has_final "${CMD[lost]}"
replies_now "$R"
ok "the run ended LOST" test "$(statuses "$R" "${CMD[lost]}")" = "ACCEPTED RUNNING LOST"
ok "the retried run FAILED after 2 attempts" \
    test "$(reply_field "$R" "${CMD[flaky]}" FAILED attempt)" = 2

# run id -> expected terminal eventType, from the final replies
: >"$T/expect"
for k in "${!CMD[@]}"; do
    c=${CMD[$k]}
    st=$(jq -r --arg id "$c" 'select(.command_id == $id and .final) | .status' "$R")
    case $st in
    SUCCEEDED) ev=COMPLETE ;; FAILED | TIMED_OUT) ev=FAIL ;;
    CANCELLED | LOST) ev=ABORT ;; *) ev="?$st" ;;
    esac
    printf '%s %s %s %s\n' "$k" "$(rid_of "$c")" "$st" "$ev" >>"$T/expect"
done
nruns=${#CMD[@]}

L=$T/lineage.jsonl
KV=$T/lineage.kv
lineage_now() {
    kcat -C -b "$FLOQ_BROKERS" -t "$FLOQ_TOPIC_LINEAGE" -e -q \
        -X isolation.level=read_committed -f '%p\t%o\t%k\t%s\n' >"$KV" 2>/dev/null
}
# every run's terminal event is committed (w1's open transaction, if any,
# holds read_committed readers back until the coordinator aborts it)
lineage_complete() {
    lineage_now || return 1
    [[ $(cut -f4 "$KV" | jq -r 'select(.eventType | test("COMPLETE|FAIL|ABORT")) | .run.runId' |
        sort -u | wc -l) -ge $nruns ]]
}
ok "terminal events of all $nruns runs on the lineage topic" wait_for 60 lineage_complete
"$BIN/floq-lineage" tail --json --from-beginning -e >"$L" 2>"$T/tail.err"
ok "floq-lineage tail reads every event ($(wc -l <"$L"))" \
    test "$(wc -l <"$L")" -eq "$(wc -l <"$KV")"
ok "every event valid (OpenLineage 2-0-2 + facets)" $PY "$VALIDATE" "$L"

count() { jq -r --arg r "$1" --arg t "$2" \
    'select(.run.runId == $r and .eventType == $t) | .eventType' "$L" | wc -l; }
ev() { jq -c --arg r "$1" --arg t "$2" \
    'select(.run.runId == $r and .eventType == $t)' "$L" | head -1; }
bad=0
while read -r k rid st want; do
    s=$(count "$rid" START)
    term=$(jq -r --arg r "$rid" 'select(.run.runId == $r and
        (.eventType | test("^(COMPLETE|FAIL|ABORT)$"))) | .eventType' "$L")
    if [[ $s != 1 || $term != "$want" ]]; then
        echo "  run $k ($rid, $st): START x$s, terminal '$(tr '\n' ' ' <<<"$term")', want $want"
        bad=$((bad + 1))
    fi
done <"$T/expect"
ok "per run: one START, one COMPLETE/FAIL/ABORT matching its final reply" test "$bad" -eq 0
stray=$(jq -r '.run.runId' "$L" | sort -u | comm -23 - <(cut -d' ' -f2 "$T/expect" | sort -u) | wc -l)
ok "every runId is a floq run id of the replies" test "$stray" -eq 0
ok "every final status covered" test "$(cut -d' ' -f3 "$T/expect" | sort -u | tr '\n' ' ')" = \
    "CANCELLED FAILED LOST SUCCEEDED TIMED_OUT "
nofacet=$(jq -r 'select(.eventType == "FAIL" and (.run.facets.errorMessage.message | not)) | .run.runId' "$L" | wc -l)
ok "every FAIL has an errorMessage" test "$nofacet" -eq 0

rid=$(rid_of "${CMD[bad]}")
ok "FAIL: message has the exit status" grep -q 7 <<<"$(ev "$rid" FAIL | jq -r .run.facets.errorMessage.message)"
ok "FAIL: stackTrace has stderr" grep -q "failing on purpose" <<<"$(ev "$rid" FAIL | jq -r .run.facets.errorMessage.stackTrace)"
rid=$(rid_of "${CMD[lost]}")
ok "LOST: ABORT with errorMessage" test "$(ev "$rid" ABORT | jq -r '.run.facets.errorMessage.message | length > 0')" = true
rid=$(rid_of "${CMD[flaky]}")
ok "retried run: its second attempt is RUNNING, not a second START" test "$(count "$rid" RUNNING)" -ge 1
rid=$(rid_of "${CMD[stopq]}")
ok "queued run stopped: START then ABORT" test "$(jq -r --arg r "$rid" 'select(.run.runId == $r) | .eventType' "$L" | tr '\n' ' ')" = "START ABORT "

rid=$(rid_of "${CMD[io]}")
ok "declared: job namespace from the deployment" test "$(ev "$rid" COMPLETE | jq -r .job.namespace)" = etl
ok "declared: inputs" test "$(ev "$rid" START | jq -c '[.inputs[] | [.namespace, .name]]')" = '[["postgres://db:5432","shop.orders"]]'
ok "declared: outputs" test "$(ev "$rid" COMPLETE | jq -c '[.outputs[] | [.namespace, .name]]')" = '[["s3://lake","mart/orders"]]'
rid=$(rid_of "${CMD[rep]}")
ok "reported: COMPLETE has the input" test "$(ev "$rid" COMPLETE | jq -c '[.inputs[] | [.namespace, .name]]')" = '[["postgres://db:5432","shop.orders"]]'
ok "reported: COMPLETE has the output" test "$(ev "$rid" COMPLETE | jq -c '[.outputs[] | [.namespace, .name]]')" = '[["s3://lake","reports/daily t1"]]'
ok "reported: not in START" test "$(ev "$rid" START | jq -c '[.inputs, .outputs]')" = '[[],[]]'
rid=$(rid_of "${CMD[child]}")
ok "child: parent facet names the parent run" \
    test "$(ev "$rid" COMPLETE | jq -r '.run.facets.parent | "\(.run.runId) \(.job.namespace)/\(.job.name)"')" = "$parent_rid floq/ok"
ok "processing_engine and jobType facets" \
    test "$(jq -r 'select((.run.facets.processing_engine.name != "floq") or (.job.facets.jobType.integration != "FLOQ")) | .run.runId' "$L" | wc -l)" -eq 0

# keys: run:{namespace}/{name} of the parent's job when there is one
badkey=$(cut -f3- "$KV" | while IFS=$'\t' read -r key val; do
    want=$(jq -r '(.run.facets.parent.root.job // .run.facets.parent.job // .job) | "run:\(.namespace)/\(.name)"' <<<"$val")
    [[ $key == "$want" ]] || echo "$key != $want"
done | wc -l)
ok "key = run:{namespace}/{name}" test "$badkey" -eq 0
ok "child's key is the parent's job" \
    test "$(awk -F'\t' '{print $3}' "$KV" | grep -c "^run:floq/$child$")" -eq 0

# written by transactions: commit markers take offsets between the
# committed records of a partition (a plain producer leaves none), and
# read_uncommitted sees at least what read_committed sees
gaps=$(awk -F'\t' '{n[$1]++; if ($2 > m[$1]) m[$1] = $2}
    END {g = 0; for (p in n) g += m[p] + 1 - n[p]; print g}' "$KV")
ok "lineage records carry transaction markers ($gaps)" test "$gaps" -gt 0
kcat -C -b "$FLOQ_BROKERS" -t "$FLOQ_TOPIC_LINEAGE" -e -q \
    -X isolation.level=read_uncommitted -f '%s\n' >"$T/uncommitted.jsonl" 2>/dev/null
ok "read_uncommitted sees at least the committed events" \
    test "$(wc -l <"$T/uncommitted.jsonl")" -ge "$(wc -l <"$KV")"
# each run's START with its RUNNING reply, its terminal event with its
# final reply: same sets of runs on both topics
ok "runs with START = runs with a RUNNING or final reply" test \
    "$(jq -r 'select(.eventType == "START") | .run.runId' "$L" | sort -u | tr '\n' ' ')" = \
    "$(cut -d' ' -f2 "$T/expect" | sort -u | tr '\n' ' ')"
finish
