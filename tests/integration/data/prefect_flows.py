"""Flows of test 0250 (the prefect backend), served by flow.serve():

  gated/gated   succeeds once the file <gate_dir>/<gate>.go exists (the
                test decides when), writing <gate_dir>/<gate>.started first
                so the test knows the flow run really began
  failing/failing  raises, so its flow run ends FAILED with the message

Usage: FLOQ_PREFECT_GATES=DIR python prefect_flows.py (PREFECT_API_URL set
by the test); runs until killed. The directory comes from the environment,
not argv: each flow run re-imports this file in a process of its own.
"""
import os
import time

from prefect import flow, serve

GATE_DIR = os.environ.get("FLOQ_PREFECT_GATES", ".")


@flow(name="gated", log_prints=True)
def gated(gate: str = "default", timeout_s: int = 300):
    open(os.path.join(GATE_DIR, gate + ".started"), "w").close()
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(os.path.join(GATE_DIR, gate + ".go")):
        if time.monotonic() > deadline:
            raise RuntimeError("gate %s never opened" % gate)
        time.sleep(0.2)
    return gate


@flow(name="failing")
def failing(why: str = "boom"):
    raise ValueError("failing flow says: " + why)


if __name__ == "__main__":
    serve(gated.to_deployment(name="gated"),
          failing.to_deployment(name="failing"),
          limit=8)
