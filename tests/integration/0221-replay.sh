#!/usr/bin/env bash
# 0221 (G3/G4, issue 10 item 3): a captured signed command cannot be
# replayed. Signatures required, worker.command.history=4: a signed stop S
# (raw bytes, as an eavesdropper would keep them) disables deployment rp;
# rp is deployed again and then 5 more times (more newer commands than the
# history holds); the bytes of S produced again are answered as a repeat
# and execute nothing: rp stays enabled and a run SUCCEEDS. A signed
# command without expires_at, or one expiring later than
# security.command.max.lifetime.ms ahead, is REJECTED; the CLI sets an
# acceptable expires_at itself.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
[[ -x $BIN/floq && -x $TOOLS/floq_sign_tool ]] || { echo "  not built"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
SIGN=$TOOLS/floq_sign_tool
umask 077
printf 'A=%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/keys"
start_worker w1 -o security.require.signature=true \
    -o security.hmac.keys.file="$T/keys" -o worker.command.history=4
ok "worker joins" wait_for 60 worker_assigned w1
floq() { "$BIN/floq" --timeout 60s -o security.hmac.keys.file="$T/keys" "$@"; }
floq deploy rp -- "$DATA/ok.sh" '{x}' >"$T/out" 2>&1
ok "signed deploy (the CLI sets expires_at)" grep -q '^DEPLOYED deployment=rp' "$T/out"

# signed FILE ID BODY [EXPIRES_IN_MS]: a command of rp signed with A, as
# raw bytes in FILE (no expires_at without EXPIRES_IN_MS)
signed() {
    jq -cn --arg id "$2" --argjson now "$(date +%s%3N)" --argjson b "$3" \
        --argjson e "${4:-null}" \
        '{command_id: $id, issued_at: $now, deployment: "rp", body: $b}
         + (if $e == null then {} else {expires_at: ($now + $e)} end)' |
        "$SIGN" sign "$T/keys" A >"$1"
}
S=$(cat /proc/sys/kernel/random/uuid)
signed "$T/stop.bin" "$S" '{"StopBody": {"run_id": null}}' 600000
"$TOOL" produce-raw "$T/stop.bin" --key rp
ok "signed stop STOPPED" wait_for 60 has_status "$S" STOPPED
floq run rp -p x=1 >"$T/out" 2>&1
ok "rp is disabled" grep -q "disabled by a stop" "$T/out"
for i in 1 2 3 4 5 6; do
    floq deploy rp -- "$DATA/ok.sh" '{x}' "$i" >"$T/out" 2>&1 ||
        fail "redeploy $i: $(cat "$T/out")"
done
ok "redeployed 6 times" grep -q '^DEPLOYED deployment=rp' "$T/out"

# the replay: the same bytes again
"$TOOL" produce-raw "$T/stop.bin" --key rp
two_finals() { replies_now "$T/r.json"; [[ $(finals "$T/r.json" "$S") -ge 2 ]]; }
ok "the replay is answered" wait_for 60 two_finals
ok "... as the repeat of STOPPED" test "$(statuses "$T/r.json" "$S")" = "STOPPED STOPPED"
floq run rp -p x=after --wait >"$T/out" 2>&1
rc=$?
ok "the replay executed nothing: rp runs (exit $rc)" \
    bash -c "test $rc -eq 0 && tail -1 '$T/out' | grep -q '^SUCCEEDED'"

# expiry rules for signed commands
N=$(cat /proc/sys/kernel/random/uuid)
signed "$T/noexp.bin" "$N" '{"StatusBody": {"run_id": null}}'
"$TOOL" produce-raw "$T/noexp.bin" --key rp
L=$(cat /proc/sys/kernel/random/uuid)
signed "$T/long.bin" "$L" '{"StatusBody": {"run_id": null}}' 7200000
"$TOOL" produce-raw "$T/long.bin" --key rp
ok "signed without expires_at: REJECTED" wait_for 60 has_status "$N" REJECTED
ok "... saying why" bash -c "'$TOOL' replies | grep '$N' | grep -q 'needs expires_at'"
ok "signed with a 2 h lifetime: REJECTED" wait_for 60 has_status "$L" REJECTED
ok "... naming the limit" bash -c "'$TOOL' replies | grep '$L' | grep -q 'security.command.max.lifetime.ms (3600000 ms)'"
ok "worker still alive" worker_alive w1
finish
