#!/usr/bin/python3
"""k8s_proxy.py - what stands between floq and the Kubernetes CRUD mock in
the kubernetes backend's tests (tests/integration/0290): the API server's
front door that the mock lacks.

- TLS with the certificate given (floq verifies it with kubernetes.ca.file).
- Authentication: a request's bearer token must be one of the lines of
  --tokens (re-read at each request, so a test rotates it by rewriting the
  file); otherwise 401. A token listed in --forbidden gets 403 on every
  call but /readyz (an identity without RBAC).
- Contract: every request under /apis/batch/v1 is validated against the
  OpenAPI document (--spec, Swagger 2.0): the path and method exist, each
  query parameter is declared with the right type, the body matches the
  schema with unknown fields refused (fieldValidation=Strict). A request
  that does not conform gets 400 and a line in --violations, which the test
  requires to be empty. The only other paths floq may call, /readyz and
  GET /api/v1/namespaces/{ns}/pods (core/v1, outside the batch document),
  pass unvalidated; any other path is a violation.
- Garbage collection: DELETE of a Job with propagationPolicy=Background or
  Foreground also deletes its pods (label job-name), as the API server's
  collector does; with Orphan (the default for Jobs) they stay.
- Each request is logged as "METHOD path?query STATUS" to --log.

Standard library and python3-jsonschema (Debian) only.
"""
import argparse
import copy
import http.client
import json
import re
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema

UNVALIDATED = [("GET", re.compile(r"^/readyz$")),
               ("GET", re.compile(r"^/api/v1/namespaces/[a-z0-9-]+/pods$"))]


def strict(defs):
    """Refuse unknown fields: additionalProperties false wherever a
    definition lists its properties and says nothing else."""
    def walk(s):
        if isinstance(s, dict):
            if "properties" in s and "additionalProperties" not in s:
                s["additionalProperties"] = False
            for v in s.values():
                walk(v)
        elif isinstance(s, list):
            for v in s:
                walk(v)
    defs = copy.deepcopy(defs)
    walk(defs)
    return defs


class Spec:
    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        self.defs = strict(self.doc["definitions"])
        self.params = self.doc.get("parameters", {})
        self.paths = []
        for p, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(p).replace(
                r"\{", "{").replace(r"\}", "}")) + "$"
            self.paths.append((re.compile(rx), p, item))

    def param(self, p):
        if "$ref" in p:
            return self.params[p["$ref"].split("/")[-1]]
        return p

    def check(self, method, path, query, body, ctype):
        """None when the request conforms, else why not."""
        for rx, name, item in self.paths:
            if rx.match(path) or rx.match(path.rstrip("/") + "/"):
                break
        else:
            return "path %s is not in the batch/v1 document" % path
        op = item.get(method.lower())
        if not op:
            return "%s %s: no such operation" % (method, name)
        params = [self.param(p) for p in item.get("parameters", [])]
        params += [self.param(p) for p in op.get("parameters", [])]
        declared = {p["name"]: p for p in params if p["in"] == "query"}
        for k, vals in query.items():
            p = declared.get(k)
            if not p:
                return "%s %s: undeclared query parameter %r" % (
                    method, name, k)
            for v in vals:
                if p.get("type") == "boolean" and v not in ("true", "false"):
                    return "%s=%r is not a boolean" % (k, v)
                if p.get("type") == "integer" and not re.match(r"^-?\d+$", v):
                    return "%s=%r is not an integer" % (k, v)
                if "enum" in p and v not in p["enum"]:
                    return "%s=%r is not one of %s" % (k, v, p["enum"])
        for p in params:
            if p["in"] == "query" and p.get("required") and \
                    p["name"] not in query:
                return "missing required query parameter %s" % p["name"]
        bp = [p for p in params if p["in"] == "body"]
        if bp:
            if not body:
                if bp[0].get("required"):
                    return "%s %s: a body is required" % (method, name)
                return None
            if not ctype.startswith("application/json"):
                return "Content-Type %r is not application/json" % ctype
            try:
                doc = json.loads(body)
            except ValueError as e:
                return "the body is not JSON: %s" % e
            schema = dict(bp[0]["schema"])
            schema["definitions"] = self.defs
            v = jsonschema.Draft4Validator(schema)
            errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
            if errs:
                e = errs[0]
                return "body at /%s: %s" % (
                    "/".join(str(x) for x in e.absolute_path), e.message)
        elif body:
            return "%s %s takes no body" % (method, name)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--upstream", required=True)  # http://127.0.0.1:PORT
    ap.add_argument("--spec", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--forbidden", default="")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--log", required=True)
    ap.add_argument("--violations", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    spec = Spec(a.spec)
    up = urllib.parse.urlparse(a.upstream)
    lock = threading.Lock()
    open(a.violations, "a").close()

    def upstream(method, path, body=None, ctype="application/json"):
        c = http.client.HTTPConnection(up.hostname, up.port, timeout=10)
        hdrs = {"Content-Type": ctype} if body is not None else {}
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, code, body, ctype="application/json"):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with lock, open(a.log, "a") as f:
                f.write("%s %s %d\n" % (self.command, self.path, code))

        def status(self, code, reason, msg):
            self.send(code, json.dumps({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": reason, "code": code, "message": msg}))

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            u = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            auth = self.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else None
            with open(a.tokens) as f:
                valid = [x.strip() for x in f if x.strip()]
            if tok not in valid:
                return self.status(401, "Unauthorized", "Unauthorized")
            if tok in a.forbidden.split(",") and u.path != "/readyz":
                return self.status(403, "Forbidden",
                                   "jobs.batch is forbidden: User "
                                   "\"system:serviceaccount:x:y\" cannot "
                                   "%s resource" % self.command.lower())
            if u.path.startswith("/apis/batch/v1"):
                why = spec.check(self.command, u.path, query, body,
                                 self.headers.get("Content-Type", ""))
            elif any(m == self.command and rx.match(u.path)
                     for m, rx in UNVALIDATED):
                why = None
            else:
                why = "%s %s is not a call floq should make" % (
                    self.command, u.path)
            if why:
                with lock, open(a.violations, "a") as f:
                    f.write("%s %s: %s\n" % (self.command, self.path, why))
                return self.status(400, "BadRequest", "openapi: " + why)
            code, data = upstream(self.command, self.path, body or None,
                                  self.headers.get("Content-Type",
                                                   "application/json"))
            m = re.match(r"^/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)$",
                         u.path)
            if self.command == "DELETE" and m and code < 300 and \
                    query.get("propagationPolicy", [""])[0] in (
                        "Background", "Foreground"):
                sel = urllib.parse.quote("job-name=" + m.group(2))
                _, pods = upstream("GET", "/api/v1/namespaces/%s/pods?"
                                   "labelSelector=%s" % (m.group(1), sel))
                for p in json.loads(pods).get("items", []):
                    upstream("DELETE", "/api/v1/namespaces/%s/pods/%s" % (
                        m.group(1), p["metadata"]["name"]))
            ctype = "text/plain" if u.path == "/readyz" else \
                "application/json"
            self.send(code, data, ctype)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    srv = ThreadingHTTPServer(("127.0.0.1", a.listen_port), H)
    srv.daemon_threads = True
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
