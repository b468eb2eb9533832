#!/usr/bin/env bash
# itest: alone: its own cluster
# 0416: the README's main command, non-interactive, as a user first runs
# it: ops/demo.sh (the embedded broker, three workers, deploy/run/fail/
# stop/status/lineage/schedule through the CLI) ends with exit 0, prints
# the console's address and the first worker's /metrics address, and has
# fetched both: a run's page from the console (the run URL of its ACCEPTED
# reply) showing the run SUCCEEDED, and the metrics exposition. Then
# nothing it started is left running. Needs no external broker.
source "$(dirname "$0")/lib.sh"
T=$FLOQ_TEST_TMP
out=$T/demo.out
demo_rc=0
# floq's programs of this build tree running from here (pids)
ours() {
    local p
    for p in $(pgrep -f "$B/bin/floq-(mock-broker|console|worker)"); do
        [[ $(readlink "/proc/$p/cwd" 2>/dev/null) == "$PWD" ]] && echo "$p"
    done
}
before=" $(ours | tr '\n' ' ') "
timeout -k 10 300 bash ops/demo.sh </dev/null >"$out" 2>&1 || demo_rc=$?
ok "ops/demo.sh exits 0 (got $demo_rc)" test "$demo_rc" -eq 0
[[ $demo_rc -eq 0 ]] || tail -20 "$out" | sed 's/^/    /'
ok "it prints the console and metrics addresses" \
    grep -Eq '^console: http://[^ ]+/runs +metrics: http://[^ ]+/metrics$' "$out"
ok "it fetched a run's page from the console" grep -q '<title>floq · ' "$out"
ok "... which shows the run SUCCEEDED" grep -q 'class="state SUCCEEDED"' "$out"
ok "it fetched the worker's /metrics" grep -q '^  floq_build_info{' "$out"
ok "the three runs are listed by the console" \
    test "$(grep -cE '^  [0-9a-f-]{36} (hello|flaky|slow) ' "$out")" -eq 3
# the demo's programs: those not running before it (another test's
# leftovers are not the demo's)
leftover() {
    local p
    for p in $(ours); do
        [[ $before == *" $p "* ]] || { left=$p; return 0; }
    done
    return 1
}
gone() { ! leftover; }
left=
ok "nothing it started is left running" wait_for 15 gone
[[ -n $left ]] && echo "    left: $(tr '\0' ' ' </proc/$left/cmdline 2>/dev/null)"
finish
