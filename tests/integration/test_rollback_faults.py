"""Figure 3, faults during the rollback: throttling, server errors and slow dependency release injected into
the teardown. Each rollback completes (rolled_back, nothing left); a refusal that never clears ends
rollback_failed with exactly the refused resource and what waits on it left, recorded and reported.

Every deploy here fails at the end (the instance reports that EFS did not mount), so the whole stack exists
when the rollback starts.
"""

import os

import pytest

from tests.integration.conftest import assert_rolled_back, load_state
from tests.support.fault_proxy import Rule
from tests.support.health_stub import connect_to, start_stub

# Every mutating call a rollback of the whole stack makes, by service (the first test keeps this complete).
TEARDOWN_CALLS = {
    "TerminateInstances": "ec2", "DeleteMountTarget": "elasticfilesystem", "DeleteFileSystem": "elasticfilesystem",
    "DeleteSecurityGroup": "ec2", "DeleteSubnet": "ec2", "DisassociateRouteTable": "ec2", "DeleteRouteTable": "ec2",
    "DetachInternetGateway": "ec2", "DeleteInternetGateway": "ec2", "DeleteVpc": "ec2", "DeleteVolume": "ec2",
    "DeleteParameter": "ssm",
    "DeleteRolePolicy": "iam", "DeleteRole": "iam", "RemoveRoleFromInstanceProfile": "iam",
    "DeleteInstanceProfile": "iam",
}
THROTTLING = {"ec2": ("RequestLimitExceeded", 503), "iam": ("Throttling", 400), "ssm": ("ThrottlingException", 400),
              "elasticfilesystem": ("ThrottlingException", 429)}
SERVER_ERROR = {"ec2": "InternalError", "iam": "ServiceFailure", "ssm": "InternalServerError",
                "elasticfilesystem": "InternalServerError"}
# Slow release as real AWS does it: refused for a while after what held the resource went.
SLOW = {
    "group-after-instance": ("DeleteSecurityGroup", "DependencyViolation", "TerminateInstances"),
    "subnet-after-instance": ("DeleteSubnet", "DependencyViolation", "TerminateInstances"),
    "igw-after-instance": ("DetachInternetGateway", "DependencyViolation", "TerminateInstances"),
    "fs-after-mount-target": ("DeleteFileSystem", "FileSystemInUse", "DeleteMountTarget"),
    "volume-after-instance": ("DeleteVolume", "VolumeInUse", "TerminateInstances"),
    "vpc-after-subnet": ("DeleteVpc", "DependencyViolation", "DeleteSubnet"),
    "role-after-profile": ("DeleteRole", "DeleteConflict", "RemoveRoleFromInstanceProfile"),
}
# Refused for good: (operation, code, status, the resource types left).
NEVER = {
    "vpc": ("DeleteVpc", "DependencyViolation", 400, {"vpc"}),
    "security-group": ("DeleteSecurityGroup", "DependencyViolation", 400, {"security_group", "vpc"}),
    "internet-gateway": ("DetachInternetGateway", "DependencyViolation", 400, {"internet_gateway", "vpc"}),
    "file-system": ("DeleteFileSystem", "FileSystemInUse", 409, {"file_system"}),
    "role": ("DeleteRole", "DeleteConflict", 409, {"iam_role"}),
}
SAMPLE = {"throttled-then-5xx-iam", "never-file-system"}


@pytest.fixture
def efs_failing_vars(deploy_vars):
    url, stop = start_stub("efs_failed")
    yield dict(deploy_vars, health_check_connect_to=connect_to(url))
    stop()


def rolled_back_completely(aws, state_dir, stack, run):
    state = assert_rolled_back(aws, state_dir, stack, run)
    assert state["resources"], "the whole stack existed before the rollback"
    return state


def test_a_rollback_makes_exactly_the_listed_calls(aws, proxy, playbook, efs_failing_vars, state_dir):
    run = playbook("deploy", stack_name="rf-record", **efs_failing_vars)
    rolled_back_completely(aws, state_dir, "rf-record", run)
    # The rollback's first call: its independent branches (instance, mount targets, parameters) start together.
    started = next(i for i, c in enumerate(proxy.calls) if c.operation in TEARDOWN_CALLS)
    made = {c.operation for c in proxy.calls[started:] if c.operation.startswith(("Delete", "Terminate", "Detach", "Disassociate", "Remove"))}
    assert made == set(TEARDOWN_CALLS), sorted(made)


def cases():
    def case(name, *values):
        marks = [pytest.mark.figure("3 during rollback")]
        if name not in SAMPLE:
            marks.append(pytest.mark.full_only)
        return pytest.param(name, *values, marks=marks, id=name)

    for service in sorted(set(TEARDOWN_CALLS.values())):
        code, status = THROTTLING[service]
        # Each of the service's calls: three throttled answers, then three 500s. That is more than botocore's
        # five attempts, so AWSRetry and the teardown's own retry act too (IAM's ServiceFailure is on no list).
        yield case("throttled-then-5xx-" + service, "transient", [
            rule for operation in sorted(op for op, owner in TEARDOWN_CALLS.items() if owner == service)
            for rule in (Rule(operation, error=code, status=status, times=3),
                         Rule(operation, error=SERVER_ERROR[service], status=500, times=3))
        ])
    yield case("everything-throttled", "transient",
               [Rule(operation, error=THROTTLING[service][0], status=THROTTLING[service][1], times=2)
                for operation, service in TEARDOWN_CALLS.items()])
    for name, (operation, code, trigger) in SLOW.items():
        yield case("slow-" + name, "transient", [Rule(operation, error=code, after=trigger, for_seconds=5)])
    for name, (operation, code, status, left) in NEVER.items():
        yield case("never-" + name, left, [Rule(operation, error=code, status=status)])


@pytest.mark.parametrize("name,expected,rules", list(cases()))
def test_rollback_under_faults(aws, proxy, playbook, efs_failing_vars, state_dir, name, expected, rules):
    stack = "rf-" + name.lower()[:28].rstrip("-")
    for rule in rules:
        proxy.add(rule)
    timeout = 120 if expected == "transient" else 10
    run = playbook("deploy", stack_name=stack, **dict(efs_failing_vars, rollback_timeout=timeout))
    assert all(rule.hits for rule in rules), [(r.operation, r.hits) for r in rules if not r.hits]
    if expected == "transient":
        rolled_back_completely(aws, state_dir, stack, run)
        return
    assert run.rc != 0
    state = load_state(state_dir, stack)
    assert state["status"] == "rollback_failed", state["status"]
    left = {entry["type"] for entry in state["resources"] if entry["status"] == "delete_failed"}
    assert left == expected, state["resources"]
    assert {entry["status"] for entry in state["resources"] if entry["type"] not in expected} == {"deleted"}
    held = aws.stack_resources(stack)
    assert set(held) == expected, held
    leftovers = sorted(entry["id"] for entry in state["resources"] if entry["status"] == "delete_failed")
    assert leftovers == sorted(i for ids in held.values() for i in ids)
    report = open(os.path.join(state_dir, stack + ".recovery.md")).read()
    assert all(resource_id in report for resource_id in leftovers)
