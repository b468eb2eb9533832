#!/usr/bin/python3
"""k8s_controller.py UPSTREAM - plays the Job controller and the kubelet
for the kubernetes backend's test (0290) against the CRUD mock, which runs
nothing: every Job floq creates gets a pod (label job-name) and, by the
first of its container's args (floq put the run's params there):
  succeed   pod Succeeded, Job condition Complete
  fail ...  pod terminated Error, exit code 3, message the other args;
            Job condition Failed (BackoffLimitExceeded)
  else      pod Running, Job active (until floq stops it)
Talks to the mock directly (not through the validating proxy)."""
import http.client
import json
import sys
import time
import urllib.parse

up = urllib.parse.urlparse(sys.argv[1])


def call(method, path, body=None, ctype="application/json"):
    c = http.client.HTTPConnection(up.hostname, up.port, timeout=10)
    c.request(method, path, body=json.dumps(body) if body is not None
              else None, headers={"Content-Type": ctype})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data or b"{}")


def pod(job, phase, state):
    md = job["metadata"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": md["name"] + "-x7k2p",
                         "namespace": md["namespace"],
                         "labels": {"job-name": md["name"]}},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "job", "image": "busybox"}]},
            "status": {"phase": phase, "containerStatuses": [
                {"name": "job", "state": state}]}}


seen = set()
while True:
    try:
        _, jobs = call("GET", "/apis/batch/v1/jobs")
    except OSError:
        time.sleep(0.2)
        continue
    for job in jobs.get("items", []):
        md = job["metadata"]
        if md["uid"] in seen or md["name"] == "floq-validate":
            continue
        seen.add(md["uid"])
        ctr = job["spec"]["template"]["spec"]["containers"][0]
        args = ctr.get("args", [])
        mode = args[0] if args else ""
        ns = md["namespace"]
        st = "/apis/batch/v1/namespaces/%s/jobs/%s/status" % (ns, md["name"])
        if mode == "succeed":
            call("POST", "/api/v1/namespaces/%s/pods" % ns, pod(
                job, "Succeeded",
                {"terminated": {"reason": "Completed", "exitCode": 0}}))
            status = {"succeeded": 1, "conditions": [
                {"type": "Complete", "status": "True"}]}
        elif mode == "fail":
            call("POST", "/api/v1/namespaces/%s/pods" % ns, pod(
                job, "Failed",
                {"terminated": {"reason": "Error", "exitCode": 3,
                                "message": " ".join(args[1:])}}))
            status = {"failed": 1, "conditions": [
                {"type": "Failed", "status": "True",
                 "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"}]}
        else:
            call("POST", "/api/v1/namespaces/%s/pods" % ns, pod(
                job, "Running", {"running": {}}))
            status = {"active": 1}
        call("PATCH", st, {"status": status}, "application/merge-patch+json")
        print("controller: %s/%s %s" % (ns, md["name"], mode or "hold"),
              flush=True)
    time.sleep(0.1)
