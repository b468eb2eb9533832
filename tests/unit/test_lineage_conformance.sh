#!/usr/bin/env bash
# test_lineage_conformance.sh - every kind of event floq emits validates
# against OpenLineage 2-0-2 (OpenLineage.json) and each facet against its
# facet schema, with format checking on (uuid, date-time, uri). Events are
# built by build/tools/floq_lineage_tool from the Deployment/RunState
# fixtures in tests/data/openlineage/runs/ (succeeded, failed, timed out,
# stopped, lost, scheduled, child, running, deployment gone, environment);
# the validator is tests/data/openlineage/validate.py over Debian's
# python3-jsonschema (/usr/bin/python3, not a python3 earlier on PATH),
# with every $ref resolved to the local copies in tests/data/openlineage/
# spec/. Negative checks: deliberately broken events
# must fail, so this test can fail. Exit 0 on success.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
TOOL=${FLOQ_LINEAGE_TOOL:-$B/tools/floq_lineage_tool}
PY=/usr/bin/python3
D=tests/data/openlineage

if [[ ! -x $TOOL ]]; then
    echo "conformance: $TOOL not built" >&2; exit 1
fi
if ! $PY -c 'import jsonschema' 2>/dev/null; then
    echo "conformance: $PY has no jsonschema (apt-get install python3-jsonschema)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$D/runs
ROOT_RUN=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d

# name TYPE DEPLOYMENT RUNSTATE [tool options]: build one event
ev() {
    local name=$1 type=$2 dep=$3 rs=$4; shift 4
    "$TOOL" event "$type" "$dep" "$rs" "$@" >"$tmp/$name.json"
}
ev succeeded    COMPLETE $R/deployment.json $R/run_succeeded.json
ev start        START    $R/deployment.json $R/run_running.json
ev running      RUNNING  $R/deployment.json $R/run_running.json
ev failed       FAIL     $R/deployment.json $R/run_failed.json
ev timed_out    FAIL     $R/deployment.json $R/run_timed_out.json
ev stopped      ABORT    $R/deployment.json $R/run_stopped.json
ev lost         ABORT    $R/deployment.json $R/run_lost.json
ev sched_start  START    $R/deployment.json $R/run_scheduled.json
ev scheduled    COMPLETE $R/deployment.json $R/run_scheduled.json
ev child        COMPLETE $R/deployment.json $R/run_child.json \
    --parent-job analytics nightly-orders
ev grandchild   COMPLETE $R/deployment.json $R/run_child.json \
    --parent-job analytics nightly-orders --root $ROOT_RUN ops daily-root
ev orphan       COMPLETE $R/deployment.json $R/run_child.json
ev gone         ABORT    -                  $R/run_lost.json --namespace teamx
ev nons         COMPLETE $R/deployment_nons.json $R/run_succeeded.json
ev remote       COMPLETE $R/deployment.json $R/run_remote.json
ev env          COMPLETE $R/deployment.json $R/run_succeeded.json \
    --env PATH=/usr/bin --env HOME=/home/job --env API_TOKEN=s3cret \
    --env DB_PASSWORD=hunter2 --env LANG=C.UTF-8 \
    --env 'TZ=http://user:pw@host/'
