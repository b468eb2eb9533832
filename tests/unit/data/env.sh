#!/bin/sh
# Writes the environment it received to the file named by $1.
/usr/bin/env > "$1"
