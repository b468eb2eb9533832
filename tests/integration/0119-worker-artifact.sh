#!/usr/bin/env bash
# 0119: deploy artifacts. A script served over HTTP (python3 -m http.server
# on a free loopback port) is deployed with its sha256 and run as the
# executable ({artifact}): DEPLOYED only once fetched and verified into the
# worker's cache (0700 directory, a 0500 file named by the digest), the run
# SUCCEEDED with the artifact's output and FLOQ_ARTIFACT. A wrong sha256 is
# REJECTED naming the URL and both digests; a missing sha256 and a 404 are
# REJECTED too. A second worker with its own (empty) cache takes over after
# kill -9 of the first and fetches the artifact again at run time; with the
# server gone and the cache emptied, a run ends FAILED naming the URL.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
PY=/usr/bin/python3
[[ -x $PY ]] || { echo "  $PY is required"; exit 77; }
command -v curl >/dev/null || { echo "  curl is required"; exit 77; }

# The artifact and a second file whose digest is the wrong one.
mkdir -p "$T/www"
printf '#!/bin/sh\necho "artifact $1 $(basename "$FLOQ_ARTIFACT")"\n' >"$T/www/job.sh"
printf 'something else\n' >"$T/www/other.txt"
sha=$(sha256sum "$T/www/job.sh" | cut -d' ' -f1)
wrong=$(sha256sum "$T/www/other.txt" | cut -d' ' -f1)

# The server picks its own free port (0) and says which.
bg http "$PY" -u -m http.server 0 --bind 127.0.0.1 --directory "$T/www"
HTTP_PID=$!
http_port() { sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$T/http.log" | head -1; }
has_port() { [[ -n $(http_port) ]]; }
ok "http server started" wait_for 30 has_port
PORT=$(http_port)
URL="http://127.0.0.1:$PORT/job.sh"
ok "http server answers" wait_for 30 curl -sf -o /dev/null "$URL"

# art_deploy NAME URL SHA: a deploy of the artifact as the executable
# (SHA "" sends null).
art_deploy() {
    local spec
    spec=$(jq -cn '{executable: "{artifact}", args: ["{who}"]}')
    jq -cn --arg d "$1" --arg u "$2" --arg s "$3" --arg spec "$spec" \
        '{deployment: $d, body: {DeployBody: {backend: "process", spec: $spec,
          artifact_url: $u, artifact_sha256: (if $s == "" then null else $s end)}}}'
}

start_worker w1 -o artifact.cache.dir="$T/cache-w1" \
    -o process.allowed.dirs="$DATA:$T/cache-w1"
ok "w1 joins and gets partitions" wait_for 60 worker_assigned w1

dep=$(art_deploy art "$URL" "$sha" | produce)
bad=$(art_deploy art-bad "$URL" "$wrong" | produce)
nosha=$(art_deploy art-nosha "$URL" "" | produce)
missing=$(art_deploy art-404 "http://127.0.0.1:$PORT/nothing.sh" "$sha" | produce)
ok "deploys answered" wait_for 60 has_final "$missing"
wait_for 30 has_final "$dep"
R=$T/replies.json
replies_now "$R"
ok "deploy with the right sha256 DEPLOYED" test "$(statuses "$R" "$dep")" = DEPLOYED
ok "wrong sha256 REJECTED" test "$(statuses "$R" "$bad")" = REJECTED
why=$(reply_field "$R" "$bad" REJECTED reason)
echo "  reason: $why"
ok "reason names the URL" grep -qF "$URL" <<<"$why"
ok "reason names the deployer's digest" grep -qF "does not match its sha256 $wrong" <<<"$why"
# Issue 10 item 5: nothing about the bytes served (digest, size).
ok "reason does not disclose the served digest" bash -c '! grep -qF "$1" <<<"$2"' _ "$sha" "$why"
ok "reason does not disclose the size" bash -c '! grep -q "bytes" <<<"$1"' _ "$why"
ok "missing sha256 REJECTED" test "$(statuses "$R" "$nosha")" = REJECTED
ok "... saying artifact_sha256 is required" \
    grep -qF "artifact_sha256 is required" <<<"$(reply_field "$R" "$nosha" REJECTED reason)"
ok "404 REJECTED" test "$(statuses "$R" "$missing")" = REJECTED
ok "... with the HTTP status" \
    grep -qF "HTTP 404" <<<"$(reply_field "$R" "$missing" REJECTED reason)"

ok "cache directory is 0700" test "$(stat -c %a "$T/cache-w1")" = 700
ok "artifact cached under its digest, mode 0500" \
    test "$(stat -c %a "$T/cache-w1/$sha" 2>/dev/null)" = 500
ok "nothing cached for the rejected deploys" \
    test "$(find "$T/cache-w1" -type f | wc -l)" -eq 1
"$TOOL" deployments >"$T/deps.json"
art_rec() { jq -c 'select(.name == "art")' "$T/deps.json" | tail -1; }
ok "Deployment keeps the URL and digest" \
    test "$(art_rec | jq -r '.artifact_url + " " + .artifact_sha256')" = "$URL $sha"
ok "the spec carries the artifact" \
    test "$(art_rec | jq -r '.spec | fromjson | .artifact.sha256')" = "$sha"

run1=$(run_cmd art '{"who":"world"}' | produce)
ok "run on w1 ends" wait_for 60 has_final "$run1"
replies_now "$R"
ok "run SUCCEEDED" test "$(statuses "$R" "$run1")" = "ACCEPTED RUNNING SUCCEEDED"
ok "the artifact's output, FLOQ_ARTIFACT its cache file" \
    test "$(reply_field "$R" "$run1" SUCCEEDED output_tail)" = "artifact world $sha"

# A second worker, its own empty cache; the first dies.
start_worker w2 -o artifact.cache.dir="$T/cache-w2" \
    -o process.allowed.dirs="$DATA:$T/cache-w2"
ok "w2 joins" wait_for 90 worker_assigned w2
{ kill -KILL "${WPID[w1]}"; wait "${WPID[w1]}"; } 2>/dev/null
run2=$(run_cmd art '{"who":"again"}' | produce)
ok "run after kill -9 of w1 ends" wait_for 120 has_final "$run2"
replies_now "$R"
ok "run SUCCEEDED on w2" test "$(statuses "$R" "$run2")" = "ACCEPTED RUNNING SUCCEEDED"
ok "... answered by w2" test "$(reply_field "$R" "$run2" SUCCEEDED worker)" = "w2-$$"
ok "... with the artifact's output" \
    test "$(reply_field "$R" "$run2" SUCCEEDED output_tail)" = "artifact again $sha"
ok "w2 fetched it into its own cache" test -f "$T/cache-w2/$sha"
ok "w2 logged the fetch" worker_log_has w2 "fetched '$URL'"

# No server, no cached copy: the run fails and says why.
kill -TERM "$HTTP_PID"
wait "$HTTP_PID" 2>/dev/null
server_down() { ! curl -sf -o /dev/null --max-time 2 "$URL"; }
ok "http server stopped" wait_for 10 server_down
rm -f "$T/cache-w2/$sha"
run3=$(run_cmd art '{"who":"nobody"}' | produce)
ok "run without the artifact ends" wait_for 60 has_final "$run3"
replies_now "$R"
ok "run FAILED" test "$(statuses "$R" "$run3" | awk '{print $NF}')" = FAILED
ok "... naming the URL" grep -qF "$URL" <<<"$(reply_field "$R" "$run3" FAILED reason)"
ok "every command answered once" test "$(finals "$R" "$run1")$(finals "$R" "$run2")$(finals "$R" "$run3")" = 111
finish
