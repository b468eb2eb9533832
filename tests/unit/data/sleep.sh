#!/bin/sh
# Writes its pid to $1 (atomically), then becomes a long sleep with the
# same pid.
echo $$ > "$1.tmp" && /bin/mv "$1.tmp" "$1"
exec /bin/sleep "${2:-60}"
