#!/bin/sh
# Demo job: greets, reports a little progress, succeeds.
echo "hello, ${1:-world} (run $FLOQ_RUN_ID, attempt $FLOQ_ATTEMPT)"
i=1
while [ $i -le 3 ]; do echo "step $i/3"; i=$((i + 1)); done
echo "done"
