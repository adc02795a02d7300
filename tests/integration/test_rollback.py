"""Issue 3 acceptance: critical failures roll back to nothing, rollback=false keeps and reports everything,
slow dependency release is waited out, reused networks are never touched. Faults come from the proxy."""

import os
import time

import pytest

from tests.integration.conftest import UserNetwork, assert_rolled_back, load_state
from tests.support import consistency
from tests.support.fault_proxy import Rule
from tests.support.health_stub import connect_to, start_stub

# Everything but the data volume, which is created once the instance runs.
BEFORE_VOLUME = {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system", "mount_target",
                 "ssm_parameter", "iam_role", "instance_profile", "instance"}
# (case id, rule(s) or stub mode, the failure's resource type, its error code, what exists when it fails)
CRITICAL = [
    ("vpc", lambda: [Rule("CreateVpc", error="VpcLimitExceeded")], "vpc", "VpcLimitExceeded", set()),
    ("subnet", lambda: [Rule("CreateSubnet", error="SubnetLimitExceeded", skip=1)], "subnet", "SubnetLimitExceeded", {"vpc", "subnet"}),
    ("internet_gateway", lambda: [Rule("CreateInternetGateway", error="InternetGatewayLimitExceeded")], "internet_gateway",
     "InternetGatewayLimitExceeded", {"vpc", "subnet"}),
    ("route", lambda: [Rule("CreateRoute", error="RouteLimitExceeded")], "route_table", "RouteLimitExceeded",
     {"vpc", "subnet", "internet_gateway", "route_table"}),
    ("security_group", lambda: [Rule("CreateSecurityGroup", error="SecurityGroupLimitExceeded")], "security_group",
     "SecurityGroupLimitExceeded", {"vpc", "subnet", "internet_gateway", "route_table"}),
    ("file_system", lambda: [Rule("CreateFileSystem", error="FileSystemLimitExceeded", status=403)], "file_system",
     "FileSystemLimitExceeded", {"vpc", "subnet", "internet_gateway", "route_table", "security_group"}),
    ("mount_target", lambda: [Rule("CreateMountTarget", error="NetworkInterfaceLimitExceeded", status=409, skip=1)], "mount_target",
     "NetworkInterfaceLimitExceeded", {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system",
                                       "mount_target"}),
    ("ssm", lambda: [Rule("PutParameter", error="ParameterLimitExceeded")], "ssm_parameter", "ParameterLimitExceeded",
     {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system", "mount_target"}),
    ("iam_role", lambda: [Rule("CreateRole", error="LimitExceeded", status=409)], "iam_role", "LimitExceeded",
     {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system", "mount_target", "ssm_parameter"}),
    ("instance_profile", lambda: [Rule("CreateInstanceProfile", error="LimitExceeded", status=409)], "instance_profile",
     "LimitExceeded", {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system", "mount_target",
                       "ssm_parameter", "iam_role"}),
    ("run_instances", lambda: [Rule("RunInstances", error="InsufficientInstanceCapacity")], "instance", "InsufficientInstanceCapacity",
     {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system", "mount_target", "ssm_parameter",
      "iam_role", "instance_profile"}),
    ("never_running", lambda: [Rule(operation, rewrite=[(r"<name>running</name>", "<name>pending</name>"), (r"<code>16</code>", "<code>0</code>")])
                               for operation in ("DescribeInstanceStatus", "DescribeInstances")],
     "instance", "Timeout", BEFORE_VOLUME),
    ("volume", lambda: [Rule("CreateVolume", error="VolumeLimitExceeded")], "volume", "VolumeLimitExceeded", BEFORE_VOLUME),
    # Boot failures the instance reports (the health stub stands in for it): known at the first probe.
    ("efs_mount_failed", "efs_failed", "file_system", "EfsMountFailed", "all"),
    ("volume_mount_failed", "volume_failed", "volume", "VolumeMountFailed", "all"),
    ("secrets_unreadable", "secrets_failed", "instance", "BootFailed", "all"),
]
ALL = BEFORE_VOLUME | {"volume"}


def inject(proxy, fault, deploy_vars):
    """Add the case's rules, or point the health check at a stub in the given mode. Returns (vars, stop)."""
    if isinstance(fault, str):
        url, stop = start_stub(fault)
        return dict(deploy_vars, health_check_connect_to=connect_to(url)), stop
    for rule in fault():
        proxy.add(rule)
    return dict(deploy_vars, instance_timeout=6), (lambda: None)


def assert_failure_recorded(state, resource_type, code):
    failure = state["failure"]
    assert failure and failure["resource_type"] == resource_type and failure["error_code"] == code, failure
    assert failure["task"] and failure["critical"] is True and failure["at"]


@pytest.mark.parametrize("case", CRITICAL, ids=[c[0] for c in CRITICAL])
def test_critical_failure_rolls_back_to_nothing(aws, proxy, playbook, deploy_vars, state_dir, case):
    name, fault, resource_type, code, _unused = case
    stack = "rb-" + name.replace("_", "-")
    extra, stop = inject(proxy, fault, deploy_vars)
    try:
        run = playbook("deploy", stack_name=stack, **extra)
    finally:
        stop()
    state = assert_rolled_back(aws, state_dir, stack, run)
    assert_failure_recorded(state, resource_type, code)
    assert "Everything the stack owned was rolled back" in run.output
    if name == "run_instances":  # spot in each of the stack's two zones, then on-demand in each, all refused
        subnets = sorted(e["id"] for e in state["resources"] if e["type"] == "subnet")
        bodies = [c.body for c in consistency.settled(proxy.calls) if c.operation == "RunInstances"]
        tried = [("InstanceMarketOptions" in body, next(s for s in subnets if s in body)) for body in bodies]
        first, second = tried[0][1], tried[1][1]
        assert tried == [(True, first), (True, second), (False, first), (False, second)] and {first, second} == set(subnets)


@pytest.mark.parametrize("case", CRITICAL, ids=[c[0] for c in CRITICAL])
def test_without_rollback_everything_stays_and_is_reported(aws, proxy, playbook, deploy_vars, state_dir, case):
    name, fault, resource_type, code, expected = case
    stack = "kp-" + name.replace("_", "-")
    extra, stop = inject(proxy, fault, deploy_vars)
    try:
        run = playbook("deploy", stack_name=stack, rollback=False, **extra)
    finally:
        stop()
    assert run.rc != 0, run.output[-3000:]
    held = aws.stack_resources(stack)
    assert set(held) == (ALL if expected == "all" else expected), held
    state = load_state(state_dir, stack)
    assert state["status"] == "failed"
    assert_failure_recorded(state, resource_type, code)
    recorded = {}
    for entry in state["resources"]:
        assert entry["status"] == "present"
        recorded.setdefault(entry["type"], []).append(entry["id"])
    assert {k: sorted(v) for k, v in recorded.items()} == held
    report = open(os.path.join(state_dir, stack + ".recovery.md")).read()
    for ids in held.values():
        for resource_id in ids:
            line = next(line for line in report.splitlines() if line.startswith("- ") and " {0} (".format(resource_id) in line)
            block = report[report.index(line):].split("\n- ")[0]
            assert "console.aws.amazon.com" in block and "delete: `aws " in block, block
    for option in ("Retry the failed step", "Roll back and abort", "Manual intervention"):
        assert option in report and option in run.stdout
    if held:
        assert "nothing was deleted; {0} resource(s) of stack {1} are left".format(
            sum(len(v) for v in held.values()), stack) in run.output
    # destroy.yml after a failed rollback=false deploy leaves nothing of the stack
    proxy.clear()
    destroyed = playbook("destroy", stack_name=stack)
    assert destroyed.rc == 0, destroyed.output[-3000:]
    assert aws.stack_resources(stack) == {}
    assert load_state(state_dir, stack)["status"] == "destroyed"


def test_slow_dependency_release_is_waited_out(aws, proxy, playbook, deploy_vars, state_dir):
    # What real AWS does after TerminateInstances and DeleteMountTarget, for 6 s here (wide enough for a loaded machine).
    for operation in ("DeleteSecurityGroup", "DeleteSubnet"):
        proxy.add(Rule(operation, error="DependencyViolation", after="TerminateInstances", for_seconds=6))
    proxy.add(Rule("DeleteFileSystem", error="FileSystemInUse", status=409, after="DeleteMountTarget", for_seconds=6))
    url, stop = start_stub("efs_failed")
    try:
        run = playbook("deploy", stack_name="slow", **dict(deploy_vars, health_check_connect_to=connect_to(url)))
    finally:
        stop()
    assert run.rc != 0
    assert aws.stack_resources("slow") == {}
    state = load_state(state_dir, "slow")
    assert state["status"] == "rolled_back"
    refused = {c.operation for c in proxy.calls if c.injected in ("DependencyViolation", "FileSystemInUse")}
    assert refused == {"DeleteSecurityGroup", "DeleteSubnet", "DeleteFileSystem"}
    retries = [e for e in state["events"] if e["outcome"] == "retry"]
    assert {e["error_code"] for e in retries} == {"DependencyViolation", "FileSystemInUse"}
    # Terminating the instance and deleting the mount targets did not wait on each other.
    first = {op: proxy.first_seen(op) for op in ("TerminateInstances", "DeleteMountTarget")}
    assert abs(first["TerminateInstances"] - first["DeleteMountTarget"]) < 1.0


def test_refusal_that_never_clears_ends_rollback_failed_in_time(aws, proxy, playbook, deploy_vars, state_dir):
    proxy.add(Rule("DeleteSubnet", error="DependencyViolation"))
    url, stop = start_stub("efs_failed")
    started = time.monotonic()
    try:
        run = playbook("deploy", stack_name="stuck", **dict(deploy_vars, health_check_connect_to=connect_to(url), rollback_timeout=8))
    finally:
        stop()
    assert run.rc != 0
    state = load_state(state_dir, "stuck")
    assert state["status"] == "rollback_failed"
    left = sorted((e["type"], e["id"]) for e in state["resources"] if e["status"] == "delete_failed")
    held = aws.stack_resources("stuck")
    assert left == sorted((t, i) for t, ids in held.items() for i in ids)
    assert set(held) == {"subnet", "vpc"}
    report = open(os.path.join(state_dir, "stuck.recovery.md")).read()
    for _unused, resource_id in left:
        assert resource_id in report
    assert "aws ec2 delete-subnet" in report
    # the whole run, deploy included, stays near the rollback deadline rather than a waiter's pace
    assert time.monotonic() - started < 120


def test_failure_in_a_reused_vpc_leaves_the_users_network_as_it_was(aws, proxy, playbook, deploy_vars, state_dir):
    network = UserNetwork(aws.ec2, "10.78")
    before = network.snapshot()
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity"))
    run = playbook("deploy", stack_name="reuse-fail", vpc_id=network.vpc_id, subnet_ids=network.subnet_ids, **deploy_vars)
    assert run.rc != 0
    assert load_state(state_dir, "reuse-fail")["status"] == "rolled_back"
    assert aws.stack_resources("reuse-fail") == {}
    assert network.snapshot() == before
    mutated = [c for c in proxy.calls if c.operation.startswith(("Delete", "Detach", "Disassociate", "Modify", "Replace"))
               and any(i in c.body for i in network.ids)]
    assert mutated == []


@pytest.mark.parametrize("operation", ["RunInstances", "CreateFileSystem"])
def test_lost_response_is_still_rolled_back(aws, proxy, playbook, deploy_vars, state_dir, operation):
    proxy.add(Rule(operation, error="UnauthorizedOperation", forward_first=True, times=1))
    stack = "lost-" + operation.lower()
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    assert run.rc != 0
    assert [c.injected for c in consistency.settled(proxy.calls) if c.operation == operation][0] == "UnauthorizedOperation"
    assert aws.stack_resources(stack) == {}
    state = load_state(state_dir, stack)
    assert state["status"] == "rolled_back"
    lost_type = "instance" if operation == "RunInstances" else "file_system"
    # It never reached the ledger through the create; the teardown found it by its ownership mark.
    assert any(e["type"] == lost_type and e["provenance"] == "adopted" and e["status"] == "deleted" for e in state["resources"])


def test_a_rollback_seconds_after_the_launch_terminates_what_ec2_does_not_know_yet(aws, proxy, playbook, deploy_vars, state_dir):
    # EC2 may answer NotFound to a TerminateInstances sent seconds after RunInstances, while the instance runs (and
    # bills) all the same: believed at once, the rollback would leave it behind.
    proxy.add(Rule("CreateVolume", error="VolumeLimitExceeded"))
    proxy.add(Rule("TerminateInstances", error="InvalidInstanceID.NotFound",
                   message="The instance ID 'i-0' does not exist", times=2))
    run = playbook("deploy", stack_name="rb-young", **deploy_vars)
    state = assert_rolled_back(aws, state_dir, "rb-young", run)
    assert [c.injected for c in proxy.calls if c.operation == "TerminateInstances"][:3] == [
        "InvalidInstanceID.NotFound", "InvalidInstanceID.NotFound", None]
    assert [e["outcome"] for e in state["events"] if e["type"] == "instance" and e["action"] == "delete"][:3] == [
        "retry", "retry", "requested"]


def test_rerun_after_a_failure_resumes_without_duplicates(aws, proxy, playbook, deploy_vars, state_dir):
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity"))
    failed = playbook("deploy", stack_name="again", rollback=False, **deploy_vars)
    assert failed.rc != 0
    partial = aws.stack_resources("again")
    assert "instance" not in partial and "file_system" in partial
    proxy.clear()
    retried = playbook("deploy", stack_name="again", **deploy_vars)
    assert retried.rc == 0, retried.output[-3000:]
    held = aws.stack_resources("again")
    assert {k: v for k, v in held.items() if k not in ("instance", "volume")} == partial
    assert len(held["instance"]) == 1 and len(held["volume"]) == 1
    state = load_state(state_dir, "again")
    assert state["status"] == "deployed" and state["failure"] is None
    created = [c.operation for c in proxy.calls if c.operation.startswith("Create")]
    assert created == ["CreateVolume"], created  # everything but the instance and its volume was adopted, not made again


def test_destroy_check_prints_the_plan_in_order_and_keep_data(aws, proxy, playbook, deploy_vars, state_dir):
    assert playbook("deploy", stack_name="plan", **deploy_vars).rc == 0
    held = aws.stack_resources("plan")
    proxy.clear()
    dry = playbook("destroy", "--check", stack_name="plan")
    assert dry.rc == 0, dry.output[-3000:]
    assert aws.stack_resources("plan") == held
    assert proxy.operations(mutating_only=True) == []
    out = dry.stdout
    assert out.index(held["instance"][0]) < out.index(held["subnet"][0]) < out.index(held["vpc"][0])
    assert out.index(held["mount_target"][0]) < out.index(held["file_system"][0])
    kept = playbook("destroy", stack_name="plan", keep_data=True)
    assert kept.rc == 0, kept.output[-3000:]
    data = ("file_system", "volume", "ssm_parameter")
    assert aws.stack_resources("plan") == {kind: held[kind] for kind in data}
    state = load_state(state_dir, "plan")
    assert state["status"] == "destroyed"
    assert {e["status"] for e in state["resources"] if e["type"] in data} == {"retained"}
    assert playbook("destroy", stack_name="plan").rc == 0
    assert aws.stack_resources("plan") == {}


def test_on_failure_prompt_asks_on_a_terminal_and_follows_rollback_without_one(aws, proxy, playbook, deploy_vars, state_dir):
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity"))
    kept = playbook("deploy", stack_name="asked", on_failure="prompt", terminal_input=("[k] keep everything", "k\r"), **deploy_vars)
    assert kept.rc != 0
    assert "[k] keep everything" in kept.output
    assert load_state(state_dir, "asked")["status"] == "failed"
    assert "file_system" in aws.stack_resources("asked")
    headless = playbook("deploy", stack_name="headless", on_failure="prompt", **deploy_vars)
    assert headless.rc != 0
    assert load_state(state_dir, "headless")["status"] == "rolled_back"
    assert aws.stack_resources("headless") == {}
