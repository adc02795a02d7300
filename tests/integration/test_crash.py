"""Figure 2, crashes: the whole ansible-playbook process group is SIGKILLed at a moment of a deploy, then
destroy.yml leaves nothing of the stack; or a new deploy finishes it without duplicates, and destroy.yml after
that leaves nothing. Either way the killed run's lock is recognised as stale by itself, with a warning.

The moments are the deploy's mutating calls (tests/integration/deploy_calls.json): alternately just before the
call reaches AWS and just after AWS did it, before the answer arrives; plus two moments while the deploy waits for its instance.
"""

import os
import signal

import pytest

from tests.integration.conftest import load_state
from tests.integration.test_fault_matrix import MUTATING_CALLS
from tests.support.fault_proxy import Rule

FULL_STACK = {"vpc": 1, "subnet": 2, "internet_gateway": 1, "route_table": 1, "security_group": 1, "file_system": 1,
              "mount_target": 2, "ssm_parameter": 5, "iam_role": 1, "instance_profile": 1, "instance": 1,
              "volume": 1}
# (operation, occurrence, when): "before" AWS sees the call, "after" it did the work.
MOMENTS = [(operation, occurrence, "before" if index % 2 == 0 else "after")
           for index, (_service, operation, occurrence) in enumerate(MUTATING_CALLS)]
# While the deploy waits for the instance to run (the emulator has no other wait worth the name).
MOMENTS += [("DescribeInstances", 2, "after"), ("DescribeInstanceStatus", 1, "after")]
# The launch killed after EC2 did it, then redeployed: the case the launch's ClientToken is for.
SAMPLE = {("CreateSubnet", 2, "before"), ("CreateFileSystem", 1, "before"), ("RunInstances", 1, "after")}
assert SAMPLE <= set(MOMENTS), SAMPLE - set(MOMENTS)


def moments():
    for index, (operation, occurrence, when) in enumerate(MOMENTS):
        then = "destroy" if index % 2 == 0 else "redeploy"
        marks = [pytest.mark.figure("2 crash")]
        if (operation, occurrence, when) not in SAMPLE:
            marks.append(pytest.mark.full_only)
        yield pytest.param(operation, occurrence, when, then, marks=marks,
                           id="{0}{1}-{2}-then-{3}".format(operation, occurrence if occurrence > 1 else "", when, then))


def kill_at(proxy, process, operation, occurrence, when):
    def kill(_call):
        os.killpg(process.pid, signal.SIGKILL)

    proxy.add(Rule(operation, error="Killed", status=500, skip=occurrence - 1, times=1, forward_first=(when == "after"), hook=kill))


@pytest.mark.parametrize("operation,occurrence,when,then", list(moments()))
def test_killed_deploy_leaves_nothing_after_destroy(aws, proxy, playbook, deploy_vars, state_dir, operation, occurrence, when, then):
    stack = "kill-{0}{1}-{2}".format(operation.lower()[:16], occurrence, when)
    started = playbook.start("deploy", stack_name=stack, **deploy_vars)
    kill_at(proxy, started, operation, occurrence, when)
    output, _unused = started.communicate(timeout=600)
    assert started.returncode == -signal.SIGKILL, (started.returncode, output[-3000:])
    lock_path = os.path.join(state_dir, stack + ".lock")
    assert os.path.exists(lock_path), "the killed run should have left its lock"
    stale = "its process {0} is gone".format(started.pid)

    if then == "redeploy":
        proxy.clear()
        again = playbook("deploy", stack_name=stack, **deploy_vars)
        assert again.rc == 0, again.output[-3000:]
        assert stale in again.output, again.output[-3000:]
        held = aws.stack_resources(stack)
        assert {kind: len(ids) for kind, ids in held.items()} == FULL_STACK, held
        recorded = {}
        for entry in load_state(state_dir, stack)["resources"]:
            assert entry["status"] == "present", entry
            recorded.setdefault(entry["type"], []).append(entry["id"])
        assert {kind: sorted(ids) for kind, ids in recorded.items()} == held

    proxy.clear()
    destroyed = playbook("destroy", stack_name=stack)
    assert destroyed.rc == 0, destroyed.output[-3000:]
    if then == "destroy":
        assert stale in destroyed.output, destroyed.output[-3000:]
    assert aws.stack_resources(stack) == {}, destroyed.output[-3000:]
    assert not os.path.exists(lock_path)
