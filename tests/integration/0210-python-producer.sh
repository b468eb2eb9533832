#!/usr/bin/env bash
# itest: alone: a worker of the default identity
# Any language can produce: Debian's python3-avro encodes a deploy and a
# run Command from schemas/Command.avsc in Avro single-object encoding (the
# C3 01 header and the CRC-64-AVRO fingerprint of the canonical form
# computed in Python), kcat produces them (one file per message, key =
# deployment, Java's murmur2 partitioner), a floq-worker executes the run,
# and the replies decode in Python. The Python code is the one in
# docs/producing.md.
source "$(dirname "$0")/lib.sh"
[[ -x $BIN/floq-worker ]] || { echo "  no floq-worker yet"; exit 77; }
PY=/usr/bin/python3   # Debian's, with python3-avro (not a pyenv python3)
"$PY" -c 'import avro.schema, avro.io' 2>/dev/null || { echo "  no python3-avro"; exit 77; }
command -v kcat >/dev/null || { echo "  no kcat"; exit 77; }
floq_test_topics
jobs=$FLOQ_TEST_TMP/jobs; mkdir -p "$jobs"
export FLOQ_PROCESS_ALLOWED_DIRS=$jobs
printf '#!/bin/sh\necho "hello $1"\n' > "$jobs/hello.sh"; chmod +x "$jobs/hello.sh"

py=$FLOQ_TEST_TMP/floq_avro.py
cat > "$py" <<'PYEOF'
"""Produce floq commands and read floq replies with python3-avro only:
Avro single-object encoding (C3 01, CRC-64-AVRO fingerprint of the
schema's canonical form, little-endian, then the Avro binary body).
  floq_avro.py encode SCHEMAS_DIR deploy NAME EXE ARG... > file
  floq_avro.py encode SCHEMAS_DIR run NAME KEY=VALUE...   > file
  floq_avro.py decode SCHEMAS_DIR < kcat -f '%R%s' output  (JSON lines)
"""
import io, json, os, struct, sys, time, uuid
import avro.io, avro.schema

EMPTY = 0xC15D213AA4D7A795
TABLE = []
for i in range(256):
    fp = i
    for _ in range(8):
        fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
    TABLE.append(fp)

def crc64_avro(data):
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]
    return fp

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

def strip_logical(node):
    """{"type": "long", "logicalType": ...} -> "long". The Parsing Canonical
    Form has no logical types (Java's SchemaNormalization drops them), but
    python3-avro 1.11's canonical_form keeps {"type": "long"}, which gives
    another fingerprint. The binary encoding is the same either way."""
    if isinstance(node, dict):
        if "logicalType" in node and node.get("type") in PRIMITIVES:
            return node["type"]
        return {k: strip_logical(v) for k, v in node.items()}
    if isinstance(node, list):
        return [strip_logical(x) for x in node]
    return node

def load(schemas, name):
    text = open(os.path.join(schemas, name + ".avsc")).read()
    s = avro.schema.parse(json.dumps(strip_logical(json.loads(text))))
    return s, crc64_avro(s.canonical_form.encode())

def encode(schema, fp, datum):
    buf = io.BytesIO()
    buf.write(b"\xc3\x01" + struct.pack("<Q", fp))
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()

def decode(schema, fp, data):
    if data[:2] != b"\xc3\x01":
        raise ValueError("not single-object encoded")
    if struct.unpack("<Q", data[2:10])[0] != fp:
        raise ValueError("unknown schema fingerprint")
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))

def command(name, body):
    cid = str(uuid.uuid4())
    return {"command_id": cid, "correlation_id": "py-" + cid,
            "issued_at": int(time.time() * 1000), "expires_at": None,
            "reply_to": None, "deployment": name, "idempotency_key": None,
            "key_id": None, "signature": None, "body": body}

