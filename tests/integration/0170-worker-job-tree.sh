#!/usr/bin/env bash
# 0170 (G2, issue 9 item 6): the whole process tree of an attempt dies on
# stop and with its worker, not only the job's main process. The job is
# tests/unit/data/tree.sh, written the usual way (no exec): a wrapper shell
# with a child shell and its grandchild, a foreground child, and a
# grandchild that left the session and process group with setsid. Every
# descendant writes its pid; after the stop command, and after a kill -9 of
# the worker, each must be gone (kill -0 with a deadline).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
UNIT=$(cd "$(dirname "$0")/../unit/data" && pwd)
export FLOQ_PROCESS_ALLOWED_DIRS=$DATA:$UNIT
T=$FLOQ_TEST_TMP
NAMES="wrapper mid grandchild setsid child"

tree_deploy() { # NAME DIR
    printf '{"deployment":"%s","body":{"DeployBody":{"backend":"process","spec":%s}}}\n' \
        "$1" "$(jq -cn --arg exe "$UNIT/tree.sh" --arg d "$2" \
            '{executable: $exe, args: [$d]}' | jq -Rc .)"
}
tree_up() { local n; for n in $NAMES; do [[ -s $1/$n.pid ]] || return 1; done; }
# A zombie counts as gone (a container's init may not reap orphans).
pid_dead() {
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
    [[ -z $s || $s == Z* ]]
}
tree_gone() { local n; for n in $NAMES; do pid_dead "$(cat "$1/$n.pid")" || return 1; done; }
survivors() {
    local n
    for n in $NAMES; do pid_dead "$(cat "$1/$n.pid")" || echo -n "$n($(cat "$1/$n.pid")) "; done
}
kill_survivors() { local n; for n in $NAMES; do kill -KILL "$(cat "$1/$n.pid")" 2>/dev/null; done; true; }

start_worker w1
ok "w1 joins" wait_for 90 worker_assigned w1

# 1. stop
mkdir -p "$T/stop"
tree_deploy tree-stop "$T/stop" | produce >/dev/null
run=$(run_cmd tree-stop | produce)
ok "the tree is up" wait_for 60 tree_up "$T/stop"
ok "the setsid grandchild has a session of its own" \
    test "$(ps -o sid= -p "$(cat "$T/stop/setsid.pid")")" != "$(ps -o sid= -p "$(cat "$T/stop/wrapper.pid")")"
R=$T/replies.json
replies_now "$R"
rid=$(reply_field "$R" "$run" ACCEPTED run_id)
printf '{"deployment":"tree-stop","body":{"StopBody":{"run_id":"%s"}}}\n' "$rid" | produce >/dev/null
ok "run ends" wait_for 30 has_final "$run"
replies_now "$R"
ok "run CANCELLED" test "$(statuses "$R" "$run")" = "ACCEPTED RUNNING CANCELLED"
ok "no descendant survives the stop" wait_for 10 tree_gone "$T/stop"
echo "  survivors: $(survivors "$T/stop")"
kill_survivors "$T/stop"

# 2. kill -9 of the worker
mkdir -p "$T/kill"
tree_deploy tree-kill "$T/kill" | produce >/dev/null
run=$(run_cmd tree-kill | produce)
ok "the tree is up" wait_for 60 tree_up "$T/kill"
kill -KILL "${WPID[w1]}"
wait "${WPID[w1]}" 2>/dev/null
ok "no descendant survives the worker's kill -9" wait_for 10 tree_gone "$T/kill"
echo "  survivors: $(survivors "$T/kill")"
kill_survivors "$T/kill"
finish
