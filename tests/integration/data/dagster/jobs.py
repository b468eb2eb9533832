"""The code location of tests/integration/0280 (dagster backend): three
jobs the test drives through floq, each run in one process (the in-process
executor: no step subprocess to start, so runs are quick).

- ok_job: succeeds; its op's config "value" comes from the floq run's
  params (the spec's run_config template), and it writes
  $FLOQ_DAGSTER_GATES/<value>.done so the test sees it really ran.
- failing_job: fails with "failing job says: <why>".
- slow_job: writes <gate>.started, then waits (up to 120 s) for <gate>.go:
  the test stops it mid-run, or kills a worker while it runs.
"""
import os
import time

from dagster import Config, Definitions, Failure, in_process_executor, job, op

GATES = os.environ.get("FLOQ_DAGSTER_GATES", "/tmp")


class ValueConfig(Config):
    value: str = "none"


class WhyConfig(Config):
    why: str = "no reason"


class GateConfig(Config):
    gate: str = "g"


def _touch(name):
    with open(os.path.join(GATES, name), "w") as f:
        f.write(str(os.getpid()))


@op
def say_ok(context, config: ValueConfig):
    context.log.info("ok job got value %s" % config.value)
    _touch(config.value + ".done")


@op
def say_fail(config: WhyConfig):
    raise Failure(description="failing job says: " + config.why)


@op
def wait_gate(context, config: GateConfig):
    _touch(config.gate + ".started")
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(GATES, config.gate + ".go")):
        if time.monotonic() > deadline:
            raise Failure(description="gate %s never opened" % config.gate)
        time.sleep(0.1)
    _touch(config.gate + ".done")


@job(executor_def=in_process_executor)
def ok_job():
    say_ok()


@job(executor_def=in_process_executor)
def failing_job():
    say_fail()


@job(executor_def=in_process_executor)
def slow_job():
    wait_gate()


defs = Definitions(jobs=[ok_job, failing_job, slow_job])
