#!/usr/bin/env bash
# 0123 (G1, issue 9 item 5): nothing that waits on the network runs on the
# consume -> transact loop. A deploy whose artifact server never answers
# is parked (its partition paused at it, the download on the offload
# pool, bounded by artifact.deploy.timeout.ms, 8 s here); meanwhile a run
# of a deployment on another partition is answered and a live run keeps
# committing its heartbeats. The run's SUCCEEDED is produced seconds before
# the parked deploy's REJECTED (before the fix the loop waited for the
# download, 2 s here, and answered the run after it). A second worker joins
# while the deploy is parked: whoever owns its partition answers it, once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
PY=/usr/bin/python3
[[ -x $PY ]] || { echo "  $PY is required"; exit 77; }
command -v ss >/dev/null || { echo "  ss is required"; exit 77; }
export FLOQ_WORKER_HEARTBEAT_TIMEOUT_MS=6000      # a loop download: 2 s
export FLOQ_WORKER_TRANSACTION_TIMEOUT_MS=15000
export FLOQ_ARTIFACT_DEPLOY_TIMEOUT_MS=8000
worker_env
T=$FLOQ_TEST_TMP
slow_http_start

# Deployment names by home partition (murmur2, as the worker computes it).
home() {
    "$PY" - "$1" "$FLOQ_TOPIC_PARTITIONS" <<'EOF'
import sys
d = sys.argv[1].encode(); n = int(sys.argv[2]); m = 0x5bd1e995; M = 0xffffffff
h = (0x9747b28c ^ len(d)) & M
for i in range(len(d) // 4):
    k = int.from_bytes(d[4 * i:4 * i + 4], "little")
    k = (k * m) & M; k ^= k >> 24; k = (k * m) & M
    h = ((h * m) & M) ^ k
t = len(d) & ~3; r = len(d) % 4
if r == 3: h ^= d[t + 2] << 16
if r >= 2: h ^= d[t + 1] << 8
if r >= 1: h ^= d[t]; h = (h * m) & M
h ^= h >> 13; h = (h * m) & M; h ^= h >> 15
print((h & 0x7fffffff) % n)
EOF
}
slow=slow; quick=
for i in 0 1 2 3 4 5 6 7 8 9; do
    [[ $(home "quick$i") != "$(home $slow)" ]] && { quick=quick$i; break; }
done
ok "names on two partitions" test -n "$quick"

start_worker w1 -o artifact.cache.dir="$T/cache"
ok "w1 joins" wait_for 90 worker_assigned w1
{ deploy_cmd long sleep.sh "{secs}"; deploy_cmd "$quick" ok.sh; } | produce >"$T/deps"
ok "deployed" wait_for 60 all_final "$T/deps"
run=$(run_cmd long '{"secs":"15"}' | produce)
ok "live run RUNNING" wait_for 60 has_status "$run" RUNNING

jq -cn --arg d "$slow" --arg u "$URL" --arg s "$sha" --arg spec "$(jq -cn '{executable: "{artifact}"}')" \
    '{deployment: $d, body: {DeployBody: {backend: "process", spec: $spec,
      artifact_url: $u, artifact_sha256: $s}}}' | produce >"$T/slow"
dep=$(cat "$T/slow")
# the download has reached the server (it holds every request)
downloading() { [[ -n $(ss -Htn state established "( sport = :$(slow_http_port) )") ]]; }
ok "the download is under way" wait_for 30 downloading
q=$(run_cmd "$quick" | produce)
ok "the other partition's run is answered" wait_for 30 has_final "$q"
# A second worker joins while the deploy may still be parked: a revoke
# drops the parked result, the partition's owner redoes it.
start_worker w2 -o artifact.cache.dir="$T/cache2"
ok "the parked deploy is answered" wait_for 60 has_final "$dep"
ok "live run ends" wait_for 60 has_final "$run"
R=$T/replies.json
replies_now "$R"
qt=$(jq -r --arg id "$q" 'select(.command_id==$id and .final)|.produced_at' "$R" | head -1)
dt=$(jq -r --arg id "$dep" 'select(.command_id==$id and .final)|.produced_at' "$R" | head -1)
ok "the run SUCCEEDED" test "$(statuses "$R" "$q" | awk '{print $NF}')" = SUCCEEDED
ok "the deploy REJECTED (the download timed out)" test "$(statuses "$R" "$dep")" = REJECTED
ok "the run answered 3 s or more before the deploy ($qt vs $dt)" test $((dt - qt)) -ge 3000
ok "the live run SUCCEEDED" test "$(statuses "$R" "$run" | awk '{print $NF}')" = SUCCEEDED
ok "no self-fence" eval '! worker_log_has w1 "no transaction committed"'
ok "the deploy was parked" worker_log_has w1 "$dep: parked at partition"
printf '%s\n' "$dep" "$q" "$run" >"$T/ids"
assert_one_final "$T/ids" "$R"
finish
