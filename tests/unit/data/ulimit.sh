#!/bin/sh
# Writes its RLIMIT_NOFILE soft limit to $1.
ulimit -n > "$1"
