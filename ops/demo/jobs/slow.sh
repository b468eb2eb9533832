#!/bin/sh
# Demo job: runs for the given number of seconds (until stopped).
n=${1:-30}
i=0
while [ $i -lt "$n" ]; do i=$((i + 1)); sleep 1; echo "tick $i"; done
