#!/usr/bin/env bash
# 0171 (issue 10 item 2): a deployer gets what the operator allows and no
# more, tried against a real worker. A spec setting OPENSSL_CONF (the
# reproduced attack: an artifact loaded as an OpenSSL provider) or PATH is
# REJECTED naming the variable; a worker whose job user could read its
# properties file refuses to start; a job run as the job user cannot read
# the worker's 0600 properties file, has no_new_privs and only fds 0-2.
# The job-user part needs root (skipped with a message otherwise).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
chmod 755 "$T"
export FLOQ_PROCESS_ALLOWED_DIRS=$DATA:$T

env_deploy() { # NAME VAR VALUE
    printf '{"deployment":"%s","body":{"DeployBody":{"backend":"process","spec":%s}}}\n' \
        "$1" "$(jq -cn --arg exe "$DATA/ok.sh" --arg k "$2" --arg v "$3" \
            '{executable: $exe, env: {($k): $v}}' | jq -Rc .)"
}

as_root=0
if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null; then
    as_root=1
else
    echo "  SKIP (job user part): needs root and the user nobody / group nogroup"
fi

if (( as_root )); then
    # The worker's properties file, readable by everyone: refused.
    printf 'process.kill.grace.ms=1000\n# secret: s3cr3t-in-config\n' >"$T/worker.properties"
    chmod 644 "$T/worker.properties"
    "$BIN/floq-worker" -c "$T/worker.properties" -o process.run.as.user=nobody \
        -o process.run.as.group=nogroup >"$T/refused.log" 2>&1 &
    rpid=$!
    refused() { ! kill -0 "$rpid" 2>/dev/null; }
    ok "worker with a job user that could read its config exits" wait_for 30 refused
    wait "$rpid"; rc=$?
    ok "... with a failure status ($rc)" test "$rc" -ne 0
    ok "... saying why" grep -q "could read config '$T/worker.properties'" "$T/refused.log"
    kill -KILL "$rpid" 2>/dev/null
    chmod 600 "$T/worker.properties"
    start_worker w1 -c "$T/worker.properties" -o process.run.as.user=nobody \
        -o process.run.as.group=nogroup
else
    start_worker w1
fi
ok "w1 joins" wait_for 90 worker_assigned w1

ssl=$(env_deploy evil-ssl OPENSSL_CONF /tmp/evil.cnf | produce)
path=$(env_deploy evil-path PATH /tmp/evil:/usr/bin | produce)
tz=$(env_deploy fine-tz TZ Europe/Paris | produce)
ok "deploys answered" wait_for 60 has_final "$tz"
wait_for 30 has_final "$path"
R=$T/replies.json
replies_now "$R"
ok "OPENSSL_CONF in the spec REJECTED" test "$(statuses "$R" "$ssl")" = REJECTED
ok "... naming it" grep -qF "env: 'OPENSSL_CONF' may not be set by a deployment" \
    <<<"$(reply_field "$R" "$ssl" REJECTED reason)"
ok "PATH in the spec REJECTED" test "$(statuses "$R" "$path")" = REJECTED
ok "TZ in the spec DEPLOYED" test "$(statuses "$R" "$tz")" = DEPLOYED

if (( as_root )); then
    cat >"$T/probe.sh" <<PROBE
#!/bin/sh
echo "uid=\$(/usr/bin/id -u)"
/bin/grep NoNewPrivs /proc/self/status
/bin/cat "$T/worker.properties" || echo "config unreadable"
# ls lists its own descriptors: 0-2 inherited, 3 its directory.
echo "fds:"
exec /bin/ls -1 /proc/self/fd
PROBE
    chmod 755 "$T/probe.sh"
    printf '{"deployment":"probe","body":{"DeployBody":{"backend":"process","spec":%s}}}\n' \
        "$(jq -cn --arg exe "$T/probe.sh" '{executable: $exe}' | jq -Rc .)" | produce >/dev/null
    run=$(run_cmd probe | produce)
    ok "probe run ends" wait_for 60 has_final "$run"
    replies_now "$R"
    out=$(reply_field "$R" "$run" SUCCEEDED output_tail)
    echo "  probe output: $(tr '\n' '|' <<<"$out")"
    ok "job ran as nobody" grep -qx "uid=$(id -u nobody)" <<<"$out"
    ok "job has no_new_privs" grep -qP '^NoNewPrivs:\t1$' <<<"$out"
    ok "job has fds 0-2 only" test "$(sed -n '/^fds:$/,$p' <<<"$out" | tr '\n' ' ')" = "fds: 0 1 2 3 "
    ok "job cannot read the worker's config" grep -qx "config unreadable" <<<"$out"
    ok "... nor does its secret appear" bash -c '! grep -q s3cr3t <<<"$1"' _ "$out"
fi
finish
