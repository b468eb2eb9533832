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
# python-avro 1.11.1 deviates from the spec in one place (a primitive with
# extra attributes keeps its object form in its canonical form); the check
# applies the spec's [PRIMITIVES] rule to Python's output and says so. For
# (b) and (c) logicalType attributes are removed before Python parses a
# schema. The Python shared with test_codec_history.sh and test_signing.sh,
# and why, is in tests/unit/lib/floq_avro_oracle.py. Run by
# tests/unit/run.sh with B set to the build folder.
set -u
B=${B:-build}
TOOL=$B/tools/floq_avro_tool
. "$(dirname "$0")/lib/floq_avro_oracle.sh"
oracle_init test_interop "$TOOL"

exec "$PY" - "$TOOL" schemas <<'PYEOF'
import glob, json, sys

from floq_avro_oracle import (MARKER, FloqShapeReader, FloqShapeWriter,
                              check, crc64_avro, finish, header_fingerprint,
                              parse, python_canonical, read_single_object,
                              run_tool, strip_logical, write_single_object)

tool, schema_dir = sys.argv[1], sys.argv[2]


# ---- (a) canonical forms and fingerprints
schemas = {}
for path in sorted(glob.glob(schema_dir + "/*.avsc")):
    name = path.rsplit("/", 1)[1][:-5]
    text = open(path).read()
    out = run_tool(tool, "fingerprint", path).decode().split("\n")
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
    schemas[name] = (parse(text), fp)

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
        data = run_tool(tool, "encode", name,
                        data=json.dumps(samples[name]).encode())
        full = json.loads(run_tool(tool, "decode", name, data=data))
    except RuntimeError as e:
        check(False, "%s: floq encode/decode: %s" % (name, e))
        continue
    check(data[:len(MARKER)] == MARKER, "%s: floq wrote the C3 01 marker"
          % name)
    check(header_fingerprint(data) == fp,
          "%s: floq's header carries python's fingerprint" % name)
    try:
        got = read_single_object(FloqShapeReader(schema, schema), data)
        check(got == full, "%s: python decodes floq's bytes to the same "
              "values" % name)
    except Exception as e:  # noqa: BLE001 - report any python failure
        check(False, "%s: python cannot decode floq's bytes: %s" % (name, e))

    # ---- (c) Python encodes, floq decodes. The sample gets the defaults
    # of fields it leaves out (fields added later) from a floq round trip.
    try:
        want = json.loads(run_tool(tool, "decode", name, data=run_tool(
            tool, "encode", name,
            data=json.dumps(py_samples[name]).encode())))
        check(all(want[k] == v for k, v in py_samples[name].items()),
              "%s: floq round trip keeps the python sample" % name)
        data = write_single_object(FloqShapeWriter(schema), fp, want)
        got = json.loads(run_tool(tool, "decode", name, data=data))
        check(got == want, "%s: floq decodes python's bytes to the same "
              "values" % name)
    except RuntimeError as e:
        check(False, "%s: floq cannot decode python's bytes: %s" % (name, e))

finish("test_interop")
PYEOF
