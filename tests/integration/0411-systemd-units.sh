#!/usr/bin/env bash
# 0411: the systemd units of ops/systemd pass `systemd-analyze verify`
# without a single complaint (verify exits 0 on unknown keys and bad values
# and only prints them, so any output fails), with their ExecStart
# programs made to exist under a scratch prefix (floq-console by a stub
# when it is not built yet). The worker's stop timeout exceeds the drain
# grace and its watchdog the restore timeout of the config defaults
# (floq-worker --dump-config). Positive controls: a unit with a mistyped
# value and one whose program is missing are both caught. Needs no broker.
source "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null ||
    { echo "  systemd-analyze not installed (apt-get install systemd): skipped"; exit 77; }
T=$FLOQ_TEST_TMP
U=ops/systemd
mkdir -p "$T/units" "$T/bin"
for p in floq-worker floq-lineage floq-console; do
    if [[ -x $BIN/$p ]]; then ln -s "$(pwd)/$BIN/$p" "$T/bin/$p"
    else printf '#!/bin/sh\nexit 0\n' >"$T/bin/$p"; chmod +x "$T/bin/$p"; fi
done
units=(floq-worker@.service floq-console.service floq-lineage-forward.service)
for u in "${units[@]}"; do
    sed "s|/usr/local/bin/|$T/bin/|g" "$U/$u" >"$T/units/$u"
done

# verify UNIT...: true when systemd-analyze exits 0 and prints nothing.
verify() {
    local out rc
    out=$(cd "$T/units" && systemd-analyze verify --man=no "$@" 2>&1); rc=$?
    [[ -n $out ]] && echo "$out" | sed 's/^/    /'
    (( rc == 0 )) && [[ -z $out ]]
}
ok "floq-worker@.service (as floq-worker@3) verifies" verify ./floq-worker@3.service
ok "floq-console.service verifies" verify ./floq-console.service
ok "floq-lineage-forward.service verifies" verify ./floq-lineage-forward.service

# unit_s UNIT KEY: the unit's KEY in seconds (plain numbers only)
unit_s() { sed -n "s/^$2=\([0-9]*\)\$/\1/p" "$U/$1"; }
conf_ms() { "$BIN/floq-worker" --dump-config | sed -n "s/^$1 *= *\([0-9]*\).*/\1/p"; }
drain=$(conf_ms worker.drain.grace.ms); restore=$(conf_ms worker.restore.timeout.ms)
progress=$(conf_ms worker.progress.timeout.ms)
stop=$(unit_s floq-worker@.service TimeoutStopSec); wd=$(unit_s floq-worker@.service WatchdogSec)
ok "TimeoutStopSec ($stop s) > worker.drain.grace.ms ($drain ms)" \
    test $((stop * 1000)) -gt "${drain:-999999999}"
ok "WatchdogSec ($wd s) > worker.restore.timeout.ms ($restore ms) and worker.progress.timeout.ms ($progress ms)" \
    test $((wd * 1000)) -gt "${restore:-999999999}" -a $((wd * 1000)) -gt "${progress:-999999999}"
ok "the worker unit is Type=notify" grep -q '^Type=notify$' "$U/floq-worker@.service"
ok "the worker unit has KillMode=mixed" grep -q '^KillMode=mixed$' "$U/floq-worker@.service"
ok "the worker's slot is the instance" grep -q '^ExecStart=.*--slot %i$' "$U/floq-worker@.service"

# positive controls
sed 's/^Type=notify$/Type=notfy/' "$T/units/floq-worker@.service" >"$T/units/broken@.service"
caught() { ! verify "$@" >/dev/null; }
ok "control: a mistyped Type= is caught" caught ./broken@1.service
sed "s|$T/bin/floq-console|$T/bin/nonexistent|" "$T/units/floq-console.service" >"$T/units/missing.service"
ok "control: a missing program is caught" caught ./missing.service
finish
