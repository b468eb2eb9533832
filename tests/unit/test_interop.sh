#!/bin/bash
# test_interop.sh - floq's codec against another Avro implementation,
# Debian's python3-avro (/usr/bin/python3, not whatever python3 is first on
# PATH). Checks, each printed:
#  (a) for every schemas/*.avsc, Python's Parsing Canonical Form equals
#      ours and the CRC-64-AVRO fingerprint (computed in Python from the
#      spec, python-avro has none) equals ours;
#  (b) a Command and a Reply encoded by floq decode in Python (header and
#      fingerprint checked, body read by avro.io.DatumReader) to the values
#      floq encoded;
#  (c) the same values encoded by Python (avro.io.DatumWriter behind a
#      single-object header built in Python) decode in floq unchanged.
# python-avro 1.11.1 deviates from the spec in one place: a primitive with
# extra attributes ({"type":"string","logicalType":"uuid"}) keeps its
# object form in its canonical form, where the spec's [PRIMITIVES] and
# [STRIP] rules (and Java's SchemaNormalization, which the fingerprints on
# the wire must match) give "string". The check applies that rule to
# Python's output and says so. For (b) and (c) logicalType attributes are
# removed before Python parses a schema, so Python hands out raw longs
# instead of datetimes; that does not change the encoding or the canonical
# form. Run by tests/unit/run.sh with B set to the build folder.
set -u
B=${B:-build}
TOOL=$B/tools/floq_avro_tool
PY=/usr/bin/python3

if [ ! -x "$TOOL" ]; then
    echo "test_interop: $TOOL not built"
    exit 1
fi
if ! "$PY" -c 'import avro.schema, avro.io' 2>/dev/null; then
    echo "test_interop: $PY has no avro module (apt-get install python3-avro)"
    exit 1
fi

exec "$PY" - "$TOOL" schemas <<'PYEOF'
import glob, io, json, struct, subprocess, sys

import avro.io
import avro.schema

tool, schema_dir = sys.argv[1], sys.argv[2]
failures = 0
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes",
              "string"}


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def crc64_avro(data):
    """CRC-64-AVRO as the Avro specification gives it."""
    empty = 0xc15d213aa4d7a795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xff]
    return fp


def spec_primitives(node):
    """The spec's [PRIMITIVES] rule, which python-avro 1.11.1 skips for
    primitives that carried extra attributes."""
    if isinstance(node, dict):
        if set(node) == {"type"} and node["type"] in PRIMITIVES:
            return node["type"]
        return {k: spec_primitives(v) for k, v in node.items()}
    if isinstance(node, list):
        return [spec_primitives(v) for v in node]
    return node


def python_canonical(text):
    raw = avro.schema.parse(text).canonical_form
    fixed = json.dumps(spec_primitives(json.loads(raw)),
                       separators=(",", ":"))
    return raw, fixed


