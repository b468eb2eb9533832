#!/usr/bin/env bash
# 0106 (G4): malformed commands of many kinds go to the DLQ with the reason
# and source coordinates, get REJECTED when they can be read, and the
# worker keeps serving valid commands on the same partition.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/data/worker_lib.sh"
worker_env
start_worker w1 -o message.max.bytes=4096
ok "worker joins" wait_for 60 worker_assigned w1
T=$FLOQ_TEST_TMP
deploy_cmd good ok.sh "{x}" | produce >/dev/null

# raw bytes, all keyed "good" so they share its partition
raw() { "$TOOL" produce-raw "$1" --key good; }
head -c 100 /dev/urandom >"$T/garbage"; raw "$T/garbage"                    # 1
: >"$T/empty"; raw "$T/empty"                                               # 2
run_cmd good '{"x":"1"}' | "$TOOL" encode >"$T/full"
head -c 25 "$T/full" >"$T/trunc"; raw "$T/trunc"                            # 3
{ printf '\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08'; tail -c +11 "$T/full"; } >"$T/fp"
raw "$T/fp"                                                                 # 4 unknown fingerprint
head -c 8000 /dev/zero >"$T/big"; raw "$T/big"                              # 5 oversized
printf '{"not":"avro"}' >"$T/json"; raw "$T/json"                           # 6 JSON, not Avro
{ printf '\x00\x00\x00\x00\x63'; tail -c +11 "$T/full"; } >"$T/cf"
raw "$T/cf"                                                                 # 7 Confluent id unknown

# readable but invalid: each gets a REJECTED reply
ids=$T/rejected.ids
{
run_cmd good '{"x":"1"}' '{"expires_in_ms":-60000}'                          # 8 expired
run_cmd nosuch                                                               # 9 unknown deployment
printf '{"deployment":"good","body":{"DeployBody":{"backend":"nosuch","spec":"{}"}}}\n'   # 10 unknown backend
printf '{"deployment":"good","body":{"DeployBody":{"backend":"process","spec":"not json"}}}\n'  # 11
printf '{"deployment":"good","body":{"DeployBody":{"backend":"process","spec":"[1,2]"}}}\n'     # 12
printf '{"deployment":"good","body":{"DeployBody":{"backend":"process","spec":"{\\"executable\\":\\"/bin/true\\"}"}}}\n'  # 13 not allowed
printf '{"deployment":"good","body":{"DeployBody":{"backend":"process","spec":"{\\"executable\\":\\"ok.sh\\"}"}}}\n'  # 14 relative
printf '{"deployment":"good","body":{"DeployBody":{"backend":"process","spec":"{\\"executable\\":\\"%s/ok.sh\\",\\"bogus\\":1}"}}}\n' "$DATA"  # 15 unknown key
printf '{"deployment":"good","body":{"DeployBody":{"backend":"process","spec":"{\\"executable\\":\\"%s/ok.sh\\"}","retry":{"max_attempts":0}}}}\n' "$DATA"  # 16
printf '{"deployment":"good","body":{"StopBody":{"run_id":"00000000-0000-4000-8000-000000000000"}}}\n'   # 17 unknown run
printf '{"deployment":"nosuch","body":{"StatusBody":{"run_id":null}}}\n'   # 18 status of unknown
jq -cn '{deployment:"good",body:{RunBody:{params:{},timeout_ms:-5}}}'       # 19 negative timeout
printf '{"deployment":"","body":{"StatusBody":{"run_id":null}}}\n'          # 20 empty deployment
} | produce >"$ids"
printf '{"deployment":"good","reply_to":"no.such.topic","body":{"StatusBody":{"run_id":null}}}\n' | produce >/dev/null  # 21
printf '{"deployment":"good","command_id":"","body":{"StatusBody":{"run_id":null}}}\n' | produce >/dev/null  # 22 empty id

good=$(run_cmd good '{"x":"after"}' | produce)
ok "a valid run after all of it succeeds" wait_for 60 has_status "$good" SUCCEEDED
ok "every readable bad command answered" wait_for 30 all_final "$ids"
R=$T/replies.json
replies_now "$R"
n=0
while read -r id; do
    [[ $(statuses "$R" "$id") == REJECTED ]] && n=$((n + 1))
done <"$ids"
ok "all $(wc -l <"$ids") readable ones REJECTED ($n)" test "$n" -eq "$(wc -l <"$ids")"
dlq_count() { [[ $("$TOOL" dlq | wc -l) -ge $1 ]]; }
ok "22 records in the DLQ" wait_for 30 dlq_count 22
"$TOOL" dlq >"$T/dlq.json"
ok "exactly 22" test "$(wc -l <"$T/dlq.json")" -eq 22
ok "every DLQ record has reason and source" \
    test "$(jq -r 'select(.headers["floq.reason"] and .headers["floq.source.topic"] and .headers["floq.source.partition"] and .headers["floq.source.offset"])|.key' "$T/dlq.json" | wc -l)" -eq 22
ok "source topic is the commands topic" \
    test "$(jq -r '.headers["floq.source.topic"]' "$T/dlq.json" | sort -u)" = "$FLOQ_TOPIC_COMMANDS"
ok "oversized named" grep -q "larger than" "$T/dlq.json"
ok "expired named" grep -q "expired" "$T/dlq.json"
ok "undecodable named" grep -q "undecodable" "$T/dlq.json"
ok "reply_to named" grep -q "no.such.topic" "$T/dlq.json"
ok "original key kept" test "$(jq -r 'select(.len == 100)|.key' "$T/dlq.json")" = good
ok "worker still alive" worker_alive w1
finish
