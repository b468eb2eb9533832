#!/usr/bin/env bash
# 0412: the Helm chart (ops/helm/floq). Helm comes from the Go module proxy
# (ops/helm/install-helm.sh, pinned, into ~/.cache/floq/go); without Go or
# the proxy the test skips saying so. For each size: `helm lint --strict`
# and `helm template` pass, and a reader of the rendered YAML (Debian's
# python3-yaml) checks the worker's probes (/healthz liveness, /readyz
# readiness, on the port metrics.listen serves), resources equal to
# `floq ops resources --size S --json`, values.yaml's sizes.S equal to
# `floq ops helm-values --size S --json` (and rendering with that output
# as -f gives the same), terminationGracePeriodSeconds above the drain
# grace, the worker id / group.instance.id from the pod name, the PDB, the
# console Deployment and Service. KEDA's maxReplicaCount is capped at the
# partition count; credentials are only referenced (no Secret rendered, a
# secret-looking config key refused). Controls: an unknown size and an
# inlined password fail the render. Needs no broker.
source "$(dirname "$0")/lib.sh"
T=$FLOQ_TEST_TMP
PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null ||
    { echo "  /usr/bin/python3 has no yaml (apt-get install python3-yaml): skipped"; exit 77; }
if ! HELM=$(ops/helm/install-helm.sh 2>"$T/install-helm.log"); then
    echo "  helm could not be installed from the Go module proxy: skipped"
    sed 's/^/    /' "$T/install-helm.log" | tail -5
    exit 77
fi
CHART=ops/helm/floq
FLOQ=$BIN/floq

lint() { "$HELM" lint --strict "$CHART" "$@" >"$T/lint.log" 2>&1 || { cat "$T/lint.log"; return 1; }; }
render() { local out=$1; shift; "$HELM" template floq "$CHART" "$@" >"$out" 2>"$out.err"; }

cat >"$T/check.py" <<'PY'
import json, re, sys, yaml

def docs(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]

