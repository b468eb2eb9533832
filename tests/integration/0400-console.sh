#!/usr/bin/env bash
# 0400: floq-console against the real broker. A worker runs a job that
# reports lineage, with parameters holding markup and quotes, two failing
# runs and one retried once; a console started after them restores the
# runs topic and reads the replies and lineage: the run's page (JSON and
# HTML) shows its attempt with worker and timestamps, the output tail, the
# lineage inputs and outputs and the command id, with every Kafka text
# escaped; the retried run's page shows both attempts; /runs filters by
# deployment, state and time and pages newest first; an
# undecodable command the worker sent to the DLQ shows on /dlq with its
# reason; records that cannot be decoded on the topics the console reads
# are counted, not fatal; a second console answers alike (a diff of the
# two answers is printed when they never agree).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/console_lib.sh"
command -v curl >/dev/null || { echo "  curl not installed: skipped"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP

start_worker w1
ok "worker joins" wait_for 60 worker_assigned w1
{
    deploy_cmd c-report report.sh "{tag}"
    deploy_cmd c-fail fail.sh
    # two attempts, 100 ms apart
    printf '{"deployment":"c-retry","body":{"DeployBody":{"backend":"process","spec":%s,"retry":{"max_attempts":2,"backoff_ms":100,"jitter":0}}}}\n' "$(spec fail.sh)"
} | produce >/dev/null
hostile='{"tag":"<script>alert(1)</script>","q":"it'"'"'s \"quoted\" & <b>bold</b>"}'
run=$(run_cmd c-report "$hostile" | produce)
ids=$T/ids
{
    echo "$run"
    run_cmd c-fail | produce
    run_cmd c-fail | produce
    run_cmd c-report '{"tag":"two"}' | produce
} >"$ids"
retry=$(run_cmd c-retry | produce)
echo "$retry" >>"$ids"
ok "the runs end" wait_for 60 all_final "$ids"
# an undecodable command: the worker sends it to the DLQ
head -c 64 /dev/urandom >"$T/garbage"
"$TOOL" produce-raw "$T/garbage" --key c-report
dlq_has() { [[ $("$TOOL" dlq | wc -l) -ge 1 ]]; }
ok "the garbage is in the DLQ" wait_for 30 dlq_has
R=$T/replies.json
replies_now "$R"
rid=$(reply_field "$R" "$run" ACCEPTED run_id)
url=$(reply_field "$R" "$run" ACCEPTED url)
ok "the ACCEPTED reply's URL is the console's run page" \
    test "$url" = "http://localhost:8080/runs/$rid"

P1=$(free_port)
start_console c1 "$P1"
ok "console 1 restores" wait_for 30 console_ready c1
has_lineage() { [[ $(cjson c1 "/runs/$rid" | jq '.lineage.outputs | length') -ge 1 ]]; }
ok "console 1 has the run's lineage" wait_for 30 has_lineage
J=$T/run.json
cjson c1 "/runs/$rid" >"$J"
ok "state SUCCEEDED" test "$(jq -r .state "$J")" = SUCCEEDED
ok "one attempt, on worker w1, with start and end" \
    test "$(jq -r '.attempts | length' "$J") $(jq -r '.attempts[0].worker' "$J")" = "1 w1-$$"
ok "attempt started before it finished" \
    jqe '.attempts[0].started_at > 0 and .attempts[0].finished_at >= .attempts[0].started_at' "$J"
ok "backend process" test "$(jq -r .backend "$J")" = process
ok "parameters as given" \
    test "$(jq -c '.params' "$J")" = "$(jq -c . <<<"$hostile")"
ok "output tail" jqe '.output_tail | contains("working")' "$J"
ok "lineage input shop.orders" \
    jqe '[.lineage.inputs[].name] | index("shop.orders")' "$J"
ok "lineage output reports/daily" \
    jqe 'any(.lineage.outputs[].name; startswith("reports/daily"))' "$J"
ok "the run command's id" jqe --arg c "$run" '.command_ids | index($c)' "$J"
ok "replies and lineage in the events" \
    jqe '([.events[] | select(.kind == "reply")] | length) >= 3 and ([.events[] | select(.kind == "lineage")] | length) >= 2' "$J"

rrid=$(reply_field "$R" "$retry" ACCEPTED run_id)
cjson c1 "/runs/$rrid" >"$T/retry.json"
ok "a retried run: two attempts, the first RETRIED with its reason, the second FAILED" \
    jqe '(.attempts | length) == 2 and .attempts[0].status == "RETRIED" and (.attempts[0].reason | length > 0) and .attempts[1].status == "FAILED" and .attempts[1].started_at >= .attempts[0].finished_at' "$T/retry.json"

H=$T/run.html
chtml c1 "/runs/$rid" >"$H"
ok "HTML: the page's own script only" test "$(grep -o '<script' "$H" | wc -l)" -eq 1
ok "HTML: parameters escaped" grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$H"
ok "HTML: quotes escaped" grep -qF 'it&#39;s &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;' "$H"
ok "HTML: no markup from Kafka" bash -c "! grep -qF '<b>bold' '$H'"
ok "HTML: state" grep -q 'id="state" class="state SUCCEEDED"' "$H"
ok "HTML: output tail" grep -q 'working' "$H"
ok "HTML: lineage" grep -qF 'shop.orders' "$H"
ok "HTML: finished, so no refresh" grep -q 'data-refresh="0"' "$H"
ok "HTML: a CSP that allows only the page's script" \
    bash -c "curl -s -D - -o /dev/null http://127.0.0.1:$P1/runs/$rid | grep -qi \"^content-security-policy: default-src 'none'; script-src 'sha256-\""

# /runs: filters and pages
total() { cjson c1 "$1" | jq -r .total; }
ok "/runs: 5 runs" test "$(total /runs)" = 5
ok "/runs?deployment=c-fail&state=FAILED: 2" test "$(total '/runs?deployment=c-fail&state=FAILED')" = 2
ok "/runs?state=succeeded: 2" test "$(total '/runs?state=succeeded')" = 2
ok "/runs?since=<in an hour>: 0" test "$(total "/runs?since=$(( $(date +%s) * 1000 + 3600000 ))")" = 0
ok "/runs?until=<in an hour>: 5" test "$(total "/runs?until=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)")" = 5
cjson c1 '/runs?per_page=3' >"$T/p1.json"
cjson c1 '/runs?per_page=3&page=2' >"$T/p2.json"
ok "page 1 of 2 holds 3 runs, page 2 two" \
    test "$(jq '.runs|length' "$T/p1.json") $(jq '.runs|length' "$T/p2.json") $(jq .pages "$T/p1.json")" = "3 2 2"
