import os

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system, mount_target
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import planned_id
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import (
    after_call,
    always,
    answer_in_turn,
    client_error,
    lose_responses,
    on_call,
    spy,
    states_in_turn,
)
from tests.unit.conftest import wrapped_client

REGION = "us-east-1"


@pytest.fixture
def network(stack, fake_time):
    """A file system of the stack, two subnets in different zones and a security group."""
    ec2 = stack.clients.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.{0}.0/24".format(index), AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for index, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="unit-efs", Description="efs")["GroupId"]
    file_system_id, _unused = file_system.ensure(stack, clock=fake_time.clock, sleep=fake_time.sleep)
    return {"file_system_id": file_system_id, "subnet_ids": subnets, "security_group_id": group}


def run(stack, network, fake_time, timeout=30, **overrides):
    args = dict(network)
    args.update(overrides)
    return mount_target.ensure(
        stack, args["file_system_id"], args["subnet_ids"], args["security_group_id"],
        timeout=timeout, clock=fake_time.clock, sleep=fake_time.sleep,
    )


def spy_create(monkeypatch, stack, failures=(), state=None, lose_response=False):
    """Record CreateMountTarget calls; raise the given errors first; optionally report a state or lose the answer."""
    efs = stack.clients.efs
    if lose_response:
        lose_responses(efs, "CreateMountTarget", client_error("MountTargetConflict"))
    if state:
        after_call(efs, "CreateMountTarget", lambda params, parsed: parsed.update(LifeCycleState=state))
    return spy(efs, "CreateMountTarget", refusals=failures)


def states_on_describe(monkeypatch, stack, states):
    """Answer DescribeMountTargets(FileSystemId=...) with the given states in turn (the last repeats)."""
    states_in_turn(stack.clients.efs, "DescribeMountTargets", "MountTargets", states)


def mount_target_rows(saved):
    return [
        (r["id"], r["provenance"], r["key"], r["file_system_id"], r["subnet_id"], r["security_group_id"])
        for r in saved["resources"]
        if r["type"] == "mount_target"
    ]


def test_creates_one_per_subnet_in_order_and_records_them(stack, store, network, fake_time):
    ids = run(stack, network, fake_time)
    efs = stack.clients.efs
    assert len(ids) == 2
    for mount_target_id, subnet_id in zip(ids, network["subnet_ids"]):
        described = efs.describe_mount_targets(MountTargetId=mount_target_id)["MountTargets"][0]
        assert described["SubnetId"] == subnet_id
        assert described["FileSystemId"] == network["file_system_id"]
        groups = efs.describe_mount_target_security_groups(MountTargetId=mount_target_id)["SecurityGroups"]
        assert groups == [network["security_group_id"]]
    assert mount_target_rows(store.load("unit")) == [
        (mount_target_id, "created", "mount-target-" + subnet_id, network["file_system_id"], subnet_id,
         network["security_group_id"])
        for mount_target_id, subnet_id in zip(ids, network["subnet_ids"])
    ]
    assert stack.changed
    assert fake_time.sleeps == []


def test_second_run_adopts_without_change(make_stack, stack, store, network, fake_time):
    first = run(stack, network, fake_time)
    again = make_stack()
    assert run(again, network, fake_time) == first
    assert not again.changed
    assert [row[1] for row in mount_target_rows(store.load("unit"))] == ["created", "created"]


def test_lost_ledger_adopts(make_stack, stack, store, network, fake_time):
    first = run(stack, network, fake_time)
    os.remove(store.location("unit"))
    again = make_stack()
    assert run(again, network, fake_time) == first
    assert [row[1] for row in mount_target_rows(store.load("unit"))] == ["adopted", "adopted"]
    assert not again.changed


class NoAws:
    def __getattr__(self, name):
        raise AssertionError("no AWS call expected, got {0}".format(name))


def test_check_mode_with_planned_file_system_plans_all_without_aws(make_stack, store):
    stack = make_stack(check_mode=True)
    stack.clients = NoAws()
    fs_id = planned_id("file_system", file_system.KEY)
    ids = mount_target.ensure(stack, fs_id, ["subnet-a", "subnet-b"], "sg-1")
    assert ids == [planned_id("mount_target", "mount-target-subnet-a"), planned_id("mount_target", "mount-target-subnet-b")]
    assert stack.planned == [
        {"type": "mount_target", "key": "mount-target-subnet-a", "subnet_id": "subnet-a"},
        {"type": "mount_target", "key": "mount-target-subnet-b", "subnet_id": "subnet-b"},
    ]
    assert stack.changed
    assert store.load("unit") is None