def one(ds, kind, suffix):
    found = [d for d in ds if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, "%d %s *%s" % (len(found), kind, suffix)
    return found[0]

def props(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out

def port_of(container, name):
    return [p["containerPort"] for p in container["ports"] if p["name"] == name][0]

mode = sys.argv[1]
if mode == "size":
    rendered, resources_json, values_json, values_yaml, size, drain_default = sys.argv[2:8]
    ds = docs(rendered)
    res = json.load(open(resources_json))
    hv = json.load(open(values_json))
    vals = yaml.safe_load(open(values_yaml))
    cm = one(ds, "ConfigMap", "floq")
    wp = props(cm["data"]["worker.properties"])
    cp = props(cm["data"]["console.properties"])
    wd = one(ds, "Deployment", "-worker")
    pod = wd["spec"]["template"]["spec"]
    c = pod["containers"][0]
    mport = port_of(c, "metrics")
    assert wp["metrics.listen"].endswith(":%d" % mport), (wp["metrics.listen"], mport)
    lp, rp = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
    assert lp["path"] == "/healthz" and lp["port"] in ("metrics", mport), lp
    assert rp["path"] == "/readyz" and rp["port"] in ("metrics", mport), rp
    assert c["resources"] == res["worker"], (c["resources"], res["worker"])
    cd = one(ds, "Deployment", "-console")
    cc = cd["spec"]["template"]["spec"]["containers"][0]
    assert cc["resources"] == res["console"], (cc["resources"], res["console"])
    # the console is ready once it has read the state topics: /healthz
    crp = cc["readinessProbe"]["httpGet"]
    assert crp["path"] == "/healthz" and crp["port"] == "http", crp
    # values.yaml's table is the C table
    assert hv["size"] == size
    for comp in ("worker", "console"):
        assert vals["sizes"][size][comp] == hv[comp], (comp, vals["sizes"][size][comp], hv[comp])
    assert wd["spec"]["replicas"] == hv["worker"]["replicas"], wd["spec"]["replicas"]
    assert cd["spec"]["replicas"] == hv["console"]["replicas"]
    assert wp["worker.concurrency"] == str(hv["worker"]["concurrency"])
    grace = pod["terminationGracePeriodSeconds"]
    drain = int(wp["worker.drain.grace.ms"])
    assert grace * 1000 > drain and grace * 1000 > int(drain_default), (grace, drain, drain_default)
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["FLOQ_WORKER_ID"]["value"] == "$(POD_NAME)"
    assert env["FLOQ_GROUP_INSTANCE_ID"]["value"] == "$(POD_NAME)"
    pdb = one(ds, "PodDisruptionBudget", "-worker")
    assert pdb["spec"]["selector"]["matchLabels"] == wd["spec"]["selector"]["matchLabels"]
    svc = one(ds, "Service", "-console")
    assert svc["spec"]["ports"][0]["targetPort"] in ("http", port_of(cc, "http"))
    assert cp["console.listen"].endswith(":%d" % port_of(cc, "http")), cp
    assert not [d for d in ds if d["kind"] == "Secret"], "a Secret is rendered"
    print("size %s: probes %s/%s on %d, worker %s, console %s, grace %ds > %dms"
          % (size, lp["path"], rp["path"], mport, c["resources"]["limits"],
             cc["resources"]["limits"], grace, drain))
elif mode == "same":
    a, b = docs(sys.argv[2]), docs(sys.argv[3])
    for suffix in ("-worker", "-console"):
        da, db = one(a, "Deployment", suffix), one(b, "Deployment", suffix)
        assert da["spec"].get("replicas") == db["spec"].get("replicas"), suffix
        assert da["spec"]["template"]["spec"]["containers"][0]["resources"] == \
               db["spec"]["template"]["spec"]["containers"][0]["resources"], suffix
    ca, cb = one(a, "ConfigMap", "floq"), one(b, "ConfigMap", "floq")
    assert ca["data"] == cb["data"]
elif mode == "keda":
    rendered, want = sys.argv[2], int(sys.argv[3])
    ds = docs(rendered)
    so = one(ds, "ScaledObject", "-worker")
    assert so["spec"]["maxReplicaCount"] == want, (so["spec"]["maxReplicaCount"], want)
    assert so["spec"]["scaleTargetRef"]["name"] == one(ds, "Deployment", "-worker")["metadata"]["name"]
    assert "replicas" not in one(ds, "Deployment", "-worker")["spec"], "KEDA owns the replicas"
    print("maxReplicaCount", so["spec"]["maxReplicaCount"], "trigger", so["spec"]["triggers"][0]["type"])
elif mode == "secrets":
    rendered, secret = sys.argv[2], sys.argv[3]
    ds = docs(rendered)
    assert not [d for d in ds if d["kind"] == "Secret"], "a Secret is rendered"
    for suffix in ("-worker", "-console"):
        pod = one(ds, "Deployment", suffix)["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in pod["volumes"]}
        assert vols["secrets"]["secret"]["secretName"] == secret, suffix
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        ref = env["FLOQ_LINEAGE_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret, "key": "lineage-token"}, ref
        assert "value" not in env["FLOQ_LINEAGE_TOKEN"]
    wp = props(one(ds, "ConfigMap", "floq")["data"]["worker.properties"])
    assert wp["sasl.password.file"] == "/etc/floq/secrets/sasl-password", wp
    sm = one(ds, "ServiceMonitor", "-worker")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
PY

drain_default=$("$BIN/floq-worker" --dump-config | sed -n 's/^worker.drain.grace.ms=\([0-9]*\).*/\1/p')
for size in small medium large; do
    ok "helm lint --strict (size $size)" lint --set size=$size
    ok "helm template (size $size)" render "$T/$size.yaml" --set size=$size
    "$FLOQ" ops resources --size $size --json >"$T/$size.res.json"
    "$FLOQ" ops helm-values --size $size --json >"$T/$size.values.json"
    ok "rendered $size: probes, resources = floq ops resources, sizes.$size = floq ops helm-values, grace, identity, PDB, console" \
        $PY "$T/check.py" size "$T/$size.yaml" "$T/$size.res.json" "$T/$size.values.json" \
        "$CHART/values.yaml" $size "$drain_default"
    "$FLOQ" ops helm-values --size $size >"$T/$size.values.yaml"
    ok "rendering with -f \$(floq ops helm-values --size $size) gives the same" \
        bash -c "'$HELM' template floq '$CHART' -f '$T/$size.values.yaml' >'$T/$size.f.yaml' &&
                 $PY '$T/check.py' same '$T/$size.yaml' '$T/$size.f.yaml'"
done

ok "KEDA on: helm lint --strict" lint --set keda.enabled=true
ok "KEDA: maxReplicaCount capped at the 12 partitions" bash -c \
    "'$HELM' template floq '$CHART' --set keda.enabled=true --set keda.maxReplicaCount=100 >'$T/keda.yaml' &&
     $PY '$T/check.py' keda '$T/keda.yaml' 12"
ok "KEDA: a cap below the partitions stays (prometheus trigger)" bash -c \
    "'$HELM' template floq '$CHART' --set keda.enabled=true --set keda.trigger=prometheus --set kafka.partitions=24 --set keda.maxReplicaCount=20 >'$T/keda2.yaml' &&
     $PY '$T/check.py' keda '$T/keda2.yaml' 20"
fails_render() { ! render "$T/fail.yaml" "$@"; }
ok "KEDA and an HPA together are refused" fails_render --set keda.enabled=true --set hpa.enabled=true

ok "secrets referenced (files, env), ServiceMonitor on: lint" lint \
    --set secrets.existingSecret=floq-creds --set 'secrets.files.sasl\.password\.file=sasl-password' \
    --set secrets.env.FLOQ_LINEAGE_TOKEN=lineage-token --set serviceMonitor.enabled=true
ok "secrets are only referenced by name, never rendered" bash -c \
    "'$HELM' template floq '$CHART' --set secrets.existingSecret=floq-creds \
        --set 'secrets.files.sasl\.password\.file=sasl-password' \
        --set secrets.env.FLOQ_LINEAGE_TOKEN=lineage-token --set serviceMonitor.enabled=true >'$T/sec.yaml' &&
     $PY '$T/check.py' secrets '$T/sec.yaml' floq-creds"
ok "control: an inlined password is refused" fails_render --set 'worker.config.sasl\.password=S3NTINEL'
nowhere() { ! grep -q S3NTINEL "$T/fail.yaml"; }
ok "control: ... and its value is rendered nowhere" nowhere
ok "control: an unknown size fails the render" fails_render --set size=huge
ok "control: the check catches a wrong resource" bash -c \
    "sed 's/\"512Mi\"/\"513Mi\"/' '$T/small.res.json' >'$T/bad.res.json';
     ! $PY '$T/check.py' size '$T/small.yaml' '$T/bad.res.json' '$T/small.values.json' '$CHART/values.yaml' small $drain_default 2>/dev/null"
# floq ops: clear errors (exit 2, naming what is wrong), help
usage_err() { "$FLOQ" ops "$@" >/dev/null 2>"$T/ops.err"; [[ $? -eq 2 ]] && grep -q "$OPS_WANT" "$T/ops.err"; }
OPS_WANT="unknown size 'huge'" ok "floq ops resources --size huge exits 2 naming it" usage_err resources --size huge
OPS_WANT="needs --size" ok "floq ops helm-values without --size exits 2" usage_err helm-values
OPS_WANT="unknown command 'sizes'" ok "floq ops sizes exits 2" usage_err sizes
ok "floq ops --help prints the usage" bash -c "'$FLOQ' ops --help | grep -q 'floq ops resources --size'"
finish
