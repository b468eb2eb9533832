#!/bin/sh
# Exits with the status given as $1.
exit "$1"
