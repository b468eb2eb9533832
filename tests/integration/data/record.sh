#!/bin/sh
# A run that appends TAG to FILE (each execution leaves one line, so a
# test can count how often a run really ran), sleeps SECS, then succeeds.
echo "$2" >>"$1"
exec sleep "${3:-1}"
