#!/usr/bin/env bash
# itest: alone: an orchestrator
# 0290 (G1, G3, issue 11): the kubernetes backend through Kafka against
# fabric8's kubernetes-server-mock in CRUD mode (ops/k8s-mock: no real API
# server can run here), behind ops/k8s-mock/k8s_proxy.py, which gives it
# what the mock lacks: TLS with a throw-away CA (floq verifies it through
# kubernetes.ca.file), bearer-token authentication against a file this
# test rewrites (rotation), an identity without RBAC (403), garbage
# collection of a Job's pods on a Background delete, and the contract:
# every request floq sends is validated against the batch/v1 OpenAPI
# document (tests/data/kubernetes), and one that does not conform is a
# violation that fails this test (a negative control proves the check
# bites). data/k8s_controller.py plays the Job controller and the kubelet:
# it gives each Job a pod and sets its status by the run's params.
# Checked: deploy -> run -> SUCCEEDED with the Job as backend_ref; a failing
# Job -> FAILED with the pod's reason and exit code; stop -> CANCELLED, the
# Job deleted with propagationPolicy=Background (its pods gone too); the
# same command twice and a drain handover -> one Job (the second create
# answered 409 and the same Job tracked); the token file rotated mid-run
# (the old token refused from then on) and the run still ends well; a Job
# deleted from outside -> FAILED; validate good, bad token, forbidden,
# unreachable and an untrusted certificate, each within 10 s; no token in
# any reply, topic record (lineage, DLQ, state) or worker log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
PY=/usr/bin/python3
for t in java javac openssl curl; do
    command -v $t >/dev/null || { echo "  $t is required"; exit 77; }
done
$PY -c 'import jsonschema' 2>/dev/null || { echo "  python3-jsonschema is required"; exit 77; }
t_begin=$(date +%s)
export FLOQ_WORKER_DRAIN_GRACE_MS=${FLOQ_WORKER_DRAIN_GRACE_MS:-2000}
worker_env
T=$FLOQ_TEST_TMP
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

