#!/bin/bash
# test_codec_history.sh - the older schema versions in schemas/history/
# against another Avro implementation, Debian's python3-avro
# (/usr/bin/python3, not whatever python3 is first on PATH), as
# test_interop.sh does for the current ones. For every older version in
# schemas/history/MANIFEST, checks, each printed:
#  (a) Python's Parsing Canonical Form of the file (with the [PRIMITIVES]
#      rule python-avro 1.11.1 skips applied, see floq_avro_oracle.py) and its
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
# The Python shared with test_interop.sh and test_signing.sh is in
# tests/unit/lib/floq_avro_oracle.py.
# Run by tests/unit/run.sh with B set to the build folder.
set -u
B=${B:-build}
TOOL=$B/tools/floq_avro_tool
. "$(dirname "$0")/lib/floq_avro_oracle.sh"
oracle_init test_codec_history "$TOOL"

exec "$PY" - "$TOOL" schemas tests/unit/data/codec/history <<'PYEOF'
import json, sys

import avro.io

from floq_avro_oracle import (FloqShapeWriter, check, crc64_avro, finish,
                              from_floq, parse, python_canonical,
                              read_single_object, run_tool,
                              write_single_object)

tool, schema_dir, data_dir = sys.argv[1:4]


def subset(want, got):
    """want is in got: objects by want's keys, lists element by element."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            k in got and subset(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(got, list) and len(got) == len(want)
                and all(subset(w, g) for w, g in zip(want, got)))
    return want == got


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
    canon = python_canonical(text)[1]
    check(crc64_avro(canon.encode()) == fp,
          "%s: python's fingerprint %016x is the manifest's %016x"
          % (name, crc64_avro(canon.encode()), fp))

    old = parse(text)
    cur = parse(open("%s/%s.avsc" % (schema_dir, typ)).read())
    cases = json.load(open("%s/%s.%s.json" % (data_dir, typ, ver)))["cases"]
    for i, case in enumerate(cases):
        what = "%s case %d" % (name, i)
        # ---- (b) python encodes with the old version, as floq does
        try:
            data = write_single_object(
                FloqShapeWriter(old, fill_defaults=True), fp, case["datum"])
        except Exception as e:  # noqa: BLE001 - report any python failure
            check(False, "%s: python cannot encode the datum: %s" % (what, e))
            continue
        try:
            ours = run_tool(tool, "-r", path, "encode", typ,
                            data=json.dumps(case["datum"]).encode())
            check(ours == data, "%s: floq's %s encoding equals python's "
                  "(%d bytes)" % (what, ver, len(data)))
        except RuntimeError as e:
            check(False, "%s: floq cannot encode with %s: %s"
                  % (what, ver, e))

        # ---- (c) the current floq reads python's bytes
        try:
            got = json.loads(run_tool(tool, "decode", typ, data=data))
        except RuntimeError as e:
            check(False, "%s: floq cannot decode python's bytes: %s"
                  % (what, e))
            continue
        check(subset(case["expect"], got),
              "%s: floq decodes python's bytes as expected" % what)
        resolved = read_single_object(avro.io.DatumReader(old, cur), data)
        check(from_floq(cur, got) == resolved,
              "%s: floq resolves to the current schema as python-avro does"
              % what)

check(versions > 0, "MANIFEST lists older versions (%d)" % versions)
finish("test_codec_history")
PYEOF
