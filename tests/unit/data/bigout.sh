#!/bin/sh
# Prints the numbers 1..$1 one per line (about 15 MB for 2000000).
exec /usr/bin/seq 1 "$1"
