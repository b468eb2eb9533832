#!/usr/bin/env bash
# Installs what floq needs to build and test, only what is missing.
# Idempotent: a second run installs nothing and exits 0 quickly.
# Usage: ops/install-deps.sh [--build-only]
set -euo pipefail

pkgs=(build-essential pkg-config librdkafka-dev libavro-dev
      libcurl4-openssl-dev libjansson-dev check uuid-dev libssl-dev
      libmicrohttpd-dev libsystemd-dev tzdata)
if [[ "${1:-}" != "--build-only" ]]; then
    # test tools: python3-avro is the interop oracle, jsonschema the
    # OpenLineage validator, kcat the "any language can produce" client,
    # valgrind the leak check, maven + a JDK run the real Kafka broker,
    # graphviz's dot renders `floq-lineage graph --format svg`; openssl
    # makes the throw-away CA of `kafka.sh --security sasl_ssl` (0213);
    # prometheus (with promtool) scrapes a worker in 0260, curl probes it;
    # chromium (driven headless by playwright-core, ops/browser.sh) and
    # npm are the console's browser test (0401);
    # kubernetes (0290): maven + the JDK fetch and run fabric8's API mock,
    # python3-jsonschema checks floq's requests against the OpenAPI
    # document, openssl makes the CA of its TLS proxy
    pkgs+=(python3 python3-avro python3-jsonschema kcat jq valgrind maven
           default-jdk-headless procps graphviz openssl prometheus curl
           chromium npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

# a JDK already on PATH (17+) is as good as Debian's
if [[ " ${missing[*]} " == *" default-jdk-headless "* ]] &&
        command -v java >/dev/null && command -v javac >/dev/null; then
    missing=("${missing[@]/default-jdk-headless}")
fi
if [[ " ${missing[*]} " == *" maven "* ]] && command -v mvn >/dev/null; then
    missing=("${missing[@]/maven}")
fi
# an npm already on PATH (e.g. NodeSource's nodejs, which conflicts with
# Debian's npm package) is as good as Debian's
if [[ " ${missing[*]} " == *" npm "* ]] && command -v npm >/dev/null; then
    missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]} == 0)); then
    echo "install-deps: all packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
