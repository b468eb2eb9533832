#!/bin/bash
# test_lineage_svg.sh - `floq-lineage graph --format svg` and `--svg FILE`
# on a known event file (tests/unit/data/lineage-graph.jsonl: three jobs,
# three datasets, a failed, a completed and a running last run, events out
# of order, a line that is no RunEvent, names needing XML and DOT escaping).
# Checks, each printed:
#  - without Graphviz's dot on PATH (always run, with PATH emptied): exit
#    status 1, an error naming dot and the graphviz package, no output file
#    and no temporary file left;
#  - a dot that fails (a stand-in script): its exit status is reported and
#    no output file is left;
#  - with the real dot (skipped, saying so, only when dot is absent): the
#    SVG on stdout and in --output FILE is well-formed XML (parsed by
#    /usr/bin/python3's xml.etree) with an <svg> root, one node per job and
#    dataset titled by its id, the expected labels (names, namespaces,
#    "FAIL, 2 runs", "COMPLETE, 1 run", escaped names intact), the five
#    edges with their labels, and the state colours; --svg FILE writes the
#    same SVG while stdout stays DOT.
# Run by tests/unit/run.sh with B set to the build folder.
set -u
B=${B:-build}
BIN=$B/bin/floq-lineage
EVENTS=tests/unit/data/lineage-graph.jsonl
PY=/usr/bin/python3
failures=0

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"
    else
        echo "FAIL $what"
        failures=$((failures + 1))
    fi
}

if [ ! -x "$BIN" ]; then
    echo "test_lineage_svg: $BIN not built"
    exit 1
fi
T=$(mktemp -d)
trap 'rm -rf -- "$T"' EXIT INT TERM
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# fails NAME PATH_VALUE OUTFILE ERROR_TEXT ARGS...: floq-lineage graph ARGS
# run with PATH=PATH_VALUE exits 1, says ERROR_TEXT (fixed string) on
# stderr and leaves neither OUTFILE nor OUTFILE.tmp; stdout goes to
# $T/NAME.out
fails() {
    local name=$1 path=$2 file=$3 text=$4 rc
    shift 4
    PATH=$path "$BIN" graph --file "$EVENTS" "$@" >"$T/$name.out" \
        2>"$T/$name.err"
    rc=$?
    check "$name: exit status 1 (got $rc)" test "$rc" -eq 1
    check "$name: the error says: $text" grep -qF "$text" "$T/$name.err"
    check "$name: no output file and no temporary file" \
        test ! -e "$file" -a ! -e "$file.tmp"
}

# ---- no dot on PATH: a clear error, nothing written
fails no-dot /nonexistent "$T/none.svg" \
    "cannot write '$T/none.svg': Graphviz 'dot' is not installed (package graphviz)" \
    --format svg --output "$T/none.svg"
fails no-dot-svg-file /nonexistent "$T/none2.svg" \
    "Graphviz 'dot' is not installed" --svg "$T/none2.svg"
check "no-dot-svg-file: DOT still on stdout" \
    grep -q '^digraph lineage {' "$T/no-dot-svg-file.out"

# ---- a dot that fails
mkdir -p "$T/fakebin"
printf '#!/bin/sh\ncat >/dev/null\necho "fake dot: syntax error" >&2\nexit 3\n' \
    >"$T/fakebin/dot"
chmod +x "$T/fakebin/dot"
fails failing-dot "$T/fakebin:/usr/bin:/bin" "$T/bad.svg" \
    "'$T/fakebin/dot' failed rendering '$T/bad.svg' (exit status 3)" \
    --format svg --output "$T/bad.svg"

fails unknown-format "$PATH" "$T/x.png" \
    "unknown format 'png': expected dot, json or svg" \
    --format png --output "$T/x.png"

# ---- the real dot
if ! command -v dot >/dev/null 2>&1; then
    echo "skip: Graphviz 'dot' is not installed (apt-get install graphviz," \
        "or ops/install-deps.sh): SVG rendering not checked"
    echo "test_lineage_svg: $([ $failures -eq 0 ] && echo ok ||
        echo "$failures failed")"
    [ $failures -eq 0 ]
    exit
fi
if ! "$PY" -c 'import xml.etree.ElementTree' 2>/dev/null; then
    echo "test_lineage_svg: $PY cannot import xml.etree"
    exit 1
fi

"$BIN" graph --file "$EVENTS" --format svg >"$T/stdout.svg" 2>"$T/svg.err"
check "--format svg to stdout: exit status 0" test $? -eq 0
"$BIN" graph --file "$EVENTS" --format svg --output "$T/out.svg" \
    >"$T/out.stdout" 2>>"$T/svg.err"
