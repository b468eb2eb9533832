#!/usr/bin/env bash
# ops/orchestrators.sh NAME: install the orchestrator NAME (prefect, dagster) into a
# virtual environment under the user's cache, pinned by the lock file
# ops/orchestrators/NAME.txt, and print the venv's bin directory on the last
# line of stdout.
#
# Idempotent and quick when the venv already holds the pinned versions: the
# lock file's content is recorded in the venv (.floq-lock) after a successful
# install and compared on the next call.
#
# Exit status: 0 installed (or already present), 1 usage, 2 the install
# failed (no network, no python3 -m venv, ...): the message says which.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=${1:-}
case "$name" in
  prefect) ;;
  dagster) ;; # dagster + dagster-webserver (tests/integration/0280)
  *) echo "usage: $0 prefect|dagster" >&2; exit 1 ;;
esac

lock="$here/orchestrators/$name.txt"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/floq
venv="$cache/venv-$name"

if [ -x "$venv/bin/python" ] && [ -f "$venv/.floq-lock" ] && cmp -s "$lock" "$venv/.floq-lock"; then
  echo "$venv/bin"
  exit 0
fi

mkdir -p "$cache"
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" >&2; then
    echo "$0: python3 -m venv $venv failed (is python3-venv installed?)" >&2
    rm -rf "$venv"
    exit 2
  fi
fi
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$lock" >&2; then
  echo "$0: pip install -r $lock into $venv failed (no network or no PyPI?)" >&2
  exit 2
fi
cp "$lock" "$venv/.floq-lock"
echo "$venv/bin"
