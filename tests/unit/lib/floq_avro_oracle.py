"""floq_avro_oracle - the Python side of floq's cross-implementation tests.

floq's codec (schemas/codec.c) and signatures (schemas/sign.c) are checked
against a second Avro implementation, Debian's python3-avro run by
/usr/bin/python3. The scripts tests/unit/test_interop.sh (current schemas),
tests/unit/test_codec_history.sh (older versions in schemas/history/) and
tests/unit/test_signing.sh (command signatures) import this module for what
they share: the printed "ok   "/"FAIL " check lines and the summary line,
running floq's test tools, the CRC-64-AVRO fingerprint (python-avro has
none, so it is computed here from the specification), the Parsing
Canonical Form as the specification gives it, single-object framing (C3 01
and the little-endian fingerprint), and datum readers and writers for
floq's JSON shape (unions other than [null, X] tagged with their branch
name, bytes as hex). The scripts put tests/unit/lib on PYTHONPATH.

Why the logicalType fix: python-avro 1.11.1 deviates from the
specification in one place. A primitive with extra attributes,
{"type": "long", "logicalType": "timestamp-millis"}, keeps its object form
({"type":"long"}) in python's canonical form, where the specification's
[PRIMITIVES] and [STRIP] rules (and Java's SchemaNormalization, which the
fingerprints on the wire must match) give "long". The fingerprint then
differs from floq's and a worker would refuse the message as of an unknown
schema (docs/producing.md, "Pitfall: logical types"). spec_primitives()
applies the rule to python's output, and python_canonical() returns the
output before and after so that a check can say when the fix mattered.
parse() removes logicalType attributes before python parses a schema, so
python hands out raw longs instead of datetimes; neither the binary
encoding nor the canonical form changes.

tests/integration/0210-python-producer.sh keeps its own copy of part of
this on purpose: it runs the code docs/producing.md prints.
"""
import io
import json
import struct
import subprocess
import sys

import avro.io
import avro.schema

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes",
              "string"}
MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8   # marker, then the fingerprint

_failures = 0


# ---- checks and tools

def check(ok, what):
    """Print one "ok   what" or "FAIL what" line and count failures."""
    global _failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        _failures += 1


def finish(name):
    """Print "NAME: ok" or "NAME: N failed" and exit 0 or 1 accordingly."""
    print("%s: %s" % (name, "%d failed" % _failures if _failures else "ok"))
    sys.exit(1 if _failures else 0)


def run(*args, data=b""):
    """Run args with data on stdin: (exit code, stdout bytes, stderr)."""
    p = subprocess.run(list(args), input=data, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode()


def run_tool(tool, *args, data=b""):
    """stdout of tool args; RuntimeError with its stderr if it fails."""
    rc, out, err = run(tool, *args, data=data)
    if rc != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), err.strip()))
    return out


# ---- fingerprints and canonical forms

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
    """The specification's [PRIMITIVES] rule, which python-avro 1.11.1
    skips for primitives that carried extra attributes."""
    if isinstance(node, dict):
        if set(node) == {"type"} and node["type"] in PRIMITIVES:
            return node["type"]
        return {k: spec_primitives(v) for k, v in node.items()}
    if isinstance(node, list):
        return [spec_primitives(v) for v in node]
    return node


def python_canonical(text):
    """(python's canonical form of schema text, the same with the
    [PRIMITIVES] rule applied): the second is the specification's."""
    raw = avro.schema.parse(text).canonical_form
    fixed = json.dumps(spec_primitives(json.loads(raw)),
                       separators=(",", ":"))
    return raw, fixed


def strip_logical(node):
    """A parsed schema without its logicalType attributes."""
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items()
                if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def parse(text):
    """Schema text parsed by python-avro, logicalType attributes removed."""
    return avro.schema.parse(json.dumps(strip_logical(json.loads(text))))


# ---- single-object framing

def header(fp):
    """The single-object header of the schema with fingerprint fp."""
    return MARKER + struct.pack("<Q", fp)


def header_fingerprint(msg):
    """The fingerprint in msg's single-object header, None if it has none."""
    if len(msg) < HEADER_SIZE or msg[:len(MARKER)] != MARKER:
        return None
    return struct.unpack("<Q", msg[len(MARKER):HEADER_SIZE])[0]


def write_single_object(writer, fp, datum):
    """datum written by the avro.io.DatumWriter writer behind the header of
    fingerprint fp."""
    buf = io.BytesIO()
    buf.write(header(fp))
    writer.write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def read_single_object(reader, msg):
    """The datum the avro.io.DatumReader reader makes of msg's body (the
    header is skipped, not checked: see header_fingerprint())."""
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(msg[HEADER_SIZE:])))


# ---- floq's JSON shape

def branch_name(s):
    """The name floq tags a union value of branch schema s with."""
    return s.name if hasattr(s, "name") and s.type in (
        "record", "enum", "fixed", "error") else s.type


def nullable(u):
    """True for a union [null, X], whose values floq leaves untagged."""
    types = [s.type for s in u.schemas]
    return len(types) == 2 and "null" in types


def from_floq(s, v):
    """A value in floq's JSON shape as the plain Python value python-avro
    reads and writes for schema s."""
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


class FloqShapeReader(avro.io.DatumReader):
    """Reads values in floq's JSON shape."""

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
    """Writes values given in floq's JSON shape. With fill_defaults, record
    fields left out take their schema defaults, as floq's encoder does;
    without, a datum must give every field."""

    def __init__(self, writers_schema, fill_defaults=False):
        super().__init__(writers_schema)
        self.fill_defaults = fill_defaults

    def write(self, datum, encoder):
        self.write_data(self.writers_schema, datum, encoder)

    def write_data(self, ws, datum, encoder):
        if (self.fill_defaults and ws.type in ("record", "error")
                and isinstance(datum, dict)):
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
