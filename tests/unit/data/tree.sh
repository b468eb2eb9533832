#!/bin/sh
# A job written the usual way, without exec: it starts a child shell that
# runs a grandchild in the foreground, a grandchild that leaves the session
# and process group with setsid, and a foreground child, then waits. Each
# descendant writes its own pid to $1/<name>.pid (the shells here, the
# leaves through tree-leaf.sh, which becomes the sleep with the same pid).
d=$1
here=$(/usr/bin/dirname "$0")
echo $$ > "$d/wrapper.tmp" && /bin/mv "$d/wrapper.tmp" "$d/wrapper.pid"
/bin/sh -c 'echo $$ > "$1/mid.tmp" && /bin/mv "$1/mid.tmp" "$1/mid.pid"
            "$2/tree-leaf.sh" grandchild "$1"
            echo mid done' sh "$d" "$here" &
/usr/bin/setsid "$here/tree-leaf.sh" setsid "$d" &
"$here/tree-leaf.sh" child "$d"
echo wrapper done
