#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# 0211 (issue 6): `floq deploy --input/--output NAMESPACE,NAME` set the
# deployment's lineage datasets. The Deployment record (shown by `floq
# status NAME --json`) carries them in order, split at the first ',' so
# URI namespaces (ports, user@host) and names with commas survive; a
# malformed value is a usage error (exit 2) that never reaches Kafka; a
# redeploy without the flags clears them.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq ]] || { echo "  no floq-worker yet"; exit 77; }
floq_test_topics
jobs=$FLOQ_TEST_TMP/jobs; mkdir -p "$jobs"
export FLOQ_PROCESS_ALLOWED_DIRS=$jobs
printf '#!/bin/sh\nexit 0\n' >"$jobs/ok.sh"
chmod +x "$jobs/ok.sh"
bg worker "$BIN/floq-worker"
T=$FLOQ_TEST_TMP
F="$BIN/floq -b $FLOQ_BROKERS -t 60s"

$F deploy etl --input 'postgres://db:5432,shop.orders' \
    --input 'kafka://user@broker:9092,events,v2' \
    --output 's3://lake,daily/orders.parquet' -- "$jobs/ok.sh" >"$T/d.out" 2>&1
ok "deploy with datasets exits 0" test $? -eq 0
ok "deploy prints DEPLOYED" grep -q '^DEPLOYED deployment=etl' "$T/d.out"
$F status etl --json >"$T/st.json"
ok "status exits 0" test $? -eq 0
ok "inputs stored in order" \
    test "$(jq -cS '.detail | fromjson | .deployment.inputs' "$T/st.json")" = \
    '[{"name":"shop.orders","namespace":"postgres://db:5432"},{"name":"events,v2","namespace":"kafka://user@broker:9092"}]'
ok "outputs stored" \
    test "$(jq -cS '.detail | fromjson | .deployment.outputs' "$T/st.json")" = \
    '[{"name":"daily/orders.parquet","namespace":"s3://lake"}]'

$F deploy etl --input 'no-separator' -- "$jobs/ok.sh" >"$T/bad.out" 2>&1
ok "malformed --input exits 2" test $? -eq 2
ok "malformed --input says the syntax" grep -q 'NAMESPACE,NAME' "$T/bad.out"

$F deploy etl -- "$jobs/ok.sh" >/dev/null 2>&1
$F status etl --json >"$T/st2.json"
ok "redeploy without datasets clears them" \
    test "$(jq -c '.detail | fromjson | [.deployment.inputs, .deployment.outputs]' "$T/st2.json")" = '[[],[]]'
finish
