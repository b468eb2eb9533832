#!/bin/sh
# Survives SIGTERM: records each one in $1 and keeps running, so only a
# SIGKILL ends it. Creates $1.ready once the trap is in place.
trap 'echo term >> "$1"' TERM
echo ready > "$1.ready"
while :; do
    /bin/sleep 0.05
done
