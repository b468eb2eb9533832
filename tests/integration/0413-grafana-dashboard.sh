#!/usr/bin/env bash
# 0413: every metric name the Grafana dashboard (ops/grafana/floq.json)
# queries, in its panels and its template variables, exists in a real
# worker's /metrics exposition (scraped once the worker is ready and
# librdkafka's statistics have arrived, so the per-broker and per-partition
# series are there). Control: the same check fails on a copy with one name
# mistyped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
for c in python3 curl; do
    command -v "$c" >/dev/null || { echo "  $c not installed: skipped"; exit 77; }
done
worker_env
T=$FLOQ_TEST_TMP
export FLOQ_TOPIC_PARTITIONS=2
MP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DASH=ops/grafana/floq.json

cat >"$T/names.py" <<'PY'
import json, re, sys
NAME = re.compile(r"\bfloq_[a-z0-9_]+")
def strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "query", "definition") and isinstance(v, str):
                yield v
            else:
                yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
dash = json.load(open(sys.argv[1]))
exposed = set()
for line in open(sys.argv[2]):
    if line.startswith("# TYPE "):
        exposed.add(line.split()[2])
    elif line.strip() and not line.startswith("#"):
        exposed.add(re.split(r"[{ ]", line, 1)[0])
used = {n for s in strings(dash) for n in NAME.findall(s)}
panels = [p for p in dash["panels"] if p["type"] != "row"]
missing = sorted(used - exposed)
print("dashboard: %d panels, %d metric names; missing from /metrics: %s"
      % (len(panels), len(used), ", ".join(missing) or "none"))
sys.exit(1 if missing or not used or not all(p.get("targets") for p in panels) else 0)
PY

start_worker w1 -o metrics.listen=127.0.0.1:$MP -X statistics.interval.ms=1000
scrape() { curl -s -m 2 "http://127.0.0.1:$MP/metrics" >"$T/metrics.txt"; }
complete() {
    scrape && grep -q '^floq_ready 1' "$T/metrics.txt" &&
        grep -q '^floq_kafka_broker_rtt_seconds{' "$T/metrics.txt" &&
        grep -q '^floq_consumer_lag{' "$T/metrics.txt"
}
ok "the worker is ready and its statistics are exposed" wait_for 60 complete
ok "the dashboard is valid JSON with queries in every panel, each name in /metrics" \
    python3 "$T/names.py" "$DASH" "$T/metrics.txt"
sed 's/floq_transaction_commit_duration_seconds_bucket/floq_transaction_commit_duration_second_bucket/' \
    "$DASH" >"$T/typo.json"
caught() { ! python3 "$T/names.py" "$T/typo.json" "$T/metrics.txt"; }
ok "control: a mistyped metric name is caught" caught
finish
