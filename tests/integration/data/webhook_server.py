#!/usr/bin/env python3
"""A webhook server the http-backend tests control (stdlib only).

POST /hook            starts a remote job: its id is the Idempotency-Key
                      (a repeated key answers the same job); 201 {"id": ...}
GET  /jobs/<id>       {"state": "running"} until the file <dir>/<id>.done
                      (or <dir>/all.done) exists, then "done"; "cancelled"
                      once cancelled; 404 for an unknown id
POST /jobs/<id>/cancel
Every request is appended to <dir>/requests.jsonl (method, path, key,
authorization present or not). Usage: webhook_server.py DIR PORTFILE; the
chosen port is written to PORTFILE.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR, PORTFILE = sys.argv[1], sys.argv[2]
JOBS = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, body=None):
        entry = {"method": self.command, "path": self.path,
                 "key": self.headers.get("Idempotency-Key"),
                 "auth": self.headers.get("Authorization") is not None,
                 "body": body}
        with LOCK, open(os.path.join(DIR, "requests.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.record(body)
        if self.path == "/hook":
            key = self.headers.get("Idempotency-Key") or "nokey"
            with LOCK:
                JOBS.setdefault(key, "running")
            return self.send(201, {"id": key})
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "cancel":
            with LOCK:
                if parts[1] not in JOBS:
                    return self.send(404, {"detail": "no such job"})
                JOBS[parts[1]] = "cancelled"
            return self.send(202, {})
        self.send(404, {"detail": "no route"})

    def do_GET(self):
        self.record()
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "jobs":
            with LOCK:
                state = JOBS.get(parts[1])
            if state is None:
                return self.send(404, {"detail": "no such job"})
            if state == "running" and (
                    os.path.exists(os.path.join(DIR, parts[1] + ".done")) or
                    os.path.exists(os.path.join(DIR, "all.done"))):
                state = "done"
            return self.send(200, {"state": state})
        self.send(200, {"ok": True})


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
