#!/usr/bin/python3
"""secret_scan.py - look for planted secrets in test output (0231).

  secret_scan.py SECRETS_FILE FILE...

SECRETS_FILE has one secret per line, `NAME KIND VALUE`: KIND `text` (a
password or token, looked for as given) or `hexkey` (an HMAC key written in
hex, looked for as the hex in either case and as the raw bytes). Every
secret is also looked for base64- and base64url-encoded (with and without
padding, at each of the three alignments it can have inside a longer
encoded string), hex-encoded (either case), and as its first 16 characters
(a truncated copy). FILE may be binary (topic dumps of Avro records). Each
hit prints `FILE: NAME (FORM)`; exit 1 if there is any, 0 if none, 2 on
bad usage.
"""
import base64
import binascii
import sys


def b64_forms(raw):
    """Substrings every base64 encoding of a string containing raw shows,
    whatever the bytes before it (alignment 0, 1 or 2)."""
    out = []
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw)
        # drop the characters the padding bytes influence, and the tail
        # that depends on what follows
        start = {0: 0, 1: 2, 2: 3}[pad]
        core = enc[start:len(enc) - 4]
        if len(core) >= 12:
            out.append(core)
            out.append(core.replace(b"+", b"-").replace(b"/", b"_"))
    out.append(base64.b64encode(raw))
    out.append(base64.urlsafe_b64encode(raw).rstrip(b"="))
    return out


def needles(kind, value):
    """(form, bytes, case_insensitive) to look for."""
    v = value.encode()
    forms = [("as given", v, kind == "hexkey")]
    raw = v
    if kind == "hexkey":
        raw = binascii.unhexlify(value)
        forms.append(("raw bytes", raw, False))
    else:
        forms.append(("hex", binascii.hexlify(v), True))
    for i, f in enumerate(b64_forms(raw)):
        forms.append(("base64 #%d" % i, f, False))
    if kind == "hexkey":
        for i, f in enumerate(b64_forms(v)):
            forms.append(("base64 of the hex #%d" % i, f, False))
    if len(v) >= 24:
        forms.append(("first 16 chars", v[:16], kind == "hexkey"))
    return forms


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    secrets = []
    with open(argv[1]) as fp:
        for line in fp:
            if not line.strip() or line.startswith("#"):
                continue
            name, kind, value = line.rstrip("\n").split(" ", 2)
            if kind not in ("text", "hexkey"):
                print("bad kind %r" % kind, file=sys.stderr)
                return 2
            secrets.append((name, needles(kind, value)))
    hits = 0
    for path in argv[2:]:
        try:
            with open(path, "rb") as fp:
                data = fp.read()
        except OSError as e:
            print("%s: cannot read: %s" % (path, e), file=sys.stderr)
            return 2
        low = data.lower()
        for name, forms in secrets:
            for form, needle, nocase in forms:
                hay = low if nocase else data
                if (needle.lower() if nocase else needle) in hay:
                    print("%s: %s (%s)" % (path, name, form))
                    hits += 1
                    break
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