def strip_logical(node):
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items()
                if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def run_tool(*args, data=b""):
    p = subprocess.run([tool, *args], input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout


def branch_name(s):
    return s.name if hasattr(s, "name") and s.type in (
        "record", "enum", "fixed", "error") else s.type


def nullable(u):
    types = [s.type for s in u.schemas]
    return len(types) == 2 and "null" in types


class FloqShapeReader(avro.io.DatumReader):
    """Reads values in floq's JSON shape: unions other than [null, X]
    tagged with their branch name, bytes as hex."""

    def read_union(self, ws, rs, decoder):
        idx = int(decoder.read_long())
        b = ws.schemas[idx]
        v = self.read_data(b, b, decoder)
        return v if nullable(ws) else {branch_name(b): v}

    def read_data(self, ws, rs, decoder):
        v = super().read_data(ws, rs, decoder)
        if isinstance(v, (bytes, bytearray)):
            return v.hex()
        return v


class FloqShapeWriter(avro.io.DatumWriter):
    """Writes values given in floq's JSON shape (tagged unions, hex)."""

    def write(self, datum, encoder):
        self.write_data(self.writers_schema, datum, encoder)

    def write_data(self, ws, datum, encoder):
        if ws.type in ("bytes", "fixed") and isinstance(datum, str):
            datum = bytes.fromhex(datum)
        if ws.type in ("float", "double") and isinstance(datum, int):
            datum = float(datum)
        return super().write_data(ws, datum, encoder)

    def write_union(self, ws, datum, encoder):
        if nullable(ws):
            idx = [i for i, s in enumerate(ws.schemas)
                   if (s.type == "null") == (datum is None)][0]
            val = datum
        else:
            (name, val), = datum.items()
            idx = [i for i, s in enumerate(ws.schemas)
                   if branch_name(s) == name][0]
        encoder.write_long(idx)
        self.write_data(ws.schemas[idx], val, encoder)


# ---- (a) canonical forms and fingerprints
schemas = {}
for path in sorted(glob.glob(schema_dir + "/*.avsc")):
    name = path.rsplit("/", 1)[1][:-5]
    text = open(path).read()
    out = run_tool("fingerprint", path).decode().split("\n")
    ours, our_fp = out[0], int(out[1], 16)
    raw, fixed = python_canonical(text)
    note = "" if raw == fixed else " (python's [PRIMITIVES] slip corrected)"
    check(ours == fixed, "%s: canonical form equals python's%s" % (name, note))
    fp = crc64_avro(fixed.encode())
    check(our_fp == fp, "%s: fingerprint %016x equals python's %016x"
          % (name, our_fp, fp))
    stripped = json.dumps(strip_logical(json.loads(text)))
    check(python_canonical(stripped)[1] == fixed,
          "%s: logicalType does not change the canonical form" % name)
    schemas[name] = (avro.schema.parse(stripped), fp)

samples = {
    "Command": {
        "command_id": "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60",
        "correlation_id": "corr", "issued_at": 1700000000000,
        "deployment": "etl", "signature": "00ff7f",
        "body": {"DeployBody": {
            "backend": "process", "spec": "{\"cmd\":[\"true\"]}",
            "inputs": [{"namespace": "s3://b", "name": "in/\u00e9"}],
            "timeout_ms": 30000,
            "retry": {"max_attempts": 3, "backoff_multiplier": 1.5}}}},
    "Reply": {
        "command_id": "c1", "deployment": "etl",
        "produced_at": 1700000000001, "status": "SCHEDULED",
        "final": False, "attempt": 2, "exit_code": -7,
        "cancelled_runs": ["r1", "r2"],
        "next_fire_times": [1700000060000, -1, 2 ** 53 + 1],
        "detail": "{\"state\":\"ok\"}"},
}
py_samples = {
    "Command": {
        "command_id": "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f61",
        "correlation_id": None, "issued_at": 1, "expires_at": 2,
        "reply_to": "replies", "deployment": "d", "idempotency_key": "i",
        "key_id": None, "signature": None,
        "body": {"RunBody": {"params": {"a": "1", "\u00fc": "\u2603"},
                             "timeout_ms": None, "scheduled_for": 5,
                             "schedule_id": "s", "parent_run_id": None}}},
    "Reply": {
        "command_id": "c", "correlation_id": "x", "deployment": "d",
        "produced_at": 3, "status": "INVALID", "final": True,
        "reason": "bad spec", "run_id": None, "url": None, "worker": "w",
        "attempt": 0, "exit_code": None, "output_tail": None,
        "cancelled_runs": [], "next_fire_times": [], "detail": None},
}

for name in ("Command", "Reply"):
    schema, fp = schemas[name]
    # ---- (b) floq encodes, Python decodes
    try:
        data = run_tool("encode", name,
                        data=json.dumps(samples[name]).encode())
        full = json.loads(run_tool("decode", name, data=data))
    except RuntimeError as e:
        check(False, "%s: floq encode/decode: %s" % (name, e))
        continue
    check(data[:2] == b"\xc3\x01", "%s: floq wrote the C3 01 marker" % name)
    check(struct.unpack("<Q", data[2:10])[0] == fp,
          "%s: floq's header carries python's fingerprint" % name)
    try:
        got = FloqShapeReader(schema, schema).read(
            avro.io.BinaryDecoder(io.BytesIO(data[10:])))
        check(got == full, "%s: python decodes floq's bytes to the same "
              "values" % name)
    except Exception as e:  # noqa: BLE001 - report any python failure
        check(False, "%s: python cannot decode floq's bytes: %s" % (name, e))

    # ---- (c) Python encodes, floq decodes. The sample gets the defaults
    # of fields it leaves out (fields added later) from a floq round trip.
    try:
        want = json.loads(run_tool("decode", name, data=run_tool(
            "encode", name, data=json.dumps(py_samples[name]).encode())))
        check(all(want[k] == v for k, v in py_samples[name].items()),
              "%s: floq round trip keeps the python sample" % name)
        buf = io.BytesIO()
        buf.write(b"\xc3\x01" + struct.pack("<Q", fp))
        FloqShapeWriter(schema).write(want, avro.io.BinaryEncoder(buf))
        got = json.loads(run_tool("decode", name, data=buf.getvalue()))
        check(got == want, "%s: floq decodes python's bytes to the same "
              "values" % name)
    except RuntimeError as e:
        check(False, "%s: floq cannot decode python's bytes: %s" % (name, e))

print("test_interop: %s" % ("%d failed" % failures if failures else "ok"))
sys.exit(1 if failures else 0)
PYEOF
