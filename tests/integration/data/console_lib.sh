# console_lib.sh - helpers of the console's integration tests (04NN-*.sh),
# sourced after lib.sh and worker_lib.sh: start a floq-console on a free
# port, fetch its pages as JSON or HTML.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_console NAME PORT [ARGS...]: a floq-console in the background on
# 127.0.0.1:PORT, reading this test's topics; its log in $FLOQ_TEST_TMP.
declare -A CPORT
start_console() {
    local name=$1 port=$2; shift 2
    bg "$name" "$BIN/floq-console" -l "127.0.0.1:$port" "$@"
    CPORT[$name]=$port
}

# console_ready NAME: its /healthz says the state topics were read.
console_ready() {
    [[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:${CPORT[$1]}/healthz") == 200 ]]
}

# cjson NAME PATH: the JSON answer of PATH.
cjson() {
    curl -s -m 5 -H 'Accept: application/json' "http://127.0.0.1:${CPORT[$1]}$2"
}

# chtml NAME PATH: the HTML answer of PATH.
chtml() {
    curl -s -m 5 -H 'Accept: text/html' "http://127.0.0.1:${CPORT[$1]}$2"
}

# jqe ARGS...: jq -e, quietly (a check, not output).
jqe() { jq -e "$@" >/dev/null; }
