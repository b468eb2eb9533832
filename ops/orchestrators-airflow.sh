#!/usr/bin/env bash
# orchestrators-airflow.sh - installs Apache Airflow 3 for the airflow
# backend's integration test (tests/integration/0270-airflow-backend.sh)
# into ~/.cache/floq/venv-airflow, pinned by ops/orchestrators/airflow.txt
# (a full `pip freeze` of the set tested: the upstream constraints files are
# not reachable here, and a newer fastapi or pydantic breaks Airflow 3.2.1's
# api-server). Idempotent and quick when the venv already holds the pinned
# version: prints the venv's path on its last line.
#   ops/orchestrators-airflow.sh           install if missing, print venv
#   FLOQ_VENV_AIRFLOW=DIR                  another venv directory
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lock=$here/orchestrators/airflow.txt
venv=${FLOQ_VENV_AIRFLOW:-${XDG_CACHE_HOME:-$HOME/.cache}/floq/venv-airflow}
want=$(grep -i '^apache-airflow==' "$lock" | cut -d= -f3)
stamp=$venv/.floq-lock-$(sha256sum "$lock" | cut -c1-16)

if [[ -x $venv/bin/airflow && -e $stamp ]]; then
    echo "$venv"
    exit 0
fi
command -v python3 >/dev/null || { echo "orchestrators-airflow: python3 is required" >&2; exit 1; }
mkdir -p "$(dirname "$venv")"
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$lock" >&2
got=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')
[[ $got == "$want" ]] || { echo "orchestrators-airflow: installed apache-airflow $got, wanted $want" >&2; exit 1; }
"$venv/bin/python" -m pip check >&2
rm -f "$venv"/.floq-lock-*
touch "$stamp"
echo "$venv"
