#!/usr/bin/env bash
# ops/docker/install-hadolint.sh: install hadolint (the Dockerfile linter)
# into a virtual environment under the user's cache (~/.cache/floq/
# venv-hadolint), pinned by ops/docker/hadolint.txt, and print the path of
# the hadolint binary on the last line of stdout. Idempotent: the lock
# file's content is recorded in the venv after a successful install.
# Exit status: 0 installed (or already there), 2 the install failed (no
# network, no python3 -m venv): the message says which.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
lock="$here/hadolint.txt"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/floq
venv="$cache/venv-hadolint"

if [ -x "$venv/bin/hadolint" ] && [ -f "$venv/.floq-lock" ] &&
        cmp -s "$lock" "$venv/.floq-lock"; then
    echo "$venv/bin/hadolint"
    exit 0
fi
mkdir -p "$cache"
if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv" >&2; then
    echo "$0: python3 -m venv $venv failed (is python3-venv installed?)" >&2
    rm -rf "$venv"
    exit 2
fi
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q \
        -r "$lock" >&2; then
    echo "$0: pip install -r $lock into $venv failed (no network or no PyPI?)" >&2
    exit 2
fi
if [ ! -x "$venv/bin/hadolint" ]; then
    echo "$0: the hadolint wheel installed no $venv/bin/hadolint" >&2
    exit 2
fi
cp "$lock" "$venv/.floq-lock"
echo "$venv/bin/hadolint"