def test_check_mode_adopts_existing_and_plans_missing(make_stack, stack, store, network, fake_time):
    first = run(stack, network, fake_time, subnet_ids=network["subnet_ids"][:1])
    saved = store.load("unit")
    checking = make_stack(check_mode=True)
    ids = run(checking, network, fake_time)
    assert ids == [first[0], planned_id("mount_target", "mount-target-" + network["subnet_ids"][1])]
    assert checking.planned == [
        {"type": "mount_target", "key": "mount-target-" + network["subnet_ids"][1], "subnet_id": network["subnet_ids"][1]}
    ]
    assert len(stack.clients.efs.describe_mount_targets(FileSystemId=network["file_system_id"])["MountTargets"]) == 1
    assert store.load("unit") == saved


def test_file_system_still_creating_is_retried(stack, monkeypatch, network, fake_time):
    calls = spy_create(monkeypatch, stack, [client_error("IncorrectFileSystemLifeCycleState")])
    ids = run(stack, network, fake_time)
    assert len(calls) == 3 and len(ids) == 2
    assert fake_time.sleeps == [1.5]


def test_file_system_never_available_fails_after_the_timeout(stack, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, [client_error("IncorrectFileSystemLifeCycleState")] * 100)
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time, timeout=6)
    assert failure.value.details["error_code"] == "IncorrectFileSystemLifeCycleState"
    assert "cannot create a mount target in " + network["subnet_ids"][0] in str(failure.value)
    assert fake_time.now <= 6


def test_lost_create_response_is_recorded_created(stack, store, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, lose_response=True)
    ids = run(stack, network, fake_time)
    assert [row[:2] for row in mount_target_rows(store.load("unit"))] == [(ids[0], "created"), (ids[1], "created")]


def test_conflict_without_a_mount_target_in_the_subnet_fails(stack, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, [client_error("MountTargetConflict")])
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time)
    assert failure.value.details["error_code"] == "MountTargetConflict"


def test_create_failure_is_logged_and_fails(stack, store, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, [client_error("SubnetNotFound")])
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time)
    details = failure.value.details
    assert details["resource_type"] == "mount_target" and details["error_code"] == "SubnetNotFound"
    event = store.load("unit")["events"][-1]
    assert (event["action"], event["type"], event["outcome"], event["error_code"]) == (
        "create", "mount_target", "error", "SubnetNotFound"
    )
    assert mount_target_rows(store.load("unit")) == []


def test_listing_failure_fails(stack, network, fake_time):
    on_call(stack.clients.efs, "DescribeMountTargets", always(client_error("AccessDeniedException", "DescribeMountTargets")))
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time)
    assert failure.value.details["error_code"] == "AccessDeniedException"


def test_waits_until_all_available(stack, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, state="creating")
    states_on_describe(monkeypatch, stack, ["available", "creating", "creating", "available"])
    ids = run(stack, network, fake_time)
    assert len(ids) == 2
    assert fake_time.sleeps == [1.5, 1.5]


def test_timeout_fails_critically_after_recording(stack, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, state="creating")
    states_on_describe(monkeypatch, stack, ["available", "creating"])
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time, timeout=10)
    details = failure.value.details
    assert details["resource_type"] == "mount_target" and details["critical"] and details["error_code"] == "Timeout"
    assert stack.ledger.find("mount_target", details["resource_id"])["provenance"] == "created"
    assert fake_time.now <= 10


def test_error_state_fails_critically(stack, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, state="creating")
    states_on_describe(monkeypatch, stack, ["available", "creating", "error"])
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time)
    details = failure.value.details
    assert details["error_code"] == "MountTargetError" and details["critical"]
    assert stack.ledger.find("mount_target", details["resource_id"])["provenance"] == "created"


def test_describe_failure_while_waiting_fails(stack, monkeypatch, network, fake_time):
    spy_create(monkeypatch, stack, state="creating")
    states_on_describe(monkeypatch, stack, ["available", client_error("AccessDeniedException", "DescribeMountTargets")])
    with pytest.raises(StackFailure) as failure:
        run(stack, network, fake_time)
    assert failure.value.details["error_code"] == "AccessDeniedException"
    event = stack.ledger.document["events"][-1]
    assert (event["action"], event["type"], event["outcome"]) == ("wait", "mount_target", "error")


