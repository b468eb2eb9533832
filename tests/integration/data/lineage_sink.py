#!/usr/bin/python3
"""lineage_sink.py - a stand-in OpenLineage HTTP endpoint (Marquez's
POST /api/v1/lineage) for the floq-lineage forwarder tests. It records
every request as one JSON line (status it answered, Authorization and
Content-Type headers, path, the body parsed as JSON) in --log, flushed
before the answer is sent, and answers:

  503 while the file --fail-file exists (an endpoint that is down),
  503 for the first --fail-first N requests,
  400 "rejected: marker" for bodies containing --reject-marker,
  401 without the bearer token of --require-token, when given,
  201 otherwise (what Marquez answers), after --delay-ms.

It binds 127.0.0.1:--port (0: any free port) and writes the port it got to
--port-file, so a test can restart it on the same port. Only the standard
library: run it with /usr/bin/python3.

`lineage_sink.py check --log LOG --events FILE [--marker M] [--progress]`
compares what the sink accepted with what was produced (FILE: one
KEY<TAB>JSON line per event as given to kcat -K'\t', each event with a
unique "seq"): every event without the marker accepted (2xx) at least once
with its body unchanged, none with the marker accepted, and per key the
events first accepted in the order they were produced. It prints counts
and exits 0 when all holds; --progress prints only how many distinct
events were accepted (for wait loops).
"""
import argparse
import http.server
import json
import os
import sys
import threading
import time


def check(argv):
    ap = argparse.ArgumentParser(prog="lineage_sink.py check")
    ap.add_argument("--log", required=True)
    ap.add_argument("--events")
    ap.add_argument("--marker")
    ap.add_argument("--progress", action="store_true")
    a = ap.parse_args(argv)
    recs = []
    if os.path.exists(a.log):
        with open(a.log) as f:
            for line in f:
                if line.endswith("\n"):  # a torn last line is still open
                    recs.append(json.loads(line))
    accepted = [r for r in recs if 200 <= r["status"] < 300]
    seen = {}
    for r in accepted:
        b = r["body"]
        if isinstance(b, dict) and "seq" in b:
            seen.setdefault(b["seq"], r)
    if a.progress:
        print(len(seen))
        return 0
    produced = []  # (key, seq, event)
    with open(a.events) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            try:
                ev = json.loads(value)
            except ValueError:
                continue  # deliberately broken: goes to the DLQ
            produced.append((key, ev["seq"], ev))
    bad = []
    want = [p for p in produced
            if not (a.marker and a.marker in json.dumps(p[2]))]
    for key, seq, ev in produced:
        r = seen.get(seq)
        if a.marker and a.marker in json.dumps(ev):
            if r:
                bad.append("seq %s with the marker was accepted" % seq)
        elif not r:
            bad.append("seq %s (key %s) never accepted" % (seq, key))
        elif r["body"] != ev:
            bad.append("seq %s body changed" % seq)
        elif r["content_type"] != "application/json":
            bad.append("seq %s content type %r" % (seq, r["content_type"]))
    # order: per key, first acceptances in production order
    first = {}
    for r in accepted:
        b = r["body"]
        if isinstance(b, dict) and "seq" in b and b["seq"] not in first:
            first[b["seq"]] = len(first)
    keyof = {seq: key for key, seq, _ in produced}
    per_key = {}
    for seq in sorted(first, key=first.get):
        per_key.setdefault(keyof.get(seq), []).append(seq)
    order = {seq: i for i, (_, seq, _) in enumerate(produced)}
    for key, seqs in per_key.items():
        idx = [order[s] for s in seqs if s in order]
        if idx != sorted(idx):
            bad.append("key %s delivered out of order: %s" % (key, seqs))
    dups = len(accepted) - len(seen)
    print("produced %d, expected %d, accepted %d distinct, %d duplicates, "
          "%d answered 5xx" % (len(produced), len(want), len(seen), dups,
                               sum(1 for r in recs if r["status"] >= 500)))
    for b in bad[:20]:
        print("  " + b)
    return 1 if bad else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        return check(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail-file")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--reject-marker")
    ap.add_argument("--require-token")
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()

    lock = threading.Lock()
    state = {"n": 0}
    log = open(args.log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            text = raw.decode("utf-8", "replace")
            with lock:
                state["n"] += 1
                n = state["n"]
            auth = self.headers.get("Authorization")
            if args.fail_file and os.path.exists(args.fail_file):
                status, body = 503, "down for maintenance"
            elif n <= args.fail_first:
                status, body = 503, "warming up"
            elif args.reject_marker and args.reject_marker in text:
                status, body = 400, "rejected: marker"
            elif args.require_token and \
                    auth != "Bearer " + args.require_token:
                status, body = 401, "unauthorized"
            else:
                if args.delay_ms:
                    time.sleep(args.delay_ms / 1000.0)
                status, body = 201, ""
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            rec = {"n": n, "status": status, "path": self.path,
                   "auth": auth,
                   "content_type": self.headers.get("Content-Type"),
                   "body": parsed}
            with lock:
                log.write(json.dumps(rec, sort_keys=True) + "\n")
                log.flush()
                os.fsync(log.fileno())
            out = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", args.port), Handler)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
