#!/bin/bash
# A run that takes ${2:-1} s to stop after TERM (a job cleaning up), and
# otherwise sleeps ${1:-30} s. Not exec: the sleep is a child of the shell,
# as jobs are usually written.
trap 'sleep "${2:-1}"; echo "stopped"; exit 0' TERM
echo "started"
sleep "${1:-30}" &
wait $!
