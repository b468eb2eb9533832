#!/bin/sh
# Demo job: fails with the exit status it is given, after saying why.
echo "loading ${2:-input}" 
echo "error: upstream table is empty" >&2
exit "${1:-3}"
