#!/bin/sh
# Leaves a background grandchild in its process group, writes the
# grandchild's pid to $1, then exits with status 0.
/bin/sleep 300 &
echo $! > "$1.tmp" && /bin/mv "$1.tmp" "$1"
exit 0
