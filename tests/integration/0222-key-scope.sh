#!/usr/bin/env bash
# 0222 (G4, issue 10 item 4): signing keys scoped to deployments and
# command kinds. Keys file: ops (no scope: anything), ci and ci2 (its
# rotation) with kinds=run,status deployments=etl-*. ops deploys etl-a and
# payroll; ci runs etl-a (SUCCEEDED) and asks its status; ci may not deploy
# etl-a nor run payroll: REJECTED, the reply names the key and the rule
# and never a secret, the DLQ holds both; ci2 runs etl-a too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
[[ -x $BIN/floq ]] || { echo "  not built"; exit 77; }
worker_env
T=$FLOQ_TEST_TMP
umask 077
hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
O=$(hex) C=$(hex) C2=$(hex)
cat >"$T/keys" <<KEYS
# ops: anything; ci (and its successor ci2): runs of etl-* only
ops=$O
ci=$C   kinds=run,status deployments=etl-*
ci2=$C2 kinds=run,status deployments=etl-*
KEYS
start_worker w1 -o security.require.signature=true -o security.hmac.keys.file="$T/keys"
ok "worker joins" wait_for 60 worker_assigned w1
as() { local k=$1; shift; "$BIN/floq" --timeout 60s -o security.hmac.keys.file="$T/keys" -o security.hmac.key.id="$k" "$@"; }
as ops deploy etl-a -- "$DATA/ok.sh" '{x}' >"$T/out" 2>&1
ok "ops deploys etl-a" grep -q '^DEPLOYED deployment=etl-a' "$T/out"
as ops deploy payroll -- "$DATA/ok.sh" '{x}' >"$T/out" 2>&1
ok "ops deploys payroll" grep -q '^DEPLOYED deployment=payroll' "$T/out"

as ci run etl-a -p x=ci --wait >"$T/out" 2>&1
rc=$?
ok "ci runs etl-a (exit $rc)" bash -c "test $rc -eq 0 && tail -1 '$T/out' | grep -q '^SUCCEEDED'"
as ci status etl-a >"$T/out" 2>&1
ok "ci reads etl-a's status" bash -c "! grep -q REJECTED '$T/out'"

as ci deploy etl-a -- "$DATA/ok.sh" '{x}' >"$T/deploy.out" 2>&1
rc=$?
ok "ci may not deploy (exit $rc)" bash -c "test $rc -eq 1 && grep -q REJECTED '$T/deploy.out'"
ok "... the reply names key and rule" \
    grep -qF "key 'ci' may not send deploy commands (its rule: kinds=run,status)" "$T/deploy.out"
as ci run payroll -p x=ci >"$T/run.out" 2>&1
rc=$?
ok "ci may not run payroll (exit $rc)" bash -c "test $rc -eq 1 && grep -q REJECTED '$T/run.out'"
ok "... the reply names key and rule" \
    grep -qF "key 'ci' may not act on deployment 'payroll' (its rule: deployments=etl-*)" "$T/run.out"

as ci2 run etl-a -p x=ci2 --wait >"$T/out" 2>&1
rc=$?
ok "rotation: ci2 runs etl-a (exit $rc)" bash -c "test $rc -eq 0 && tail -1 '$T/out' | grep -q '^SUCCEEDED'"

dlq_count() { [[ $("$TOOL" dlq | wc -l) -ge $1 ]]; }
ok "both refusals in the DLQ" wait_for 30 dlq_count 2
"$TOOL" dlq >"$T/dlq.json"
ok "exactly 2, FLOQ_ERR_UNAUTHORIZED" \
    test "$(jq -r '.headers["floq.error"]' "$T/dlq.json" | sort | uniq -c | awk '{print $1, $2}')" = "2 FLOQ_ERR_UNAUTHORIZED"
"$TOOL" replies >"$T/replies.json"
ok "no secret in replies, DLQ or log" \
    bash -c "! grep -q -e '$O' -e '$C' -e '$C2' '$T/replies.json' '$T/dlq.json' '$T/w1.log' '$T/deploy.out' '$T/run.out'"
"$TOOL" runs --latest >"$T/runs.json"
ok "payroll never ran" test "$(jq -r 'select(.deployment=="payroll")|.run_id' "$T/runs.json" | wc -l)" -eq 0
ok "worker still alive" worker_alive w1
finish
