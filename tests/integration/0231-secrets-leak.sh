#!/usr/bin/env bash
# itest: alone: its own cluster
# 0231 (design.md, Security; issue 10 item 5): planted secrets never leak.
# Distinctive secrets are planted: the HMAC key of the keys file the
# worker verifies and the CLI signs with, the SASL password (SASL_SSL
# listener of kafka.sh, given to every component through
# sasl.password.file, and once with -X sasl.password), and a bearer token
# in the file of `floq-lineage forward --token-file` (also in the worker's
# environment, where a job must not see it); floq-lineage tail reads the
# password inline from a -F properties file. A worker (debug logs,
# librdkafka debug), the CLI (-v -v) and floq-lineage (forward, tail) then
# go through signed and forged commands, an unsigned one, a rejected
# deploy, a run that fails printing its whole environment, status, and
# --dump-config. Every reply, DLQ record with its headers (kcat %h),
# lineage event, state record, command, and every log and output is then
# searched (data/secret_scan.py) for each secret as given, hex, base64 at
# any alignment and truncated to 16 characters: none may appear. The scan
# is shown able to fail: the endpoint's own request log (which must hold
# the token) and synthetic files with encoded secrets are hits.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker && -x $BIN/floq && -x $BIN/floq-lineage ]] ||
    { echo "  floq programs not built"; exit 77; }
command -v openssl >/dev/null || { echo "  openssl is needed: skipped"; exit 77; }
command -v kcat >/dev/null || { echo "  no kcat"; exit 77; }
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/broker_lib.sh"
broker_start 1 --security sasl_ssl
T=$FLOQ_TEST_TMP
TLS=$KDIR/tls
PLAIN=$FLOQ_BROKERS          # the test's own eyes (no SASL)
SB=$(kafka bootstrap --security sasl_ssl)
export FLOQ_BROKERS=$SB
export FLOQ_TOPIC_PARTITIONS=2
worker_env
SCAN=(/usr/bin/python3 "$DATA/secret_scan.py")

# ---- the secrets, kept in a folder that is never scanned
umask 077
S=$T/secrets
mkdir -p "$S"
HKEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
PW=$(<"$TLS/client.password")
TOKEN="floqtok_$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
printf 'leak1=%s\n' "$HKEY" >"$S/keys"
printf 'leak1=%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$S/keys.forged"
printf '%s\n' "$TOKEN" >"$S/ol.token"
printf 'hmac_key hexkey %s\nsasl_password text %s\ntoken text %s\n' \
    "$HKEY" "$PW" "$TOKEN" >"$S/planted"
umask 022

TLSX=(-X security.protocol=sasl_ssl -X ssl.ca.location="$TLS/ca.pem"
      -X sasl.mechanisms=PLAIN -X sasl.username=floq)
PWF=(-o sasl.password.file="$TLS/client.password")
SIGNED=(-o security.hmac.keys.file="$S/keys")
FLOQ=("$BIN/floq" "${TLSX[@]}" "${PWF[@]}" -t 60s)
WOPTS=("${TLSX[@]}" "${PWF[@]}" -o security.require.signature=true
       -o security.hmac.keys.file="$S/keys" -v -v -X debug=security,broker,conf)

# ---- the worker: --dump-config, then running with debug logs and the
# token in its environment
"$BIN/floq-worker" "${WOPTS[@]}" -X sasl.password="$PW" --dump-config \
    >"$T/dump-config.txt" 2>&1
ok "--dump-config runs" grep -q '^security.hmac.keys.file=' "$T/dump-config.txt"
FLOQ_LINEAGE_TOKEN=$TOKEN API_TOKEN=$TOKEN start_worker w1 "${WOPTS[@]}"
ok "worker joins" wait_for 60 worker_assigned w1

# ---- commands: signed, forged, unsigned, a rejected deploy, a failing run
"${FLOQ[@]}" "${SIGNED[@]}" deploy hello -- "$DATA/ok.sh" '{who}' >"$T/deploy.out" 2>&1
ok "signed deploy: DEPLOYED" grep -q '^DEPLOYED' "$T/deploy.out"
"${FLOQ[@]}" "${SIGNED[@]}" -v -v run hello -p who=signed --wait >"$T/run.out" 2>&1
ok "signed run (CLI -v -v): SUCCEEDED" bash -c "tail -1 '$T/run.out' | grep -q '^SUCCEEDED'"
"$BIN/floq" "${TLSX[@]}" -X sasl.password="$PW" -t 60s "${SIGNED[@]}" -v -v \
    -X debug=security,conf status hello >"$T/status-x.out" 2>&1
ok "status with -X sasl.password: STATUS" grep -q '^STATUS' "$T/status-x.out"
"${FLOQ[@]}" -o security.hmac.keys.file="$S/keys.forged" run hello -p who=forged >"$T/forged.out" 2>&1
ok "forged run: REJECTED" grep -q 'REJECTED' "$T/forged.out"
"${FLOQ[@]}" run hello -p who=unsigned >"$T/unsigned.out" 2>&1
ok "unsigned run: REJECTED" grep -q 'REJECTED' "$T/unsigned.out"
"${FLOQ[@]}" "${SIGNED[@]}" deploy outside -- /bin/cat "$S/keys" >"$T/deploy-outside.out" 2>&1
ok "deploy of an executable outside the allowed dirs: REJECTED" grep -q 'REJECTED' "$T/deploy-outside.out"
"${FLOQ[@]}" "${SIGNED[@]}" deploy envfail -- "$DATA/env-fail.sh" '{who}' >"$T/deploy-envfail.out" 2>&1
ok "signed deploy of env-fail.sh: DEPLOYED" grep -q '^DEPLOYED' "$T/deploy-envfail.out"
"${FLOQ[@]}" "${SIGNED[@]}" -j run envfail -p who=envfail --wait >"$T/run-envfail.out" 2>&1
ok "the run printing its environment FAILED" bash -c "tail -1 '$T/run-envfail.out' | jq -e '.status == \"FAILED\"' >/dev/null"
ok "... and its reply carries the job's output and environment (the scan reads it)" \
    bash -c "grep -q 'failing on purpose' '$T/run-envfail.out' && grep -q 'PATH=' '$T/run-envfail.out'"