ok "newest first" jqe '[.runs[].created_at] as $t | $t == ($t | sort | reverse)' "$T/p1.json"
ok "page 2 is older than page 1" \
    test "$(jq '.runs[-1].created_at' "$T/p1.json")" -ge "$(jq '.runs[0].created_at' "$T/p2.json")"
ok "a bad filter is a 400" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P1/runs?state=bogus")" = 400
ok "/deployments lists both with their last runs" \
    jqe '.deployments["c-fail"].last_runs | length == 2' <(cjson c1 /deployments)

# /dlq
has_dlq() { cjson c1 /dlq | jq -e '.rejects | length >= 1' >/dev/null; }
ok "/dlq shows the rejected command" wait_for 20 has_dlq
ok "/dlq: with its reason and source" \
    jqe --arg t "$FLOQ_TOPIC_COMMANDS" '.rejects[0] | (.reason | length > 0) and (.source | startswith($t)) and .key == "c-report"' <(cjson c1 /dlq)
ok "/dlq HTML names the reason" bash -c "curl -s http://127.0.0.1:$P1/dlq | grep -q undecodable"

# records nobody can decode on the topics the console reads
FLOQ_TOPIC_COMMANDS=$FLOQ_TOPIC_REPLIES "$TOOL" produce-raw "$T/garbage" --key x
FLOQ_TOPIC_COMMANDS=$FLOQ_TOPIC_LINEAGE "$TOOL" produce-raw "$T/garbage" --key x
FLOQ_TOPIC_COMMANDS=$FLOQ_TOPIC_RUNS "$TOOL" produce-raw "$T/garbage" --key x
bad_counted() { [[ $(cjson c1 /healthz | jq -r .undecodable) -ge 3 ]]; }
ok "undecodable records counted, the console still answers" wait_for 20 bad_counted

# a second console answers alike
P2=$(free_port)
start_console c2 "$P2"
ok "console 2 restores" wait_for 30 console_ready c2
# same PATH: both consoles answer PATH alike; the last two answers stay in
# $T/same.c1 and $T/same.c2 for the diff printed when they never agree
same() {
    cjson c1 "$1" | jq -S . >"$T/same.c1" && cjson c2 "$1" | jq -S . >"$T/same.c2" &&
        [[ -s $T/same.c1 ]] && cmp -s "$T/same.c1" "$T/same.c2"
}
same_or_diff() {
    wait_for 10 same "$1" || { diff "$T/same.c1" "$T/same.c2" | head -40 | sed "s|^|    |"; return 1; }
}
ok "console 2 has the run's lineage too" wait_for 30 bash -c "curl -s -H 'Accept: application/json' http://127.0.0.1:$P2/runs/$rid | jq -e '.lineage.outputs | length >= 1' >/dev/null"
ok "same run page (JSON)" same_or_diff "/runs/$rid"
ok "same retried run page (JSON)" same_or_diff "/runs/$rrid"
ok "same /runs" same_or_diff "/runs?per_page=200"
ok "same /dlq" same_or_diff /dlq
html_same() {
    chtml c1 "/runs/$rid" | sed 's/data-refresh="[0-9]*"//' >"$T/same.c1"
    chtml c2 "/runs/$rid" | sed 's/data-refresh="[0-9]*"//' >"$T/same.c2"
    cmp -s "$T/same.c1" "$T/same.c2" ||
        { diff "$T/same.c1" "$T/same.c2" | head -40 | sed "s|^|    |"; return 1; }
}
ok "same HTML run page" html_same
ok "the console wrote nothing: no group of its own" \
    bash -c "! grep -qi 'join\\|commit' '$T/c1.log'"
finish
