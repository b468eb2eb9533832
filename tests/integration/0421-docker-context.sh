#!/usr/bin/env bash
# 0421: ops/docker/Dockerfile builds from the sources only. `COPY . .`
# took the whole working tree: a developer's build/ and build-asan/
# (objects newer than the sources, so make in the image linked them
# instead of compiling: host-built, maybe sanitizer, binaries in the
# image) and .git. A BuildKit ignore file beside the Dockerfile
# (ops/docker/Dockerfile.dockerignore, the file BuildKit reads for it)
# leaves them out, and the build stage removes any build folder before
# make for builders that ignore it. Checked by reading both files, as a
# builder would apply them (Python's fnmatch over the tree's top level).
# Needs no broker.
source "$(dirname "$0")/lib.sh"
DF=ops/docker/Dockerfile
IG=ops/docker/Dockerfile.dockerignore
ok "the Dockerfile has its own ignore file ($IG)" test -f "$IG"
excluded() {
    python3 - "$IG" "$1" <<'PY'
import fnmatch, sys
pats = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
path, out = sys.argv[2], False
for p in pats:
    neg = p.startswith("!")
    p = p.lstrip("!").strip("/")
    if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p):
        out = not neg
sys.exit(0 if out else 1)
PY
}
# kept PATH: the ignore file keeps PATH (exit 1 of the check above, not
# an error of the check itself, such as an unreadable ignore file).
kept() { excluded "$1"; [[ $? -eq 1 ]]; }
for p in build build-asan build-valgrind .git build/bin/floq-worker; do
    ok "... which leaves out $p" excluded "$p"
done
for p in common/log.c ops/install-deps.sh Makefile schemas worker/notify.c; do
    ok "... and keeps $p" kept "$p"
done
ok "the build stage removes build folders before make" \
    bash -c "sed -n '/^FROM debian:12 AS build/,/^FROM /p' '$DF' | grep -q 'rm -rf build build-\*'"
finish