check "--format svg --output FILE: exit status 0" test $? -eq 0
check "--output FILE: nothing on stdout" test ! -s "$T/out.stdout"
check "--output FILE: no temporary file left" test ! -e "$T/out.svg.tmp"
check "--output FILE holds what stdout got" cmp -s "$T/stdout.svg" "$T/out.svg"
"$BIN" graph --file "$EVENTS" --svg "$T/side.svg" >"$T/side.dot" \
    2>>"$T/svg.err"
check "--svg FILE: exit status 0" test $? -eq 0
check "--svg FILE: stdout is DOT" grep -q '^digraph lineage {' "$T/side.dot"
check "--svg FILE: the same SVG" cmp -s "$T/stdout.svg" "$T/side.svg"
cat "$T/svg.err"

"$PY" - "$T/out.svg" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


try:
    root = ET.parse(sys.argv[1]).getroot()
except ET.ParseError as e:
    print("FAIL the SVG is well-formed XML: %s" % e)
    sys.exit(1)
check(True, "the SVG is well-formed XML")
check(root.tag == NS + "svg", "the root element is <svg> (%s)" % root.tag)


def groups(cls):
    """title -> (texts, fills, strokes) of each <g class=cls>."""
    out = {}
    for g in root.iter(NS + "g"):
        if g.get("class") != cls:
            continue
        title = g.findtext(NS + "title")
        texts = [t.text for t in g.iter(NS + "text")]
        fills = {e.get("fill") for e in g.iter() if e.get("fill")}
        strokes = {e.get("stroke") for e in g.iter() if e.get("stroke")}
        out[title] = (texts, fills, strokes)
    return out


nodes = groups("node")
edges = groups("edge")
# The id of the job with the hostile name, as Graphviz prints it in a
# <title>, depends on its version's handling of escapes in ids; it is
# found by its prefix, its labels are checked exactly.
HOSTILE = "job:hostile"
for title in list(nodes):
    if title.startswith('job:q"--x/caf\u00e9'):
        nodes[HOSTILE] = nodes.pop(title)
for title in list(edges):
    if title.startswith('dataset:s3/staging->job:q"--x/caf\u00e9'):
        edges["dataset:s3/staging->" + HOSTILE] = edges.pop(title)
want_nodes = {
    "dataset:dw/mart <q&a>": ["mart <q&a>", "dw"],
    "dataset:pg/orders": ["orders", "pg"],
    "dataset:s3/staging": ["staging", "s3"],
    "job:etl/extract": ["extract", "etl", "FAIL, 2 runs"],
    "job:etl/load": ["load", "etl", "COMPLETE, 1 run"],
    HOSTILE: ["caf\u00e9", "back\\slash", 'q"--x', "START, 1 run"],
}
check(set(nodes) == set(want_nodes),
      "nodes are the 3 datasets and 3 jobs (got %s)" % sorted(nodes))
for nid, labels in want_nodes.items():
    got = nodes.get(nid, ([], set(), set()))[0]
    check(got == labels, "node %r labelled %r (got %r)" % (nid, labels, got))
# Graphviz writes a colour by name or as hex, depending on the colour
RED, GREY = {"red3", "#cd0000"}, {"gray30", "#4d4d4d"}
colours = {"job:etl/extract": {"salmon", "#fa8072"},
           "job:etl/load": {"palegreen", "#98fb98"},
           HOSTILE: {"lightblue", "#add8e6"}}
for nid, colour in colours.items():
    check(colour & nodes.get(nid, ([], set(), set()))[1],
          "node %r filled %s" % (nid, min(colour)))
want_edges = {
    "dataset:pg/orders->job:etl/extract": ("FAIL", RED),
    "job:etl/extract->dataset:s3/staging": ("FAIL", RED),
    "dataset:s3/staging->job:etl/load": ("COMPLETE", GREY),
    "job:etl/load->dataset:dw/mart <q&a>": ("COMPLETE", GREY),
    "dataset:s3/staging->" + HOSTILE: ("START", GREY),
}
check(set(edges) == set(want_edges),
      "edges are the 5 expected (got %s)" % sorted(edges))
for eid, (label, colour) in want_edges.items():
    texts, _, strokes = edges.get(eid, ([], set(), set()))
    check(texts == [label] and bool(colour & strokes),
          "edge %r labelled %s, drawn %s (got %r, %r)"
          % (eid, label, min(colour), texts, sorted(strokes)))
sys.exit(1 if failures else 0)
PYEOF
check "the SVG's content (lines above)" test $? -eq 0

echo "test_lineage_svg: $([ $failures -eq 0 ] && echo ok ||
    echo "$failures failed")"
[ $failures -eq 0 ]
