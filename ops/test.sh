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
# Tools some tests use, installed once into ~/.cache/floq (pinned; quick
# when present). A failure here is reported and the tests that need the
# tool say why they skip.
prime() {
    local what=$1; shift
    "$@" >/dev/null 2>"${TMPDIR:-/tmp}/floq-prime-$what.log" ||
        echo "  $what: install failed (see ${TMPDIR:-/tmp}/floq-prime-$what.log)"
}
prime helm ops/helm/install-helm.sh
prime hadolint ops/docker/install-hadolint.sh
prime playwright ops/browser.sh

step "build"
make -j"$(nproc)" all

run "unit tests" make test
if (( ! quick )); then
    run "unit tests under ASan+UBSan" make -j"$(nproc)" asan
    run "unit tests under valgrind" make valgrind
    run "fuzz corpus replayed under ASan+UBSan" make -j"$(nproc)" fuzz-replay
fi
# two at a time: most tests wait on timeouts; those that need the machine
# to themselves say so ("# itest: alone") and run alone
export ITEST_JOBS=${ITEST_JOBS:-2}
run "integration tests (real Kafka)" make itest

exit $status
