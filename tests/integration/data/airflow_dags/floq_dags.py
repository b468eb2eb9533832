"""Tiny DAGs for tests/integration/0270-airflow-backend.sh.

floq_gate: one task that waits until the gate file named by the run's conf
("gate", else $FLOQ_AIRFLOW_GATE_DIR/<run_id>.go) exists, then succeeds, so
the test decides when a run ends (and can stop it while it waits).
floq_fail: one task that fails at once.
"""
import os
import time
from datetime import datetime

from airflow.sdk import DAG, task

with DAG("floq_gate", schedule=None, start_date=datetime(2026, 1, 1),
         catchup=False, is_paused_upon_creation=True, tags=["floq"]):
    @task
    def wait_for_gate(**ctx):
        gate_dir = os.environ.get("FLOQ_AIRFLOW_GATE_DIR", "/tmp")
        run_id = ctx["dag_run"].run_id
        gate = os.path.join(gate_dir, run_id + ".go")
        open(os.path.join(gate_dir, run_id + ".started"), "w").close()
        deadline = time.monotonic() + 600
        while not os.path.exists(gate):
            if time.monotonic() > deadline:
                raise RuntimeError("gate never opened")
            time.sleep(0.2)
        return ctx["dag_run"].conf.get("day", "")

    wait_for_gate()

with DAG("floq_fail", schedule=None, start_date=datetime(2026, 1, 1),
         catchup=False, is_paused_upon_creation=False, tags=["floq"]):
    @task
    def explode():
        raise RuntimeError("floq_fail fails on purpose")

    explode()
