#!/bin/bash
# test_signing.sh - command signatures against another implementation:
# Python (Debian's python3-avro at /usr/bin/python3, plus hmac/hashlib)
# signs commands by the rule docs/producing.md documents and floq verifies
# them; floq signs and Python verifies by the same rule (the signature span
# found by walking the top-level fields, null branch spliced in). Checks:
#  (a) Python-signed commands verify in floq (key A, and key B: rotation);
#  (b) a Python command signed with a wrong secret, and one with a flipped
#      byte, are refused by floq;
#  (c) floq-signed commands verify in Python, a flipped signature does not;
#  (d) both produce the same bytes for the same command and key.
# The Python shared with test_interop.sh and test_codec_history.sh is in
# tests/unit/lib/floq_avro_oracle.py. Run by tests/unit/run.sh with B set
# to the build folder.
set -u
B=${B:-build}
SIGN=$B/tools/floq_sign_tool
AVRO=$B/tools/floq_avro_tool
. "$(dirname "$0")/lib/floq_avro_oracle.sh"
oracle_init test_signing "$SIGN" "$AVRO"

dir=$(mktemp -d /tmp/floq-test-signing.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
umask 077
cat >"$dir/keys" <<KEYS
# test keys: A is the old key, B the new one
A=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
B=b0b1b2b3b4b5b6b7b8b9babbbcbdbebf
KEYS

"$PY" - "$SIGN" "$AVRO" schemas/Command.avsc "$dir" <<'PYEOF'
import hashlib, hmac, io, json, sys

import avro.io

from floq_avro_oracle import (HEADER_SIZE, check, finish, header_fingerprint,
                              parse, run, write_single_object)

sign_tool, avro_tool, avsc, tmp = sys.argv[1:5]
KEYS = {"A": bytes.fromhex("000102030405060708090a0b0c0d0e0f"
                           "101112131415161718191a1b1c1d1e1f"),
        "B": bytes.fromhex("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf")}
schema = parse(open(avsc).read())
# the fingerprint comes from floq (test_interop.sh checks it equals
# Python's CRC-64-AVRO of the canonical form)
fp = int(run(avro_tool, "fingerprint", avsc)[1].decode().split("\n")[1], 16)


# ---- the rule, as docs/producing.md gives it
def encode(cmd):
    return write_single_object(avro.io.DatumWriter(schema), fp, cmd)


def sign(cmd, key_id, secret):
    cmd = dict(cmd, key_id=key_id, signature=None)
    m0 = encode(cmd)                       # signature null, key_id set
    cmd["signature"] = hmac.new(secret, m0, hashlib.sha256).digest()
    return encode(cmd)


def verify(msg, keys):
    """key id if msg carries a valid signature, else None."""
    if header_fingerprint(msg) != fp:
        return None
    dec = avro.io.BinaryDecoder(io.BytesIO(msg[HEADER_SIZE:]))
    reader = avro.io.DatumReader(schema)
    spans, values = {}, {}
    for f in schema.fields:                # top-level fields in order
        start = HEADER_SIZE + dec.reader.tell()
        values[f.name] = reader.read_data(f.type, f.type, dec)
        spans[f.name] = (start, HEADER_SIZE + dec.reader.tell())
    key_id, sig = values["key_id"], values["signature"]
    if sig is None or key_id not in keys:
        return None
    s, e = spans["signature"]
    null_index = b"\x00"                   # branch 0 ("null"), zigzag 0
    m0 = msg[:s] + null_index + msg[e:]
    want = hmac.new(keys[key_id], m0, hashlib.sha256).digest()
    return key_id if hmac.compare_digest(want, sig) else None


cmd = {"command_id": "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60",
       "correlation_id": "corr", "issued_at": 1700000000000,
       "expires_at": None, "reply_to": None, "deployment": "etl",
       "idempotency_key": None, "key_id": None, "signature": None,
       "body": {"params": {"who": "w\u00f6rld"}, "timeout_ms": 5000,
                "scheduled_for": None, "schedule_id": None,
                "parent_run_id": None}}
keys_file = tmp + "/keys"

# (a) Python signs, floq verifies
for kid in ("A", "B"):
    msg = sign(cmd, kid, KEYS[kid])
    rc, out, err = run(sign_tool, "verify", keys_file, "-r", data=msg)
    check(rc == 0 and out == b"VALID\n",
          "python-signed (key %s) verifies in floq: %s%s"
          % (kid, out.decode().strip(), err.strip()))

# (b) forgeries
msg = sign(cmd, "A", b"not the secret of A, 32 bytes lng")
rc, out, err = run(sign_tool, "verify", keys_file, data=msg)
check(rc == 1 and "does not match" in err,
      "wrong secret refused by floq: " + err.strip())
msg = bytearray(sign(cmd, "B", KEYS["B"]))
msg[msg.index(b"etl")] ^= 0x20             # "etl" -> "Etl"
rc, out, err = run(sign_tool, "verify", keys_file, data=bytes(msg))
check(rc == 1 and "does not match" in err,
      "flipped byte refused by floq: " + err.strip())

# (c) floq signs, Python verifies
floq_json = dict(cmd, body={"RunBody": cmd["body"]})
del floq_json["key_id"], floq_json["signature"]
for kid in ("A", "B"):
    rc, out, err = run(sign_tool, "sign", keys_file, kid,
                       data=json.dumps(floq_json).encode())
    check(rc == 0 and verify(out, KEYS) == kid,
          "floq-signed (key %s) verifies in python %s" % (kid, err.strip()))
    bad = bytearray(out)
    bad[-20] ^= 1
    check(verify(bytes(bad), KEYS) is None,
          "flipped floq signature refused by python")
    # (d) the same bytes both ways
    check(out == sign(cmd, kid, KEYS[kid]),
          "floq and python sign to the same bytes (key %s)" % kid)

finish("test_signing")
PYEOF