def main():
    mode, schemas = sys.argv[1], sys.argv[2]
    if mode == "encode":
        schema, fp = load(schemas, "Command")
        kind, name, rest = sys.argv[3], sys.argv[4], sys.argv[5:]
        if kind == "deploy":
            spec = json.dumps({"executable": rest[0], "args": rest[1:]})
            body = {"backend": "process", "spec": spec, "artifact_url": None,
                    "artifact_sha256": None, "namespace": None, "inputs": [],
                    "outputs": [], "timeout_ms": None, "retry": None}
        else:
            body = {"params": dict(kv.split("=", 1) for kv in rest),
                    "timeout_ms": None, "scheduled_for": None,
                    "schedule_id": None, "parent_run_id": None}
        cmd = command(name, body)
        sys.stdout.buffer.write(encode(schema, fp, cmd))
        print(cmd["command_id"], file=sys.stderr)
    else:
        schema, fp = load(schemas, "Reply")
        data = sys.stdin.buffer.read()
        while len(data) >= 4:
            n = struct.unpack(">i", data[:4])[0]
            msg, data = data[4:4 + n], data[4 + n:]
            print(json.dumps(decode(schema, fp, msg), default=str))

if __name__ == "__main__":
    main()
PYEOF

bg worker "$BIN/floq-worker"

"$PY" "$py" encode schemas deploy pyhello "$jobs/hello.sh" '{who}' \
    >"$FLOQ_TEST_TMP/deploy.avro" 2>"$FLOQ_TEST_TMP/deploy.id"
ok "python encodes a deploy command" test -s "$FLOQ_TEST_TMP/deploy.avro"
"$PY" "$py" encode schemas run pyhello who=python \
    >"$FLOQ_TEST_TMP/run.avro" 2>"$FLOQ_TEST_TMP/run.id"
ok "python encodes a run command" test -s "$FLOQ_TEST_TMP/run.avro"
ok "single-object encoding header C3 01" \
    test "$(head -c 2 "$FLOQ_TEST_TMP/run.avro" | od -An -tx1 | tr -d ' ')" = c301
deploy_id=$(cat "$FLOQ_TEST_TMP/deploy.id") run_id=$(cat "$FLOQ_TEST_TMP/run.id")

# The topics may not exist yet (the worker creates them at start).
topic_ready() { kcat -b "$FLOQ_BROKERS" -L -t "$FLOQ_TOPIC_COMMANDS" 2>/dev/null | grep -q 'partition 0,'; }
ok "commands topic exists" wait_for 60 topic_ready
kcat -P -b "$FLOQ_BROKERS" -t "$FLOQ_TOPIC_COMMANDS" -k pyhello \
    -X partitioner=murmur2_random "$FLOQ_TEST_TMP/deploy.avro" "$FLOQ_TEST_TMP/run.avro"
ok "kcat produced both (one file per message)" test $? -eq 0

replies=$FLOQ_TEST_TMP/replies.jsonl
got_final() {
    kcat -b "$FLOQ_BROKERS" -C -t "$FLOQ_TOPIC_REPLIES" -e -q \
        -X isolation.level=read_committed -f '%R%s' 2>/dev/null |
        "$PY" "$py" decode schemas >"$replies" &&
        grep -q "\"command_id\": \"$deploy_id\"" "$replies" &&
        grep -q "\"command_id\": \"$run_id\".*\"final\": true" "$replies"
}
# Wait for every reply the check below reads, not just the last one: one
# kcat -e pass can end before it has read every committed partition (seen
# once in six runs: the run's final reply read, the deploy reply not).
ok "the worker's replies to both commands decode in Python" wait_for 60 got_final
check() {
    "$PY" - "$replies" "$@" <<'PYCHK'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
by = lambda cid: [r for r in rs if r["command_id"] == cid]
d, r = by(sys.argv[2]), by(sys.argv[3])
assert [x["status"] for x in d] == ["DEPLOYED"], d
assert r[0]["status"] == "ACCEPTED" and r[-1]["status"] == "SUCCEEDED", r
assert r[-1]["output_tail"].startswith("hello python"), r[-1]
assert all(x["correlation_id"] == "py-" + sys.argv[3] for x in r)
PYCHK
}
ok "DEPLOYED, then ACCEPTED .. SUCCEEDED with the job's output" check "$deploy_id" "$run_id"
finish
