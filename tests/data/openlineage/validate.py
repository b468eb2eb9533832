#!/usr/bin/python3
"""validate.py - validates OpenLineage events against the 2-0-2 schemas
kept beside this file (spec/OpenLineage.json and spec/facets/*.json), with
format checking on (uuid, date-time, uri) and every $ref resolved to the
local copies (no network). Each facet is also validated against its own
facet schema, found by its _schemaURL; a facet whose schema is not here is
an error, so floq never emits a facet nobody checked.

    /usr/bin/python3 tests/data/openlineage/validate.py FILE...

Each FILE holds one JSON event or one event per line (JSONL, as
`floq-lineage tail --json` prints). Prints each error and exits 1 if any
event is invalid. Also importable: validate(event) returns the list of
errors. Uses Debian's python3-jsonschema (4.x, RefResolver API).
"""
import datetime
import glob
import json
import os
import re
import sys

import jsonschema

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spec")
MAIN_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

# Every schema by its $id, so $refs resolve to the local copies only.
store = {}
for _path in [os.path.join(SPEC, "OpenLineage.json")] + sorted(
        glob.glob(os.path.join(SPEC, "facets", "*.json"))):
    with open(_path) as _f:
        _s = json.load(_f)
    store[_s["$id"]] = _s
MAIN = store[MAIN_ID]


def _offline(uri):
    raise jsonschema.RefResolutionError("no network: unknown schema " + uri)


resolver = jsonschema.RefResolver.from_schema(
    MAIN, store=store, handlers={"http": _offline, "https": _offline})

# Format checking on. Debian's jsonschema checks uuid itself; date-time
# and uri need optional packages it may lack, so strict RFC 3339 / RFC 3986
# checkers are registered here rather than silently skipped.
format_checker = jsonschema.FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?"
                      r"([Zz]|[+-]\d{2}:\d{2})$")


@format_checker.checks("date-time", raises=ValueError)
def _is_datetime(v):
    if not isinstance(v, str):
        return True
    if not _RFC3339.match(v):
        raise ValueError("not RFC 3339: %r" % v)
    datetime.datetime.fromisoformat(
        re.sub(r"[Zz]$", "+00:00", v).replace("t", "T"))
    return True


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*$")


@format_checker.checks("uri")
def _is_uri(v):
    return not isinstance(v, str) or bool(_URI.match(v))


for _f in ("uuid", "date-time", "uri"):
    assert _f in format_checker.checkers, "no %s format checker" % _f

RUN_EVENT = {"$ref": MAIN_ID + "#/$defs/RunEvent"}


def errors(instance, schema):
    v = jsonschema.Draft202012Validator(schema, resolver=resolver,
                                        format_checker=format_checker)
    return [("/".join(map(str, e.absolute_path)) or "(root)") + ": " +
            e.message for e in v.iter_errors(instance)]


def facet_errors(where, facets):
    errs = []
    if facets is None:
        return errs
    if not isinstance(facets, dict):
        return ["%s: not an object" % where]
    for name, facet in facets.items():
        url = facet.get("_schemaURL", "") if isinstance(facet, dict) else ""
        base = url.split("#")[0]
        if base not in store:
            errs.append("%s.%s: no local schema for _schemaURL %r"
                        % (where, name, url))
            continue
        # the facet against its definition, and {name: facet} against the
        # facet file itself (which binds the facet to its key)
        errs += ["%s.%s: %s" % (where, name, e)
                 for e in errors(facet, {"$ref": url})]
        errs += ["%s.%s: %s" % (where, name, e)
                 for e in errors({name: facet}, store[base])]
        if name not in store[base].get("properties", {}):
            errs.append("%s.%s: facet key not defined by %s"
                        % (where, name, base))
    return errs


def validate(ev):
    """All schema errors of one RunEvent (empty when valid)."""
    if not isinstance(ev, dict):
        return ["(root): not an object"]
    errs = errors(ev, MAIN) + errors(ev, RUN_EVENT)
    run = ev.get("run") if isinstance(ev.get("run"), dict) else {}
    job = ev.get("job") if isinstance(ev.get("job"), dict) else {}
    errs += facet_errors("run.facets", run.get("facets"))
    errs += facet_errors("job.facets", job.get("facets"))
    for side in ("inputs", "outputs"):
        for i, d in enumerate(ev.get(side) or []):
            if isinstance(d, dict):
                errs += facet_errors("%s[%d].facets" % (side, i),
                                     d.get("facets"))
                for kind in ("inputFacets", "outputFacets"):
                    errs += facet_errors("%s[%d].%s" % (side, i, kind),
                                         d.get(kind))
    return errs


def load_events(path):
    with open(path) as f:
        text = f.read()
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(line) for line in text.splitlines()
                if line.strip()]


def main(argv):
    bad = total = 0
    for path in argv:
        for i, ev in enumerate(load_events(path)):
            total += 1
            errs = validate(ev)
            if errs:
                bad += 1
                print("%s[%d]: invalid" % (path, i))
                for e in errs:
                    print("    " + e)
    print("validate: %d event(s), %d invalid" % (total, bad))
    return 1 if bad or not total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
