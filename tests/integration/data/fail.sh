#!/bin/sh
# A run that fails with exit status ${1:-3} after printing to both streams.
echo "about to fail"
echo "failing on purpose" >&2
exit "${1:-3}"
