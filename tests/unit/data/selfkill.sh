#!/bin/sh
# Ends itself with the signal named by $1 (default SEGV).
kill -"${1:-SEGV}" $$
