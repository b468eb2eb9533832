#!/usr/bin/env bash
# Installs the Helm CLI the chart's tests (0412) use, from the Go module
# proxy, into ~/.cache/floq/go (GOPATH and GOBIN there, nothing system-wide).
# Idempotent: prints the helm binary's path and exits 0 when it is already
# there. Pinned: FLOQ_HELM_VERSION (default below). Exits non-zero when Go
# or the proxy is unavailable, so callers can skip with a clear message.
# Usage: ops/helm/install-helm.sh
set -euo pipefail

version=${FLOQ_HELM_VERSION:-v3.16.4}
root=${FLOQ_CACHE:-$HOME/.cache/floq}/go
bin=$root/bin/helm-$version

if [[ -x $bin ]]; then
    echo "$bin"
    exit 0
fi
if ! command -v go >/dev/null; then
    echo "install-helm: go not found (install Go to build helm)" >&2
    exit 1
fi
mkdir -p "$root/bin"
# a private GOBIN so the versioned name is ours alone
tmpbin=$(mktemp -d "$root/bin/.helm.XXXXXX")
trap 'rm -rf "$tmpbin"' EXIT
echo "install-helm: go install helm.sh/helm/v3/cmd/helm@$version" >&2
GOPATH=$root GOBIN=$tmpbin GOFLAGS=-modcacherw GOTOOLCHAIN=local \
    go install "helm.sh/helm/v3/cmd/helm@$version" >&2
mv "$tmpbin/helm" "$bin"
echo "$bin"
