"""Issue 9: every read and write of state goes through the store, and no write happens without the stack's lock;
a refused lookup records the resource type and the AWS error code."""

import os

import pytest

from tests.integration.conftest import assert_rolled_back
from tests.support.fault_proxy import Rule
from tests.support.inotify import DirectoryWatch


def test_a_failed_run_writes_state_only_under_the_lock(aws, proxy, playbook, deploy_vars, state_dir):
    os.makedirs(state_dir)
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity"))
    with DirectoryWatch(state_dir) as watch:
        run = playbook("deploy", stack_name="door", **deploy_vars)
    assert_rolled_back(aws, state_dir, "door", run)
    held, locks, writes = False, 0, []
    for event, name in watch.events:
        if name == "door.lock" and event == "IN_CREATE":
            assert not held, watch.events
            held, locks = True, locks + 1
        elif name == "door.lock" and event in ("IN_MOVED_FROM", "IN_DELETE"):
            held = False
        elif name in ("door.json", "door.recovery.md") and event == "IN_MOVED_TO":
            writes.append((name, held))
    assert not held, "the lock was released"
    assert len(writes) > 10 and all(under_lock for _unused, under_lock in writes), writes
    # The recovery callback wrote its report after the run released the lock, under a lock of its own.
    assert writes[-1] == ("door.recovery.md", True) and locks == 2


@pytest.mark.parametrize("operation, resource_type, code, status", [
    ("DescribeVpcs", "vpc", "UnauthorizedOperation", 403),
    ("DescribeFileSystems", "file_system", "AccessDeniedException", 403),
])
def test_a_refused_lookup_records_the_resource_type_and_code(aws, proxy, playbook, deploy_vars, state_dir,
                                                             operation, resource_type, code, status):
    stack = "look-" + resource_type.replace("_", "-")
    proxy.add(Rule(operation, error=code, status=status, times=1))
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    failure = assert_rolled_back(aws, state_dir, stack, run)["failure"]
    assert (failure["resource_type"], failure["error_code"], failure["critical"]) == (resource_type, code, True), failure
