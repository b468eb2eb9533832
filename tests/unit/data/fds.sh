#!/bin/sh
# Writes the numbers of its open file descriptors to $1, one per line, and
# whether stdin is at EOF (it should be /dev/null).
for f in /proc/$$/fd/*; do
    echo "${f##*/}"
done > "$1.tmp"
if read -r line; then echo "stdin:data" >> "$1.tmp"; else echo "stdin:eof" >> "$1.tmp"; fi
/bin/mv "$1.tmp" "$1"