trap '"$ROOT/ops/k8s-mock/k8s-mock.sh" stop "$T/mock"; cleanup' EXIT
if ! MOCK=$("$ROOT/ops/k8s-mock/k8s-mock.sh" start "$T/mock" 2>"$T/mock-start.log" | tail -1) ||
        [[ $MOCK != http://* ]]; then
    echo "  cannot start the Kubernetes mock (ops/k8s-mock/k8s-mock.sh):"
    sed 's/^/    /' "$T/mock-start.log" | tail -5
    exit 77
fi
ok "the CRUD mock listens ($MOCK, $(( $(date +%s) - t_begin )) s)" curl -sf -o /dev/null "$MOCK/readyz"

# a throw-away CA and a certificate for 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=floq-test-ca \
    -keyout "$T/ca.key" -out "$T/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
    -keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" \
    -CAcreateserial -days 1 -extfile "$T/ext" -out "$T/srv.crt" 2>/dev/null
TOK1="tok1-$RANDOM$RANDOM-SECRET"
TOK2="tok2-$RANDOM$RANDOM-SECRET"
NORBAC="norbac-$RANDOM-SECRET"
echo "$TOK1" >"$T/valid"; echo "$NORBAC" >>"$T/valid"
echo "$TOK1" >"$T/token"; chmod 600 "$T/token"
start_proxy() {
    rm -f "$T/proxy.port"
    bg k8s-proxy $PY "$ROOT/ops/k8s-mock/k8s_proxy.py" --upstream "$MOCK" \
        --spec "$ROOT/tests/data/kubernetes/kubernetes-batch-v1_swagger-subset_release-1.34.json" \
        --tokens "$T/valid" --forbidden "$NORBAC" --cert "$T/srv.crt" --key "$T/srv.key" \
        --log "$T/requests.log" --violations "$T/violations.log" --port-file "$T/proxy.port" \
        --listen-port "${1:-0}"
    PROXY_PID=$!
    wait_for 20 test -s "$T/proxy.port"
}
ok "the validating TLS proxy listens" start_proxy
API=https://127.0.0.1:$(cat "$T/proxy.port")
ok "it verifies with the test CA and wants a token" bash -c \
    '[[ $(curl -s --cacert "$1" -o /dev/null -w "%{http_code}" "$2/readyz") == 401 ]]' _ "$T/ca.crt" "$API"
# negative control: a Job with a misspelt field is refused as a violation
bad='{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"},"spec":{"ttlSecondsAfterFinish":5,"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}}}'
curl -s --cacert "$T/ca.crt" -H "Authorization: Bearer $TOK1" -H 'Content-Type: application/json' \
    -d "$bad" "$API/apis/batch/v1/namespaces/floq-jobs/jobs" >"$T/neg.json"
ok "the OpenAPI check refuses a non-conforming request ($(jq -r .message "$T/neg.json" | head -c 120))" \
    grep -q ttlSecondsAfterFinish "$T/violations.log"
: >"$T/violations.log"
bg k8s-controller $PY "$DATA/k8s_controller.py" "$MOCK"

export FLOQ_KUBERNETES_API_URL=$API
export FLOQ_KUBERNETES_TOKEN_FILE=$T/token
export FLOQ_KUBERNETES_CA_FILE=$T/ca.crt
export FLOQ_KUBERNETES_NAMESPACE=floq-jobs
export FLOQ_KUBERNETES_POLL_INTERVAL_MS=200
export FLOQ_KUBERNETES_STOP_WAIT_MS=10000
start_worker w1
ok "w1 joins" wait_for 60 worker_assigned w1

F=("$BIN/floq" -b "$FLOQ_BROKERS" -t 30s)
cat >"$T/spec.json" <<'EOF'
{"image": "busybox:1.36", "command": ["sh", "-c"], "args": ["{mode}", "{why}"],
 "env": {"MODE": "{mode}"}, "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}},
 "service_account": "floq-runner", "ttl_seconds_after_finished": 3600}
EOF
"${F[@]}" deploy k8s-job --backend kubernetes --spec "$T/spec.json" --json >"$T/d.json"
ok "DEPLOYED ($(jq -r '.status + " " + (.reason // "")' "$T/d.json"))" test "$(jq -r .status "$T/d.json")" = DEPLOYED

M() { curl -sf "$MOCK$1"; }
job_of() { echo "floq-$1-${2:-1}"; }
jobs_of() { M /apis/batch/v1/namespaces/floq-jobs/jobs | jq -r --arg r "$1" '.items[] | select(.metadata.annotations["floq.io/run-id"]==$r) | .metadata.name'; }
set_status() { # NAME CONDITION
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        -d "{\"status\":{\"conditions\":[{\"type\":\"$2\",\"status\":\"True\"}]}}" \
        "$MOCK/apis/batch/v1/namespaces/floq-jobs/jobs/$1/status" >/dev/null
}
running() { replies_now "$T/r.json"; [[ $(statuses "$T/r.json" "$1") == *RUNNING* ]]; }
final() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$1") -ge 1 ]]; }
run_of() { jq -r --arg id "$1" 'select(.command_id==$id) | .run_id' "$T/r.json" | head -1; }
final_of() { jq -r --arg id "$1" 'select(.command_id==$id and .final) | .status + " " + (.reason // "")' "$T/r.json"; }
rs() { "$TOOL" runs --latest | jq -c --arg r "$1" 'select(.run_id==$r)'; }

# deploy -> run -> SUCCEEDED
id=$(run_cmd k8s-job '{"mode":"succeed","why":"-"}' | produce)
ok "run final" wait_for 60 final "$id"
ok "ACCEPTED RUNNING SUCCEEDED" test "$(statuses "$T/r.json" "$id")" = "ACCEPTED RUNNING SUCCEEDED"
run1=$(run_of "$id")
ok "backend_ref is the Job floq-jobs/$(job_of "$run1")" \
    test "$(rs "$run1" | jq -r .backend_ref)" = "floq-jobs/$(job_of "$run1")"
M "/apis/batch/v1/namespaces/floq-jobs/jobs/$(job_of "$run1")" >"$T/job1.json"
ok "the Job came from the template (params in args and env, backoffLimit 0)" bash -c \
    'test -s "$1" && jq -e ".spec.backoffLimit == 0 and .spec.ttlSecondsAfterFinished == 3600 and
        .spec.template.spec.serviceAccountName == \"floq-runner\" and
        .spec.template.spec.restartPolicy == \"Never\" and
        .spec.template.spec.containers[0].args == [\"succeed\", \"-\"] and
        .spec.template.spec.containers[0].env[0].value == \"succeed\"" "$1" >/dev/null' _ "$T/job1.json"

# the same command again: the original outcome, still one Job
printf '%s\n' "$(run_cmd k8s-job '{"mode":"succeed","why":"-"}' "{\"command_id\":\"$id\"}")" | produce >/dev/null
repeat() { replies_now "$T/r.json"; [[ $(jq -r --arg id "$id" 'select(.command_id==$id)' "$T/r.json" | jq -s length) -ge 4 ]]; }
ok "the repeat is answered" wait_for 30 repeat
ok "one Job for that run" test "$(jobs_of "$run1" | wc -l)" -eq 1

# a failing Job: FAILED with the pod's reason
idf=$(run_cmd k8s-job '{"mode":"fail","why":"disk full"}' | produce)
ok "failing run final" wait_for 60 final "$idf"
ok "FAILED with the pod's reason ($(final_of "$idf" | head -c 250))" bash -c \
    '[[ $1 == FAILED*BackoffLimitExceeded*"terminated: Error, exit code 3: disk full"* ]]' _ "$(final_of "$idf")"

# stop mid-run: CANCELLED, the Job deleted with Background propagation
ids=$(run_cmd k8s-job '{"mode":"hold","why":"-"}' | produce)
ok "held run RUNNING" wait_for 60 running "$ids"
runs=$(run_of "$ids")
ok "its pod runs" wait_for 30 bash -c '[[ $(curl -sf "$1/api/v1/namespaces/floq-jobs/pods?labelSelector=job-name%3D$2" | jq ".items | length") -ge 1 ]]' _ "$MOCK" "$(job_of "$runs")"
"${F[@]}" stop k8s-job --run "$runs" --json >"$T/s.json" || true
cancelled() { replies_now "$T/r.json"; [[ $(final_of "$ids") == CANCELLED* ]]; }
ok "CANCELLED ($(jq -r '.status' "$T/s.json"))" wait_for 60 cancelled
ok "  reason: $(final_of "$ids" | head -c 200)" bash -c '[[ $1 == *deleted* ]]' _ "$(final_of "$ids")"
ok "floq deleted it with propagationPolicy=Background" \
    grep -q "^DELETE /apis/batch/v1/namespaces/floq-jobs/jobs/$(job_of "$runs")?propagationPolicy=Background 200" "$T/requests.log"
ok "the Job is gone" bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" "$1/apis/batch/v1/namespaces/floq-jobs/jobs/$2") == 404 ]]' _ "$MOCK" "$(job_of "$runs")"
ok "and its pods with it" bash -c '[[ $(curl -sf "$1/api/v1/namespaces/floq-jobs/pods?labelSelector=job-name%3D$2" | jq ".items | length") == 0 ]]' _ "$MOCK" "$(job_of "$runs")"

# the token rotated mid-run: the old one is refused from then on
idt=$(run_cmd k8s-job '{"mode":"hold","why":"-"}' | produce)
ok "run before rotation RUNNING" wait_for 60 running "$idt"
runt=$(run_of "$idt")
printf '%s\n%s\n' "$TOK2" "$NORBAC" >"$T/valid"
echo "$TOK2" >"$T/token.new"; mv "$T/token.new" "$T/token"
ok "the old token is refused now" bash -c \
    '[[ $(curl -s --cacert "$1" -H "Authorization: Bearer $3" -o /dev/null -w "%{http_code}" "$2/readyz") == 401 ]]' _ "$T/ca.crt" "$API" "$TOK1"
n0=$(wc -l <"$T/requests.log")
ok "floq polls with the new token" wait_for 10 bash -c \
    '[[ $(tail -n +$(( $2 + 1 )) "$1" | grep -c "^GET /apis/batch/v1/namespaces/floq-jobs/jobs/$3 200") -ge 2 ]]' _ "$T/requests.log" "$n0" "$(job_of "$runt")"
set_status "$(job_of "$runt")" Complete
ok "the rotated run final" wait_for 60 final "$idt"
ok "SUCCEEDED across the rotation" bash -c '[[ $1 == SUCCEEDED* ]]' _ "$(final_of "$idt")"

# a Job deleted from outside: FAILED
idx=$(run_cmd k8s-job '{"mode":"hold","why":"-"}' | produce)
ok "run to be deleted RUNNING" wait_for 60 running "$idx"
runx=$(run_of "$idx")
curl -sf -X DELETE "$MOCK/apis/batch/v1/namespaces/floq-jobs/jobs/$(job_of "$runx")" >/dev/null
ok "its run final" wait_for 60 final "$idx"
ok "FAILED: deleted from outside ($(final_of "$idx" | head -c 150))" bash -c '[[ $1 == FAILED*"deleted from outside"* ]]' _ "$(final_of "$idx")"

# a drain hands a running attempt over: the next owner creates the same
# Job name, gets 409 and tracks that Job; still one Job for the run
idh=$(run_cmd k8s-job '{"mode":"hold","why":"-"}' | produce)
ok "handover run RUNNING" wait_for 60 running "$idh"
runh=$(run_of "$idh")
kill -TERM "${WPID[w1]}"
ok "w1 drains and leaves" wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "${WPID[w1]}"
start_worker w2
ok "w2 joins" wait_for 60 worker_assigned w2
ok "w2 tracks the existing Job (409 on create)" wait_for 60 bash -c \
    'grep -q "Job floq-jobs/$2 exists already: tracking it" "$1" || grep -q "attached to Job floq-jobs/$2" "$1"' _ "$T/w2.log" "$(job_of "$runh")"
set_status "$(job_of "$runh")" Complete
ok "handover run final" wait_for 60 final "$idh"
ok "SUCCEEDED after the handover" bash -c '[[ $1 == SUCCEEDED* ]]' _ "$(final_of "$idh")"
ok "one Job for that run" test "$(jobs_of "$runh" | wc -l)" -eq 1
ok "its create was answered 409 the second time" bash -c \
    '[[ $(grep -c "^POST /apis/batch/v1/namespaces/floq-jobs/jobs 409" "$1") -ge 1 ]]' _ "$T/requests.log"

# a worker SIGKILLed while its Job runs: the next owner re-attaches to the
# Job by its stored reference and reports its end once (no second Job,
# no attempt 2)
idk=$(run_cmd k8s-job '{"mode":"hold","why":"-"}' | produce)
ok "run before the SIGKILL RUNNING" wait_for 60 running "$idk"
runk=$(run_of "$idk")
kill -KILL "${WPID[w2]}"
start_worker w3
ok "w3 joins" wait_for 60 worker_assigned w3
ok "w3 re-attaches to Job floq-jobs/$(job_of "$runk")" wait_for 60 worker_log_has w3 "re-attached to remote run floq-jobs/$(job_of "$runk")"
set_status "$(job_of "$runk")" Complete
ok "the re-attached run final" wait_for 60 final "$idk"
ok "one final reply, SUCCEEDED, attempt 1 ($(final_of "$idk" | head -c 120))" bash -c \
    '[[ $1 -eq 1 && $2 == SUCCEEDED* && $3 == 1 ]]' _ "$(finals "$T/r.json" "$idk")" "$(final_of "$idk")" \
    "$(jq -r --arg id "$idk" 'select(.command_id==$id and .final) | .attempt' "$T/r.json")"
ok "one Job for that run, none for an attempt 2" test "$(jobs_of "$runk" | wc -l)" -eq 1

# validate: good, a refused token, no RBAC, unreachable; each within 10 s
v() { local t0=$(date +%s%N); "${F[@]}" validate kubernetes "$@" --json >"$T/v.json" 2>&1 || true; VMS=$(( ($(date +%s%N) - t0) / 1000000 )); }
vr() { jq -r '.status + " " + (.reason // "")' "$T/v.json"; }
v --spec "$T/spec.json"
ok "validate: VALID in ${VMS} ms" bash -c '[[ $(jq -r .status "$1") == VALID ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
echo "not-$TOK2" >"$T/token"
v --spec "$T/spec.json"
ok "validate, token refused: $(vr | head -c 160) (${VMS} ms)" bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"refuses the token"* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
echo "$NORBAC" >"$T/token"
v --spec "$T/spec.json"
ok "validate, no RBAC: $(vr | head -c 160) (${VMS} ms)" bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *forbidden*jobs.batch* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
echo "$TOK2" >"$T/token"
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
v --spec "$T/spec.json"
ok "validate, API server gone: $(vr | head -c 160) (${VMS} ms)" bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *unreachable* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"
# the API server back on its port with a certificate of another CA
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/srv.key" -out "$T/srv.crt" 2>/dev/null
ok "the proxy is back with a certificate the worker's CA did not sign" start_proxy "${API##*:}"
v --spec "$T/spec.json"
ok "validate, TLS failure: $(vr | head -c 160) (${VMS} ms)" bash -c '[[ $(jq -r .status "$1") == INVALID && $(jq -r .reason "$1") == *"TLS failure"*kubernetes.ca.file* ]] && (( $2 < 10000 ))' _ "$T/v.json" "$VMS"

replies_now "$T/r.json"
ok "every request conformed to the batch/v1 OpenAPI document" \
    bash -c '! test -s "$1" || { sed "s/^/    /" "$1"; false; }' _ "$T/violations.log"
ok "floq called batch/v1 (create, get, delete, dry-run)" bash -c \
    'grep -q "^POST /apis/batch/v1/namespaces/floq-jobs/jobs 201" "$1" &&
     grep -q "^POST /apis/batch/v1/namespaces/floq-jobs/jobs?dryRun=All" "$1" &&
     grep -q "^GET /apis/batch/v1/namespaces/floq-jobs/jobs/" "$1"' _ "$T/requests.log"
# no token anywhere: replies, lineage, DLQ, state topics, worker logs
mkdir -p "$T/dump"
for t in replies lineage deployments runs dlq; do
    if command -v kcat >/dev/null; then
        kcat -b "$FLOQ_BROKERS" -C -e -q -o beginning -t "$FLOQ_TEST_NS.$t" \
            -f 'key=%k headers=%h value=%s\n' >"$T/dump/$t.raw" 2>/dev/null || true
    fi
done
command -v kcat >/dev/null &&
    ok "the topics were dumped (lineage: $(wc -l <"$T/dump/lineage.raw") events)" \
        test -s "$T/dump/replies.raw" -a -s "$T/dump/lineage.raw" &&
    ok "lineage events carry the floq_backend facet with the Job's URL" bash -c \
        'grep -aF "/apis/batch/v1/namespaces/floq-jobs/jobs/$2" "$1" | grep -qa floq_backend' _ "$T/dump/lineage.raw" "$(job_of "$run1")"
printf 'tok1 text %s\ntok2 text %s\nnorbac text %s\n' "$TOK1" "$TOK2" "$NORBAC" >"$T/secrets"
ok "no token in any reply, topic record or worker log" \
    $PY "$DATA/secret_scan.py" "$T/secrets" "$T/r.json" "$T/w1.log" "$T/w2.log" "$T/w3.log" \
        $(compgen -G "$T/dump/*.raw")
echo "  0290 took $(( $(date +%s) - t_begin )) s"
finish
