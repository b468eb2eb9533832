#!/usr/bin/env bash
# 0172 (issue 10, job isolation): a job gets no capability of its worker.
# A non-root worker that was given ambient capabilities (systemd's
# AmbientCapabilities=, e.g. CAP_SETUID/CAP_SETGID so that it may switch
# to a job user) must not hand them to its jobs: a non-root uid change
# keeps them and an exec turns ambient ones into effective ones, so the
# job could make itself root. The worker runs as nobody with ambient
# CAP_SETUID, CAP_SETGID and CAP_KILL (setpriv); its job reports its own
# capability sets from /proc/self/status. Positive control: a process
# started the same way without floq has them. Needs root and setpriv.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
if [[ $(id -u) -ne 0 ]] || ! command -v setpriv >/dev/null ||
    ! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null; then
    echo "  needs root, setpriv and the user nobody / group nogroup: skipped"
    exit 77
fi
chmod 755 "$T"
caps=+setuid,+setgid,+kill
# exec: run by bg (a subshell) its pid is the worker's, so the test's
# cleanup stops the worker itself
as_nobody() {
    exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
        --inh-caps="$caps" --ambient-caps="$caps" -- "$@"
}
# Positive control: the same start gives a plain process the caps.
amb=$(as_nobody sh -c "grep '^CapAmb' /proc/self/status" | awk '{print $2}')
ok "control: a process started as the worker is has ambient caps ($amb)" \
    test -n "$amb" -a "$amb" != 0000000000000000

cat >"$T/caps.sh" <<'JOB'
#!/bin/sh
grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status | tr '\t' ' '
JOB
chmod 755 "$T/caps.sh"
export FLOQ_PROCESS_ALLOWED_DIRS=$T
mkdir -p "$T/lock" && chown nobody:nogroup "$T/lock"
bg w1 as_nobody "$BIN/floq-worker" -X session.timeout.ms=6000 \
    -X heartbeat.interval.ms=500 -o worker.id="w1-$$" -o worker.lock.dir="$T/lock"
WPID[w1]=$!
ok "the worker (as nobody, with ambient caps) joins" wait_for 60 worker_assigned w1
printf '{"deployment":"caps","body":{"DeployBody":{"backend":"process","spec":%s}}}\n' \
    "$(jq -cn --arg exe "$T/caps.sh" '{executable: $exe}' | jq -Rc .)" | produce >/dev/null
c=$(run_cmd caps | produce)
ok "the run ends" wait_for 60 has_final "$c"
R=$T/replies.json
replies_now "$R"
out=$(reply_field "$R" "$c" SUCCEEDED output_tail)
echo "$out" | sed 's/^/    job: /'
cap_of() { sed -n "s/^$1: *\([0-9a-f]*\).*/\1/p" <<<"$out"; }
ok "the run SUCCEEDED and reported its sets" test -n "$(cap_of CapAmb)"
for set in CapAmb CapEff CapPrm; do
    ok "the job's $set is empty ($(cap_of $set))" test "$(cap_of $set)" = 0000000000000000
done
finish
