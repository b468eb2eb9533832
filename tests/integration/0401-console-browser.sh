#!/usr/bin/env bash
# itest: alone: a browser
# 0401: the console in a real browser. Debian's chromium, headless, driven
# by playwright-core (pinned, installed by ops/browser.sh into
# ~/.cache/floq), opens the run URL of a real ACCEPTED reply (the worker's
# worker.run.url.template pointing at this test's console, as behind a
# load balancer) and checks what the page shows as the run progresses:
# RUNNING (the job holds until the browser saw it), then SUCCEEDED with the
# output tail, refreshed by the page's
# own script within its Content-Security-Policy. The screenshot is kept in
# the test's artifact directory ($FLOQ_TEST_ARTIFACTS, default
# build/test-artifacts/0401-console-browser), its path printed. Skips (77)
# only when chromium or playwright-core cannot be installed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
source "$(dirname "$0")/data/console_lib.sh"
CHROMIUM=${CHROMIUM:-/usr/lib/chromium/chromium}
[[ -x $CHROMIUM ]] || { echo "  chromium not installed (ops/install-deps.sh installs it): skipped"; exit 77; }
command -v node >/dev/null || { echo "  node not installed: skipped"; exit 77; }
nm=$(ops/browser.sh 2>"$FLOQ_TEST_TMP/browser-install.log" | tail -1) || {
    echo "  playwright-core cannot be installed: skipped"; cat "$FLOQ_TEST_TMP/browser-install.log"; exit 77; }
export CHROMIUM NODE_PATH=$nm
ART=${FLOQ_TEST_ARTIFACTS:-$B/test-artifacts}/$FLOQ_TEST_NAME
mkdir -p "$ART"
worker_env
T=$FLOQ_TEST_TMP

P=$(free_port)
start_worker w1 -o "worker.run.url.template=http://127.0.0.1:$P/runs/{run_id}"
start_console c1 "$P"
ok "worker joins" wait_for 60 worker_assigned w1
ok "console restores" wait_for 30 console_ready c1
deploy_cmd slow gate.sh "$T/gate" | produce >/dev/null
run=$(run_cmd slow | produce)
ok "the run is ACCEPTED" wait_for 30 has_status "$run" ACCEPTED
url=$(reply_field "$FLOQ_TEST_TMP/has_status.json" "$run" ACCEPTED url)
echo "  run URL from the ACCEPTED reply: $url"
ok "the URL is this console's run page" test "${url%/runs/*}" = "http://127.0.0.1:$P"
shot=$ART/run-page.png
rm -f "$shot"
node "$DATA/console_browser.js" "$url" "$shot" "$T/gate"
rc=$?
ok "the browser saw the run progress" test "$rc" -eq 0
ok "screenshot is a PNG" bash -c "file '$shot' 2>/dev/null | grep -q PNG || head -c 4 '$shot' | grep -q PNG"
echo "  screenshot: $(cd "$(dirname "$shot")" && pwd)/$(basename "$shot")"
finish
