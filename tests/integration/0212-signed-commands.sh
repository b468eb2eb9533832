#!/usr/bin/env bash
# 0212 (G4): a worker with security.require.signature=true executes only
# commands signed with a key of its keys file. A deploy and a run signed by
# the CLI (-o security.hmac.keys.file=...) SUCCEED; an unsigned run, one
# signed with the wrong secret, one signed with an unknown key id and a
# signed one with a flipped byte are REJECTED and land in the DLQ with the
# reason; rotation: the worker knows keys A and B, a client signing with B
# (security.hmac.key.id=B, or a keys file holding B only) succeeds. Also:
# require.signature without a keys file, a keys file readable by others and
# schema.registry.url each fail start-up with a clear message.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
[[ -x $BIN/floq && -x $TOOLS/floq_sign_tool ]] || { echo "  not built"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
SIGN=$TOOLS/floq_sign_tool
umask 077
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
A=$(hex 32); B=$(hex 32)
printf '# worker keys: A (current), B (next)\nA=%s\nB=%s\n' "$A" "$B" >"$T/keys"
printf 'B=%s\n' "$B" >"$T/keys.b"                # a client already on B
printf 'A=%s\n' "$(hex 32)" >"$T/keys.forged"     # right id, wrong secret
printf 'C=%s\n' "$(hex 16)" >"$T/keys.unknown"    # id the worker lacks

# start-up refuses what it cannot honour
"$BIN/floq-worker" -o security.require.signature=true >"$T/nokeys.log" 2>&1
ok "require.signature without a keys file fails start-up" \
    grep -q "needs security.hmac.keys.file" "$T/nokeys.log"
cp "$T/keys" "$T/keys.open"; chmod 644 "$T/keys.open"
"$BIN/floq" -o security.hmac.keys.file="$T/keys.open" status x >"$T/open.log" 2>&1
rc=$?
ok "a keys file readable by others is refused (exit $rc)" \
    bash -c "test $rc -eq 2 && grep -q 'chmod 600' '$T/open.log'"
ok "the secret is not printed" bash -c "! grep -q '$A' '$T/open.log'"
"$BIN/floq" -o schema.registry.url=http://localhost:1 status x >"$T/reg.log" 2>&1
rc=$?
ok "schema.registry.url fails the CLI: not supported yet (exit $rc)" \
    bash -c "test $rc -eq 2 && grep -q 'not supported yet: schema.registry.url' '$T/reg.log'"
"$BIN/floq-worker" -o schema.registry.url=http://localhost:1 >"$T/wreg.log" 2>&1
ok "schema.registry.url fails the worker" \
    grep -q "not supported yet: schema.registry.url" "$T/wreg.log"

start_worker w1 -o security.require.signature=true \
    -o security.hmac.keys.file="$T/keys"
ok "worker joins" wait_for 60 worker_assigned w1
ok "keys never in the worker log" bash -c "! grep -q -e '$A' -e '$B' '$T/w1.log'"

floq() { "$BIN/floq" --timeout 60s "$@"; }
floq -o security.hmac.keys.file="$T/keys" deploy hello -- "$DATA/ok.sh" '{who}' >"$T/out" 2>&1
ok "signed deploy is DEPLOYED" grep -q '^DEPLOYED deployment=hello' "$T/out"
floq -o security.hmac.keys.file="$T/keys" run hello -p who=signed --wait >"$T/out" 2>&1
rc=$?
ok "signed run SUCCEEDS (exit $rc)" bash -c "test $rc -eq 0 && tail -1 '$T/out' | grep -q '^SUCCEEDED'"

# refused ones: exit 1, REJECTED with the reason
rejected() { # NAME EXPECTED_REASON CLI_ARGS...
    local name=$1 why=$2; shift 2
    floq "$@" run hello -p who="$name" >"$T/$name.out" 2>&1
    local rc=$?
    ok "$name run REJECTED (exit $rc)" \
        bash -c "test $rc -eq 1 && grep -q REJECTED '$T/$name.out'"
    ok "$name run: reply names the reason" grep -q -- "$why" "$T/$name.out"
}
rejected unsigned "not signed"
rejected forged "signature does not match (key id 'A')" -o security.hmac.keys.file="$T/keys.forged"
rejected unknown "unknown key id 'C'" -o security.hmac.keys.file="$T/keys.unknown"

# a validly signed command with one byte changed afterwards (who=tamper ->
# who=tamPer), produced as raw bytes
id=$(cat /proc/sys/kernel/random/uuid)
jq -cn --arg id "$id" --argjson now "$(date +%s%3N)" \
    '{command_id: $id, issued_at: $now, deployment: "hello",
      body: {RunBody: {params: {who: "tamper"}}}}' |
    "$SIGN" sign "$T/keys" B >"$T/signed.bin"
ok "signed bytes verify before tampering" \
    bash -c "'$SIGN' verify '$T/keys' -r <'$T/signed.bin' | grep -q VALID"
LC_ALL=C sed 's/tamper/tamPer/' "$T/signed.bin" >"$T/tampered.bin"
ok "tampered bytes differ" bash -c "! cmp -s '$T/signed.bin' '$T/tampered.bin'"
"$TOOL" produce-raw "$T/tampered.bin" --key hello
ok "tampered run REJECTED" wait_for 60 has_status "$id" REJECTED

# rotation: the worker knows A and B
floq -o security.hmac.keys.file="$T/keys" -o security.hmac.key.id=B \
    run hello -p who=rotated --wait >"$T/out" 2>&1
rc=$?
ok "run signed with B (key.id=B) SUCCEEDS (exit $rc)" \
    bash -c "test $rc -eq 0 && tail -1 '$T/out' | grep -q '^SUCCEEDED'"
floq -o security.hmac.keys.file="$T/keys.b" run hello -p who=newonly --wait >"$T/out" 2>&1
rc=$?
ok "run from a client holding only B SUCCEEDS (exit $rc)" \
    bash -c "test $rc -eq 0 && tail -1 '$T/out' | grep -q '^SUCCEEDED'"

# the DLQ: the four refused commands, with their reasons
dlq_count() { [[ $("$TOOL" dlq | wc -l) -ge $1 ]]; }
ok "4 records in the DLQ" wait_for 30 dlq_count 4
"$TOOL" dlq >"$T/dlq.json"
ok "exactly 4" test "$(wc -l <"$T/dlq.json")" -eq 4
reasons=$(jq -r '.headers["floq.reason"]' "$T/dlq.json")
for why in "not signed" "signature does not match (key id 'A')" \
    "unknown key id 'C'" "signature does not match (key id 'B')"; do
    ok "DLQ reason: $why" grep -qF -- "$why" <<<"$reasons"
done
ok "all FLOQ_ERR_UNAUTHORIZED" \
    test "$(jq -r '.headers["floq.error"]' "$T/dlq.json" | sort -u)" = FLOQ_ERR_UNAUTHORIZED
"$TOOL" runs --latest >"$T/runs.json"
ok "refused commands never ran: only the 3 signed runs exist" \
    test "$(jq -r '.run_id' "$T/runs.json" | sort -u | wc -l)" -eq 3
ok "worker still alive" worker_alive w1
finish
