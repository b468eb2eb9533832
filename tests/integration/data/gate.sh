#!/bin/sh
# gate.sh FILE: a job that runs until FILE exists (at most 120 s, then
# exit 3), so a test decides when a run ends instead of guessing a length.
i=0
while [ ! -e "$1" ]; do
    i=$((i + 1))
    [ "$i" -gt 1200 ] && { echo "gate $1 never opened" >&2; exit 3; }
    sleep 0.1
done
echo "gate $1 opened"
