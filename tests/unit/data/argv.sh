#!/bin/sh
# Writes each argument after the first to the file named by the first, one
# per line: tests read it back to prove argv went through verbatim.
out=$1
shift
for a in "$@"; do
    printf '%s\n' "$a"
done > "$out"
