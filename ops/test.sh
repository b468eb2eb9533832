#!/usr/bin/env bash
# The README's test command: installs what is missing (apt packages, the
# Kafka jars), builds with warnings as errors when CI is set, runs the unit
# tests (plain, then under ASan+UBSan and valgrind), starts a real Apache
# Kafka broker, runs the integration tests against it and stops it.
# Usage: ops/test.sh [--quick]   (--quick: no sanitizer/valgrind passes)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

step() { printf '\n=== %s\n' "$*"; }
status=0
run() {
    local name=$1; shift
    step "$name"
    local t0=$SECONDS
    if "$@"; then
        echo "=== $name: ok ($((SECONDS - t0))s)"
    else
        echo "=== $name: FAILED ($((SECONDS - t0))s)"
        status=1
    fi
}

step "dependencies"
ops/install-deps.sh
ops/kafka/kafka.sh fetch >/dev/null

step "build"
make -j"$(nproc)" all

run "unit tests" make test
if (( ! quick )); then
    run "unit tests under ASan+UBSan" make -j"$(nproc)" asan
    run "unit tests under valgrind" make valgrind
    run "fuzz corpus replayed under ASan+UBSan" make -j"$(nproc)" fuzz-replay
fi
run "integration tests (real Kafka)" make itest

exit $status
