#!/bin/sh
# Writes its pid to $2/$1.pid (atomically), then becomes a long sleep with
# the same pid. Used by tree.sh.
echo $$ > "$2/$1.tmp" && /bin/mv "$2/$1.tmp" "$2/$1.pid"
exec /bin/sleep 300
