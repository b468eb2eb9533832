# floq_avro_oracle.sh - sourced (bash) by the tests/unit scripts that check
# floq against python3-avro (test_interop.sh, test_codec_history.sh,
# test_signing.sh) before they run their Python: sets PY to Debian's
# /usr/bin/python3 (not whatever python3 is first on PATH, whose avro may
# be another or missing) and puts floq_avro_oracle.py, next to this file,
# on its path.

PY=/usr/bin/python3

# oracle_init NAME TOOL... - exits 1, saying why as NAME, unless every TOOL
# is built and $PY has the avro module; then exports PYTHONPATH.
oracle_init() {
    local name=$1 t
    shift
    for t in "$@"; do
        if [ ! -x "$t" ]; then
            echo "$name: $t not built"
            exit 1
        fi
    done
    if ! "$PY" -c 'import avro.schema, avro.io' 2>/dev/null; then
        echo "$name: $PY has no avro module (apt-get install python3-avro)"
        exit 1
    fi
    PYTHONPATH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    export PYTHONPATH PYTHONDONTWRITEBYTECODE=1
}