# ---- lineage: forwarded with the token, tailed as JSON
bg sink /usr/bin/python3 "$DATA/lineage_sink.py" --log "$T/sink-requests.jsonl" \
    --port-file "$T/port" --require-token "$TOKEN"
ok "sink listening" wait_for 20 test -s "$T/port"
bg forward "$BIN/floq-lineage" "${TLSX[@]}" "${PWF[@]}" -v -v forward \
    --url "http://127.0.0.1:$(<"$T/port")/api/v1/lineage" --token-file "$S/ol.token" \
    --group "$FLOQ_TEST_NS.fwd" --dlq-topic "$FLOQ_TEST_NS.lineage.dlq"
fwd_pid=$!
accepted() { [[ $(jq -r 'select(.status == 201) | .body.eventType' "$T/sink-requests.jsonl" 2>/dev/null | wc -l) -ge 4 ]]; }
ok "forwarder delivers the lineage events with the token" wait_for 60 accepted
kill -TERM "$fwd_pid"; wait "$fwd_pid"
# a properties file with the password inline (-F)
(umask 077; cat >"$S/lineage.properties" <<EOF
brokers=$SB
security.protocol=sasl_ssl
ssl.ca.location=$TLS/ca.pem
sasl.mechanisms=PLAIN
sasl.username=floq
sasl.password=$PW
EOF
)
"$BIN/floq-lineage" -F "$S/lineage.properties" -v -v tail --json --from-beginning -e \
    >"$T/lineage-tail.json" 2>"$T/lineage-tail.log"
ok "lineage tail --json reads the events" test "$(wc -l <"$T/lineage-tail.json")" -ge 4
kill -TERM "${WPID[w1]}"; wait "${WPID[w1]}"
ok "worker drains and exits 0" test $? -eq 0

# ---- dump every topic: raw records with headers, and decoded
mkdir -p "$T/dump"
for t in commands replies lineage deployments schedules runs dlq lineage.dlq; do
    kcat -b "$PLAIN" -C -e -q -o beginning -t "$FLOQ_TEST_NS.$t" \
        -f 'partition=%p offset=%o key=%k headers=%h value=%s\n' \
        >"$T/dump/$t.raw" 2>"$T/dump/$t.err"
done
ok "the DLQ dump has the rejected commands with their headers" \
    test "$(grep -c 'floq.reason=' "$T/dump/dlq.raw")" -ge 3
FLOQ_BROKERS=$PLAIN "$TOOL" replies --timeout-ms 20000 >"$T/dump/replies.json"
FLOQ_BROKERS=$PLAIN "$TOOL" dlq >"$T/dump/dlq.json"
FLOQ_BROKERS=$PLAIN "$TOOL" runs >"$T/dump/runs.json"
FLOQ_BROKERS=$PLAIN "$TOOL" deployments >"$T/dump/deployments.json"
ok "decoded replies: the FAILED run's reply is there" \
    jq -se 'map(select(.status == "FAILED")) | length >= 1' "$T/dump/replies.json" >/dev/null

# ---- the scan can fail: positive controls
mkdir -p "$T/controls"
"${SCAN[@]}" "$S/planted" "$T/sink-requests.jsonl" >"$T/controls/sink.hits"
ok "the scan finds the token in the endpoint's request log" \
    grep -q ': token (' "$T/controls/sink.hits"
printf 'x%sx\n' "${HKEY^^}" >"$T/controls/hex-upper"
printf 'k=%s' "$(printf '%s' "$HKEY" | xxd -r -p | base64 -w0)" >"$T/controls/key-b64"
printf 'Authorization: Basic %s' "$(printf 'floq:%s' "$PW" | base64 -w0)" >"$T/controls/pw-b64"
printf 'Bearer %s' "${TOKEN:0:20}" >"$T/controls/token-cut"
for c in hex-upper key-b64 pw-b64 token-cut; do
    "${SCAN[@]}" "$S/planted" "$T/controls/$c" >"$T/controls/$c.hits"
    ok "the scan finds a planted secret in $c" test $? -eq 1 -a -s "$T/controls/$c.hits"
done

# ---- the scan
# everything floq wrote; not the endpoint's own logs (it is given the
# token), nor the secrets folder, nor the broker's config
mapfile -t files < <(ls "$T"/*.log "$T"/*.out "$T"/*.txt "$T"/*.json "$T"/dump/* 2>/dev/null |
    grep -v -e "^$T/sink.log\$")
echo "  scanning ${#files[@]} files ($(cat "${files[@]}" | wc -c) bytes)"
ok "the worker's debug log is among them and not empty" test -s "$T/w1.log"
"${SCAN[@]}" "$S/planted" "${files[@]}" >"$T/scan.hits"
rc=$?
sed 's/^/    leak: /' "$T/scan.hits"
ok "no planted secret in any reply, DLQ record or header, lineage event, state record or log" \
    test "$rc" -eq 0
finish