for f in "$tmp"/*.json; do
    "$TOOL" key "$f" >"${f%.json}.key"
done

FLOQ_LINEAGE_TMP=$tmp FLOQ_LINEAGE_DATA=$D $PY - <<'EOF'
import copy, json, os, sys
sys.path.insert(0, os.environ["FLOQ_LINEAGE_DATA"])
from validate import validate

tmp = os.environ["FLOQ_LINEAGE_TMP"]

fails = 0
def check(cond, what):
    global fails
    if cond:
        print("  ok: " + what)
    else:
        print("  FAIL: " + what)
        fails += 1

K = "run:analytics/nightly-orders"
cases = {
    # name: (eventType, runId prefix, facets required, facets forbidden, key)
    "succeeded": ("COMPLETE", "3f2a7c1e", {"processing_engine"},
                  {"errorMessage", "nominalTime", "parent"}, K),
    "start": ("START", "a091e385", {"processing_engine"},
              {"errorMessage"}, K),
    "running": ("RUNNING", "a091e385", {"processing_engine"},
                {"errorMessage"}, K),
    "failed": ("FAIL", "4a3b8d2f", {"errorMessage"}, set(), K),
    "timed_out": ("FAIL", "5b4c9e30", {"errorMessage"}, set(), K),
    "stopped": ("ABORT", "6c5daf41", {"errorMessage"}, set(), K),
    "lost": ("ABORT", "7d6eb052", {"errorMessage"}, set(), K),
    "sched_start": ("START", "8e7fc163", {"nominalTime"}, {"parent"}, K),
    "scheduled": ("COMPLETE", "8e7fc163", {"nominalTime"}, {"parent"}, K),
    "child": ("COMPLETE", "9f80d274", {"parent"}, set(), K),
    "grandchild": ("COMPLETE", "9f80d274", {"parent"}, set(),
                   "run:ops/daily-root"),
    "orphan": ("COMPLETE", "9f80d274", set(), {"parent"}, K),
    "gone": ("ABORT", "7d6eb052", {"errorMessage"}, set(),
             "run:teamx/nightly-orders"),
    "nons": ("COMPLETE", "3f2a7c1e", set(), set(), "run:floq/adhoc"),
    "env": ("COMPLETE", "3f2a7c1e", {"environmentVariables"}, set(), K),
    "remote": ("COMPLETE", "b1c2d3e4", {"floq_backend"}, {"errorMessage"},
               K),
}
events = {}
for name, (etype, rid, need, forbid, key) in sorted(cases.items()):
    with open(os.path.join(tmp, name + ".json")) as f:
        ev = json.load(f)
    events[name] = ev
    with open(os.path.join(tmp, name + ".key")) as f:
        got_key = f.read().strip()
    errs = validate(ev)
    for e in errs:
        print("    " + e)
    check(not errs, "%s: valid RunEvent, facets valid" % name)
    facets = set(ev["run"].get("facets", {}))
    check(ev["eventType"] == etype and ev["run"]["runId"].startswith(rid),
          "%s: eventType %s, runId is the floq run id" % (name, etype))
    check(need <= facets and not (forbid & facets),
          "%s: run facets %s" % (name, sorted(facets)))
    check("jobType" in ev["job"].get("facets", {}),
          "%s: jobType job facet" % name)
    check(got_key == key, "%s: key %s (got %s)" % (name, key, got_key))

# facts the fixtures fix
s = events["succeeded"]
names = lambda side: sorted((d["namespace"], d["name"]) for d in s[side])
check(names("outputs") == [("s3://lake", "orders/by_region"),
                           ("s3://lake", "orders/daily")],
      "succeeded: declared + reported outputs")
check(names("inputs") == [("postgres://db:5432", "shop.public.customers"),
                          ("postgres://db:5432", "shop.public.orders")],
      "succeeded: declared + reported inputs")
em = events["failed"]["run"]["facets"]["errorMessage"]
check("exit status 2" in em["message"] and "ValueError" in em["stackTrace"],
      "failed: errorMessage has exit status and output tail")
check(events["scheduled"]["run"]["facets"]["nominalTime"]["nominalStartTime"]
      == "2025-11-23T09:00:00.000Z", "scheduled: nominalStartTime")
p = events["grandchild"]["run"]["facets"]["parent"]
check(p["root"]["job"] == {"namespace": "ops", "name": "daily-root"},
      "grandchild: parent.root")
env = {e["name"]: e["value"] for e in
       events["env"]["run"]["facets"]["environmentVariables"][
           "environmentVariables"]}
check(env == {"PATH": "/usr/bin", "HOME": "/home/job", "LANG": "C.UTF-8"},
      "env: only allowlisted, non-secret variables (%s)" % sorted(env))
check("s3cret" not in json.dumps(events["env"])
      and "hunter2" not in json.dumps(events["env"]), "env: no secrets")
check(events["start"]["eventTime"] == "2025-11-23T09:59:55.000Z"
      and events["failed"]["eventTime"] == "2025-11-23T10:01:01.000Z",
      "eventTime: started_at for START, finished_at for terminal events")

fb = events["remote"]["run"]["facets"]["floq_backend"]
check(fb["backend"] == "airflow"
      and fb["runId"] == "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e-1"
      and fb["url"].endswith("/dags/nightly_orders/runs/" + fb["runId"]),
      "remote: floq_backend facet with the backend's run id and url")
check("floq_backend" not in events["succeeded"]["run"]["facets"],
      "succeeded: no floq_backend facet without a backend")

# The validator must be able to fail: each broken copy must be rejected.
def broken(name, mutate):
    ev = copy.deepcopy(events["failed"])
    mutate(ev)
    check(validate(ev), "negative: %s is rejected" % name)

broken("runId not a uuid", lambda e: e["run"].__setitem__("runId", "run-1"))
broken("eventTime not a date-time",
       lambda e: e.__setitem__("eventTime", "2025-13-45 25:00"))
broken("eventTime without zone",
       lambda e: e.__setitem__("eventTime", "2025-11-23T10:01:01"))
broken("unknown eventType", lambda e: e.__setitem__("eventType", "DONE"))
broken("job without name", lambda e: e["job"].pop("name"))
broken("facet without _producer",
       lambda e: e["run"]["facets"]["processing_engine"].pop("_producer"))
broken("errorMessage without programmingLanguage",
       lambda e: e["run"]["facets"]["errorMessage"].pop(
           "programmingLanguage"))
broken("producer not a uri", lambda e: e.__setitem__("producer", "floq 1"))
broken("nominalStartTime not a date-time",
       lambda e: e["run"]["facets"].__setitem__("nominalTime", {
           "_producer": e["producer"],
           "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
           "NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
           "nominalStartTime": "tomorrow"}))
broken("parent runId not a uuid",
       lambda e: e["run"]["facets"].__setitem__("parent", {
           "_producer": e["producer"],
           "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/"
           "ParentRunFacet.json#/$defs/ParentRunFacet",
           "run": {"runId": "nope"},
           "job": {"namespace": "a", "name": "b"}}))
broken("floq_backend without runId and url",
       lambda e: e["run"]["facets"].__setitem__("floq_backend", {
           "_producer": e["producer"],
           "_schemaURL": "https://raw.githubusercontent.com/floq-io/floq/"
           "main/tests/data/openlineage/spec/facets/"
           "FloqBackendRunFacet.json#/$defs/FloqBackendRunFacet",
           "backend": "airflow"}))
broken("facet with unknown schema",
       lambda e: e["run"]["facets"].__setitem__("mystery", {
           "_producer": e["producer"],
           "_schemaURL": "https://example.com/x.json#/$defs/X"}))

print("  conformance: %d failed" % fails)
sys.exit(1 if fails else 0)
EOF
