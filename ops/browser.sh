#!/usr/bin/env bash
# ops/browser.sh: install playwright-core (pinned by ops/browser/package.json
# and its package-lock.json) under the user's cache, for the console's
# browser test, and print the node_modules directory on the last line of
# stdout. The browser is Debian's chromium (ops/install-deps.sh); no browser
# is downloaded (playwright-core has none, and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
# says so anyway).
#
# Idempotent and quick when the pinned version is there: the lock is
# recorded beside the install (.floq-lock) and compared on the next call.
#
# Exit status: 0 installed (or present), 2 the install failed (no npm, no
# network): the message says which.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/floq
dir="$cache/playwright"
pin="$here/browser/package.json"
lock="$here/browser/package-lock.json"

command -v npm >/dev/null || { echo "$0: npm is not installed" >&2; exit 2; }
if [ -d "$dir/node_modules/playwright-core" ] && [ -f "$dir/.floq-lock" ] &&
        cat "$pin" "$lock" 2>/dev/null | cmp -s - "$dir/.floq-lock"; then
    echo "$dir/node_modules"
    exit 0
fi
mkdir -p "$dir"
cp "$pin" "$dir/package.json"
[ -f "$lock" ] && cp "$lock" "$dir/package-lock.json"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f "$lock" ]; then
    cmd=(npm ci --no-audit --no-fund --loglevel=error)
else
    cmd=(npm install --no-audit --no-fund --loglevel=error)
fi
if ! (cd "$dir" && "${cmd[@]}") >&2; then
    echo "$0: ${cmd[*]} in $dir failed (no network or no npm registry?)" >&2
    exit 2
fi
cat "$pin" "$lock" 2>/dev/null >"$dir/.floq-lock" || true
echo "$dir/node_modules"
