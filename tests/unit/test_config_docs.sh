#!/bin/bash
# test_config_docs.sh - docs/configuration.md's property table says what the
# programs do: every property `floq-worker --help` lists (generated from the
# one config table in common/config.c) has a row with the same default, and
# every row names a property that exists. Fails on drift either way.
B=${B:-build}
doc=docs/configuration.md
failures=0
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}

help=$("$B/bin/floq-worker" --help 2>&1 | awk '/^Properties:/{f=1;next} f && NF == 0 {exit} f && $1 != "property" {print $1 "\t" $3}')
check "floq-worker --help lists properties" test -n "$help"

# | `name` | type | default | env | description |
rows=$(grep -E '^\| `[a-z]' "$doc" |
    awk -F'|' '{n=$2; d=$4; gsub(/[ `]/, "", n); gsub(/^ +| +$/, "", d); gsub(/`/, "", d); print n "\t" d}')

while IFS=$'\t' read -r name def; do
    [[ -z $name ]] && continue
    got=$(awk -F'\t' -v n="$name" '$1 == n {print $2; exit}' <<<"$rows")
    check "$name has a row in $doc" test -n "$got"
    [[ -n $got ]] && check "$name: documented default '$got' is '$def'" test "$got" = "$def"
done <<<"$help"

while IFS=$'\t' read -r name _; do
    [[ -z $name ]] && continue
    check "row $name is a real property" grep -q "^$name"$'\t' <<<"$help"
done <<<"$rows"

echo "test_config_docs: $([ $failures -eq 0 ] && echo ok || echo "$failures failed")"
[ $failures -eq 0 ]
