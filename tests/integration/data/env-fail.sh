#!/bin/sh
# A run that prints its whole environment and arguments, then fails (exit
# 3): whatever the worker passes to a job shows in the run's output tail.
echo "args: $*"
env
echo "failing on purpose" >&2
exit 3
