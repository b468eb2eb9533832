#!/usr/bin/env bash
# 0420: the Helm chart (ops/helm/floq) against values a user may set that
# undo its own safeguards. worker.config naming worker.drain.grace.ms (or
# metrics.listen) would override the drain the pod's grace period is
# computed from (a pod SIGKILLed mid-drain) or move the port the probes
# ask: refused, pointing at worker.drainGraceMs / worker.metricsPort. A
# private key or OAuth client config inlined (ssl.key.pem,
# sasl.oauthbearer.config) is refused like a password. The console is ready only once restored:
# its readiness probe is GET /healthz (503 while restoring), not an open
# port. KEDA's and the HPA's minimum is capped at the partition count like
# their maximum (a minimum above the maximum is an invalid object). Needs
# no broker. `floq ops` with --size and no value names the missing value.
source "$(dirname "$0")/lib.sh"
T=$FLOQ_TEST_TMP
PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null ||
    { echo "  /usr/bin/python3 has no yaml (apt-get install python3-yaml): skipped"; exit 77; }
if ! HELM=$(ops/helm/install-helm.sh 2>"$T/install-helm.log"); then
    echo "  helm could not be installed from the Go module proxy: skipped"
    exit 77
fi
CHART=ops/helm/floq
render() { local out=$1; shift; "$HELM" template floq "$CHART" "$@" >"$out" 2>"$out.err"; }
fails_render() { ! render "$T/fail.yaml" "$@"; }

ok "worker.config worker.drain.grace.ms is refused (the pod grace follows worker.drainGraceMs)" \
    fails_render --set 'worker.config.worker\.drain\.grace\.ms=600000'
ok "... and the message names worker.drainGraceMs" grep -q drainGraceMs "$T/fail.yaml.err"
ok "worker.config metrics.listen is refused (the probes follow worker.metricsPort)" \
    fails_render --set 'worker.config.metrics\.listen=0.0.0.0:1'
ok "an inlined private key is refused" \
    fails_render --set 'worker.config.ssl\.key\.pem=S3NTINEL'
ok "an inlined OAuth client config is refused" \
    fails_render --set 'console.config.sasl\.oauthbearer\.config=S3NTINEL'
ok "a key store's location (a path, not a secret) is accepted" \
    render "$T/ks.yaml" --set 'worker.config.ssl\.keystore\.location=/etc/floq/ks.p12'
ok "a longer drain raises the grace instead" \
    render "$T/long.yaml" --set worker.drainGraceMs=600000

ok "KEDA with a minimum above the partitions renders" \
    render "$T/keda.yaml" --set keda.enabled=true --set keda.minReplicaCount=20 --set kafka.partitions=12
ok "HPA with a minimum above the partitions renders" \
    render "$T/hpa.yaml" --set hpa.enabled=true --set hpa.minReplicas=20 --set kafka.partitions=12
cat >"$T/scale.py" <<'PY'
import sys, yaml
for path, kind, lo, hi in ((sys.argv[1], "ScaledObject", "minReplicaCount", "maxReplicaCount"),
                           (sys.argv[2], "HorizontalPodAutoscaler", "minReplicas", "maxReplicas")):
    d = [d for d in yaml.safe_load_all(open(path)) if d and d["kind"] == kind][0]
    assert d["spec"][lo] <= d["spec"][hi] <= 12, "%s: %r" % (kind, d["spec"])
PY
ok "the minimum is capped at the partition count too (min <= max <= 12)" \
    $PY "$T/scale.py" "$T/keda.yaml" "$T/hpa.yaml"

cat >"$T/check.py" <<'PY'
import sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = [d for d in ds if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-console")][0]
c = dep["spec"]["template"]["spec"]["containers"][0]
rp = c["readinessProbe"]
assert rp.get("httpGet", {}).get("path") == "/healthz", "console readiness: %r" % rp
w = [d for d in ds if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker")][0]
g = w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
assert g >= 600, "grace %r" % g
PY
ok "the console's readiness is /healthz; the grace covers a 600 s drain" \
    $PY "$T/check.py" "$T/long.yaml"
# floq ops: a --size without its value says so (it said "unknown option")
"$BIN/floq" ops resources --size >"$T/ops.out" 2>&1; rc=$?
ok "floq ops resources --size (no value) is a usage error (exit 2)" test "$rc" = 2
ok "... that names the missing value" grep -q -- "--size needs a value" "$T/ops.out"
finish