def test_discover_finds_each_zones_mount_target(stack, network, fake_time):
    ids = run(stack, network, fake_time)
    found = mount_target.discover(stack.clients, "unit", REGION)
    assert sorted(found, key=lambda item: item["id"]) == sorted(
        [
            {"id": mount_target_id, "key": "mount-target-" + subnet_id, "file_system_id": network["file_system_id"],
             "subnet_id": subnet_id}
            for mount_target_id, subnet_id in zip(ids, network["subnet_ids"])
        ],
        key=lambda item: item["id"],
    )
    assert mount_target.discover(stack.clients, "other", REGION) == []
    # One of several goes; discover still finds the others (the rest: test_kind_contract.py).
    mount_target.delete(stack.clients, stack.ledger.find("mount_target", ids[0]))
    assert [item["id"] for item in mount_target.discover(stack.clients, "unit", REGION)] == ids[1:]


class FakeClients:
    def __init__(self, efs):
        self.efs = efs


def fake_efs(pages=None, state="available", error=None):
    """An EFS client with one file system of the stack, answering mount target pages, states and errors the
    emulator does not produce; returns it and the params of its listing calls."""
    efs = wrapped_client("efs")
    answer_in_turn(efs, "DescribeFileSystems", [{"FileSystems": [
        {"FileSystemId": "fs-1", "CreationToken": "geusemaker-unit-us-east-1", "LifeCycleState": "available"}]}])
    by_id = [error] if error else [{"MountTargets": [{"MountTargetId": "fsmt-0123456789abc", "LifeCycleState": state}]}]
    answer_in_turn(efs, "DescribeMountTargets", by_id, when=lambda params: "MountTargetId" in params)
    calls = answer_in_turn(efs, "DescribeMountTargets", pages or [{}], when=lambda params: "MountTargetId" not in params)
    return efs, calls


def test_discover_pages_and_skips_deleted(aws):
    live = {"MountTargetId": "fsmt-1", "SubnetId": "subnet-a", "LifeCycleState": "available"}
    gone = {"MountTargetId": "fsmt-2", "SubnetId": "subnet-b", "LifeCycleState": "deleted"}
    efs, calls = fake_efs(pages=[{"MountTargets": [gone], "NextMarker": "m1"}, {"MountTargets": [live]}])
    assert mount_target.discover(FakeClients(efs), "unit", REGION) == [
        {"id": "fsmt-1", "key": "mount-target-subnet-a", "file_system_id": "fs-1", "subnet_id": "subnet-a"}
    ]
    assert calls == [{"FileSystemId": "fs-1"}, {"FileSystemId": "fs-1", "Marker": "m1"}]


def test_exists_states_and_errors(aws):
    entry = {"id": "fsmt-0123456789abc"}
    assert not mount_target.exists(FakeClients(fake_efs(state="deleted")[0]), entry)
    assert mount_target.exists(FakeClients(fake_efs(state="deleting")[0]), entry)
    assert not mount_target.KIND.exists(FakeClients(fake_efs(error=client_error("MountTargetNotFound"))[0]), entry)
    with pytest.raises(ClientError):
        mount_target.KIND.exists(FakeClients(fake_efs(error=client_error("AccessDeniedException"))[0]), entry)


def test_one_mount_target_per_zone_when_subnets_share_one(stack, store, network, fake_time):
    """EFS refuses a second mount target in a zone (MountTargetConflict): a user's two subnets in one zone get one."""
    ec2 = stack.clients.ec2
    vpc_id = ec2.describe_subnets(SubnetIds=network["subnet_ids"][:1])["Subnets"][0]["VpcId"]
    same_zone = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.9.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    first, other_zone = network["subnet_ids"]
    creates = spy(stack.clients.efs, "CreateMountTarget")
    ids = run(stack, network, fake_time, subnet_ids=[first, same_zone, other_zone])
    assert [c["SubnetId"] for c in creates] == [first, other_zone] and len(ids) == 2
    assert [row[:2] for row in mount_target_rows(store.load("unit"))] == [(ids[0], "created"), (ids[1], "created")]


def test_a_mount_target_already_in_the_zone_is_adopted_whatever_its_subnet(stack, store, network, fake_time):
    ec2 = stack.clients.ec2
    vpc_id = ec2.describe_subnets(SubnetIds=network["subnet_ids"][:1])["Subnets"][0]["VpcId"]
    same_zone = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.9.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    made = stack.clients.efs.create_mount_target(FileSystemId=network["file_system_id"], SubnetId=same_zone,
                                                 SecurityGroups=[network["security_group_id"]])["MountTargetId"]
    creates = spy(stack.clients.efs, "CreateMountTarget")
    ids = run(stack, network, fake_time)
    assert [c["SubnetId"] for c in creates] == [network["subnet_ids"][1]] and ids[0] == made
