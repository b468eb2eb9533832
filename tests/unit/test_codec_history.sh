#!/bin/bash
# test_codec_history.sh - the older schema versions in schemas/history/
# against another Avro implementation, Debian's python3-avro
# (/usr/bin/python3, not whatever python3 is first on PATH), as
# test_interop.sh does for the current ones. For every older version in
# schemas/history/MANIFEST, checks, each printed:
#  (a) Python's Parsing Canonical Form of the file (with the [PRIMITIVES]
#      rule python-avro 1.11.1 skips applied, see test_interop.sh) and its
#      CRC-64-AVRO, computed here from the spec, equal the manifest's
#      fingerprint;
#  (b) each datum of tests/unit/data/codec/history/TYPE.vN.json encoded by
#      Python with that version (single-object header built here) is
#      byte for byte what floq encodes with it (floq_avro_tool -r);
#  (c) floq's current codec (floq_avro_tool decode, history built in)
#      decodes Python's bytes to the datum file's expected values, and to
#      exactly what python-avro's own resolving reader (writer: the old
#      version, reader: the current schema) makes of them, defaults filled.
# logicalType attributes are removed before Python parses a schema (raw
# longs instead of datetimes; neither encoding nor canonical form change).
# Run by tests/unit/run.sh with B set to the build folder.
set -u
B=${B:-build}
TOOL=$B/tools/floq_avro_tool
PY=/usr/bin/python3

if [ ! -x "$TOOL" ]; then
    echo "test_codec_history: $TOOL not built"
    exit 1
fi
if ! "$PY" -c 'import avro.schema, avro.io' 2>/dev/null; then
    echo "test_codec_history: $PY has no avro module" \
        "(apt-get install python3-avro)"
    exit 1
fi

exec "$PY" - "$TOOL" schemas tests/unit/data/codec/history <<'PYEOF'
import io, json, struct, subprocess, sys

import avro.io
import avro.schema

tool, schema_dir, data_dir = sys.argv[1:4]
failures = 0
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes",
              "string"}


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def crc64_avro(data):
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
    if isinstance(node, dict):
        if set(node) == {"type"} and node["type"] in PRIMITIVES:
            return node["type"]
        return {k: spec_primitives(v) for k, v in node.items()}
    if isinstance(node, list):
        return [spec_primitives(v) for v in node]
    return node


def strip_logical(node):
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items()
                if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def parse(text):
    return avro.schema.parse(json.dumps(strip_logical(json.loads(text))))


def branch_name(s):
    return s.name if s.type in ("record", "enum", "fixed", "error") else s.type


def nullable(u):
    types = [s.type for s in u.schemas]
    return len(types) == 2 and "null" in types


def from_floq(s, v):
    """A value in floq's JSON shape (tagged unions, hex bytes) as the plain
    Python value python-avro reads and writes for schema s."""
    t = s.type
    if t == "union":
        if v is None:
            return None
        if nullable(s):
            b = [x for x in s.schemas if x.type != "null"][0]
            return from_floq(b, v)
        (name, inner), = v.items()
        b = [x for x in s.schemas if branch_name(x) == name][0]
        return from_floq(b, inner)
    if t in ("record", "error"):
        return {f.name: from_floq(f.type, v[f.name]) for f in s.fields
                if f.name in v}
    if t == "array":
        return [from_floq(s.items, x) for x in v]
    if t == "map":
        return {k: from_floq(s.values, x) for k, x in v.items()}
    if t in ("bytes", "fixed"):
        return bytes.fromhex(v)
    if t in ("float", "double"):
        return float(v)
    return v


def default_floq(s, v):
    """A schema default (Avro's JSON encoding of values: a union's is its
    first branch's, untagged; bytes as code points) in floq's shape."""
    if s.type == "union" and not nullable(s):
        return {branch_name(s.schemas[0]): default_floq(s.schemas[0], v)}
    if s.type in ("bytes", "fixed"):
        return v.encode("latin-1").hex()
    return v


class FloqShapeWriter(avro.io.DatumWriter):
    """Writes values given in floq's JSON shape; fields left out take their
    schema defaults, as floq's encoder does."""

    def write(self, datum, encoder):
        self.write_data(self.writers_schema, datum, encoder)

    def write_data(self, ws, datum, encoder):
        if ws.type in ("record", "error") and isinstance(datum, dict):
            datum = dict(datum)
            for f in ws.fields:
                if f.name not in datum and f.has_default:
                    datum[f.name] = default_floq(f.type, f.default)
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


def subset(want, got):
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            k in got and subset(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(got, list) and len(got) == len(want)
                and all(subset(w, g) for w, g in zip(want, got)))
    return want == got


def run_tool(*args, data=b""):
    p = subprocess.run([tool, *args], input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args),
                                       p.stderr.decode().strip()))
    return p.stdout


versions = 0
for line in open(schema_dir + "/history/MANIFEST"):
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        continue
    typ, ver, fp_hex, rel = fields[:4]
    if not rel.startswith("history/"):
        continue
    versions += 1
    name = "%s %s" % (typ, ver)
    path = "%s/%s" % (schema_dir, rel)
    text = open(path).read()
    fp = int(fp_hex, 16)

    # ---- (a) fingerprint
    raw = avro.schema.parse(text).canonical_form
    canon = json.dumps(spec_primitives(json.loads(raw)),
                       separators=(",", ":"))
    check(crc64_avro(canon.encode()) == fp,
          "%s: python's fingerprint %016x is the manifest's %016x"
          % (name, crc64_avro(canon.encode()), fp))

    old = parse(text)
    cur = parse(open("%s/%s.avsc" % (schema_dir, typ)).read())
    cases = json.load(open("%s/%s.%s.json" % (data_dir, typ, ver)))["cases"]
    for i, case in enumerate(cases):
        what = "%s case %d" % (name, i)
        # ---- (b) python encodes with the old version, as floq does
        buf = io.BytesIO()
        buf.write(b"\xc3\x01" + struct.pack("<Q", fp))
        try:
            FloqShapeWriter(old).write(case["datum"],
                                       avro.io.BinaryEncoder(buf))
        except Exception as e:  # noqa: BLE001 - report any python failure
            check(False, "%s: python cannot encode the datum: %s" % (what, e))
            continue
        data = buf.getvalue()
        try:
            ours = run_tool("-r", path, "encode", typ,
                            data=json.dumps(case["datum"]).encode())
            check(ours == data, "%s: floq's %s encoding equals python's "
                  "(%d bytes)" % (what, ver, len(data)))
        except RuntimeError as e:
            check(False, "%s: floq cannot encode with %s: %s"
                  % (what, ver, e))

        # ---- (c) the current floq reads python's bytes
        try:
            got = json.loads(run_tool("decode", typ, data=data))
        except RuntimeError as e:
            check(False, "%s: floq cannot decode python's bytes: %s"
                  % (what, e))
            continue
        check(subset(case["expect"], got),
              "%s: floq decodes python's bytes as expected" % what)
        resolved = avro.io.DatumReader(old, cur).read(
            avro.io.BinaryDecoder(io.BytesIO(data[10:])))
        check(from_floq(cur, got) == resolved,
              "%s: floq resolves to the current schema as python-avro does"
              % what)

check(versions > 0, "MANIFEST lists older versions (%d)" % versions)
print("test_codec_history: %s" % ("%d failed" % failures if failures
                                  else "ok"))
sys.exit(1 if failures else 0)
PYEOF
