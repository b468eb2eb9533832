#!/usr/bin/env bash
# itest: alone: timing
# 0191 (start-up, rebalance): a worker that takes over partitions with
# committed offsets positions each within moments of its restore. w1
# answers a deploy on each of the six partitions (so each has a committed
# offset) and stops; w2 starts, restores the six and positions them. The
# time from a partition's "[restore] partition P" line to its "restored
# and positioned (committed offset N)" line, summed over the six, stays
# under 1.5 s. Before the fix the positioning asked for the commands
# partition's watermarks on the group member's own connection, where each
# ListOffsets waited behind the member's fetch of the partitions already
# resumed (fetch.wait.max.ms, 500 ms): 0.5-1 s of a held loop per
# partition, 2.5-4.5 s for six, a restart of a fleet paying it on every
# worker.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
T=$FLOQ_TEST_TMP
PARTS=$FLOQ_TOPIC_PARTITIONS

start_worker w1
ok "w1 has restored and positioned all $PARTS partitions" \
    wait_for 90 worker_positioned w1 "$PARTS"
names=()
for ((p = 0; p < PARTS; p++)); do names+=("$(name_on "$p")"); done
for n in "${names[@]}"; do deploy_cmd "$n" sleep.sh; done | produce >/dev/null
all_deployed() {
    local n
    for n in "${names[@]}"; do worker_log_has w1 "deployed '$n'" || return 1; done
}
ok "w1 answers a deploy on each partition" wait_for 60 all_deployed
kill -TERM "${WPID[w1]}"
w1_gone() { ! kill -0 "${WPID[w1]}" 2>/dev/null; }
ok "w1 stops" wait_for 60 w1_gone

start_worker w2
ok "w2 has restored and positioned all $PARTS partitions" \
    wait_for 90 worker_positioned w2 "$PARTS"
# per partition: ms from its restore line to its positioned line
gaps() {
    awk -v parts="$PARTS" '
        function ms(ts,   t) {
            t = substr(ts, 12, 12)   # HH:MM:SS.mmm
            return ((substr(t, 1, 2) * 60 + substr(t, 4, 2)) * 60 + substr(t, 7, 6)) * 1000
        }
        /\[restore\] partition [0-9]+: / {
            p = $0; sub(/.*\[restore\] partition /, "", p); sub(/:.*/, "", p)
            r[p] = ms($1)
        }
        /restored and positioned \(committed offset/ {
            p = $0; sub(/.* partition /, "", p); sub(/ restored.*/, "", p)
            o = $0; sub(/.*committed offset /, "", o); sub(/\).*/, "", o)
            if (p in r && !(p in g)) {
                d = ms($1) - r[p]; if (d < 0) d += 86400000
                g[p] = d; off[p] = o
            }
        }
        END { for (p = 0; p < parts; p++) print p, (p in g ? g[p] : -1), (p in off ? off[p] : -1) }
    ' "$T/w2.log"
}
gaps >"$T/gaps"
sed 's/^/    partition, ms, committed offset: /' "$T/gaps"
ok "each partition had a committed offset to position at" \
    test "$(awk '$3 >= 0 && $2 >= 0' "$T/gaps" | wc -l)" -eq "$PARTS"
total=$(awk '{ s += $2 } END { print s + 0 }' "$T/gaps")
ok "the $PARTS were positioned within 1.5 s of their restores in all ($total ms)" \
    test "$total" -lt 1500
finish
