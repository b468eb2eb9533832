#!/bin/sh
# A run that sleeps ${1:-60} seconds, then succeeds. exec keeps one process
# so TERM reaches the sleep itself.
echo "sleeping ${1:-60}"
exec sleep "${1:-60}"
