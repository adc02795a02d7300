"""Every long wait keeps the run's lock alive: with S3 state on AWX, a lock whose heartbeat stops is judged stale by
another host, which then takes the stack over midway (issue 21). Each wait runs under a fake clock while AWS keeps
the resource pending for several polls; a heartbeat spy must see a beat before every sleep."""

import copy

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system, instance, kinds, mount_target, teardown, volume
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule
from tests.support.aws_calls import after_call, client_error, spy, states_in_turn
from tests.unit.conftest import SESSION
from tests.unit.test_file_system import INVALID_PRINCIPAL
from tests.unit import test_health, test_instance
from tests.unit.test_health import CREDENTIALS, launch, put_credentials, run_module
from tests.unit.test_instance import PROFILE, PROFILE_ERROR, SCRIPT
from tests.support.health_stub import connect_to, start_stub

# The fixtures of the instance's and the health check's own tests, for the waits of theirs.
network = test_instance.network
recorded = test_health.recorded

POLLS = 4  # how many polls AWS keeps each resource pending


class Beats:
    """The heartbeat spy: the fake clock's reading at every beat."""

    def __init__(self, fake_time):
        self.fake_time = fake_time
        self.at = []

    def __call__(self, *args, **kwargs):
        self.at.append(self.fake_time.clock())


@pytest.fixture
def beats(stack, fake_time):
    spy_ = Beats(fake_time)
    stack.heartbeat = spy_
    return spy_


def assert_a_beat_before_every_sleep(beats, fake_time):
    assert len(fake_time.sleeps) >= POLLS, "the wait did not wait: the test proves nothing"
    assert len(beats.at) == len(fake_time.sleeps), (beats.at, fake_time.sleeps)


def pending_instances(ec2, state, polls=POLLS, once=None):
    """The next ``polls`` describes of instances by id (once the calls in ``once`` were made) show them in ``state``."""
    left = [polls]

    def change(params, parsed):
        if params.get("InstanceIds") and left[0] > 0 and (once is None or once):
            left[0] -= 1
            for reservation in parsed.get("Reservations", []):
                for item in reservation["Instances"]:
                    item["State"] = {"Code": 0 if state == "pending" else 64, "Name": state}

    after_call(ec2, "DescribeInstances", change)


def initializing_status(ec2, polls=POLLS):
    left = [polls]

    def change(params, parsed):
        if left[0] > 0:
            left[0] -= 1
            for item in parsed.get("InstanceStatuses", []):
                item["InstanceStatus"]["Status"] = item["SystemStatus"]["Status"] = "initializing"

    after_call(ec2, "DescribeInstanceStatus", change)


def launch_instance(stack, network, fake_time):
    return instance.ensure(stack, 1, "t3.micro", network["ami_id"], network["subnet_ids"], network["security_group_id"],
                           PROFILE, SCRIPT, use_spot=False, timeout=600, clock=fake_time.clock, sleep=fake_time.sleep)


def test_the_instance_profile_iam_has_not_propagated(stack, network, beats, fake_time):
    spy(stack.clients.ec2, "RunInstances", [client_error("InvalidParameterValue", "RunInstances", message=PROFILE_ERROR)] * POLLS)
    launch_instance(stack, network, fake_time)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_instance_running(stack, network, beats, fake_time):
    pending_instances(stack.clients.ec2, "pending")
    launch_instance(stack, network, fake_time)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_instance_status_checks(stack, network, beats, fake_time):
    initializing_status(stack.clients.ec2)
    launch_instance(stack, network, fake_time)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_instance_stop(stack, network, beats, fake_time):
    [launched] = launch_instance(stack, network, fake_time)
    pending_instances(stack.clients.ec2, "stopping")
    instance.stop(stack, [launched["id"]], 600, clock=fake_time.clock, sleep=fake_time.sleep)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_instance_start(stack, network, beats, fake_time):
    [launched] = launch_instance(stack, network, fake_time)
    instance.stop(stack, [launched["id"]], 600, clock=fake_time.clock, sleep=fake_time.sleep)
    pending_instances(stack.clients.ec2, "pending", once=spy(stack.clients.ec2, "StartInstances"))
    instance.start(stack, [launched["id"]], 600, clock=fake_time.clock, sleep=fake_time.sleep)
    assert_a_beat_before_every_sleep(beats, fake_time)


@pytest.mark.parametrize("phase", ["create", "attach"])
def test_the_data_volume(stack, beats, fake_time, phase):
    ec2 = SESSION.client("ec2", region_name="us-east-1")
    image_id = ec2.register_image(Name="geusemaker-unit", RootDeviceName="/dev/xvda")["ImageId"]
    placed = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    attaches = spy(stack.clients.ec2, "AttachVolume")
    left = [POLLS]

    def change(params, parsed):
        # Creating for a while, or (once attach was asked) still available: the attachment takes its time.
        if params.get("VolumeIds") and left[0] > 0 and (phase == "create") != bool(attaches):
            left[0] -= 1
            for item in parsed.get("Volumes", []):
                item["State"], item["Attachments"] = ("creating" if phase == "create" else "available"), []

    after_call(stack.clients.ec2, "DescribeVolumes", change)
    if phase == "create":
        after_call(stack.clients.ec2, "CreateVolume", lambda params, parsed: parsed.update(State="creating"))
    volume.ensure(stack, placed["InstanceId"], placed["Placement"]["AvailabilityZone"], clock=fake_time.clock, sleep=fake_time.sleep)
    assert left == [0]
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_file_system(stack, beats, fake_time):
    states_in_turn(stack.clients.efs, "DescribeFileSystems", "FileSystems", ["creating"] * POLLS + ["available"],
                   when=lambda params: "FileSystemId" in params)
    after_call(stack.clients.efs, "CreateFileSystem", lambda params, parsed: parsed.update(LifeCycleState="creating"))
    file_system.ensure(stack, clock=fake_time.clock, sleep=fake_time.sleep)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_file_system_policy_iam_has_not_propagated(stack, beats, fake_time):
    file_system_id, arn = file_system.ensure(stack, clock=fake_time.clock, sleep=fake_time.sleep)
    role = "arn:aws:iam::123456789012:role/geusemaker/geusemaker-unit-us-east-1"
    spy(stack.clients.efs, "PutFileSystemPolicy",
        [client_error("InvalidPolicyException", "PutFileSystemPolicy", message=INVALID_PRINCIPAL)] * POLLS)
    file_system.ensure_client_policy(stack, file_system_id, arn, role, clock=fake_time.clock, sleep=fake_time.sleep)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_mount_targets(stack, beats, fake_time):
    ec2 = stack.clients.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.{0}.0/24".format(index), AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for index, zone in enumerate(("us-east-1a", "us-east-1b"))]
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="unit-efs", Description="efs")["GroupId"]
    file_system_id, _unused = file_system.ensure(stack, clock=fake_time.clock, sleep=fake_time.sleep)
    states_in_turn(stack.clients.efs, "DescribeMountTargets", "MountTargets", ["creating"] * (POLLS + 2) + ["available"])
    after_call(stack.clients.efs, "CreateMountTarget", lambda params, parsed: parsed.update(LifeCycleState="creating"))
    mount_target.ensure(stack, file_system_id, subnets, group, timeout=600, clock=fake_time.clock, sleep=fake_time.sleep)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_a_mount_target_while_the_file_system_is_not_yet_available(stack, beats, fake_time):
    ec2 = stack.clients.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="unit-efs", Description="efs")["GroupId"]
    file_system_id, _unused = file_system.ensure(stack, clock=fake_time.clock, sleep=fake_time.sleep)
    spy(stack.clients.efs, "CreateMountTarget", [client_error("IncorrectFileSystemLifeCycleState", "CreateMountTarget")] * POLLS)
    mount_target.ensure(stack, file_system_id, [subnet], group, timeout=600, clock=fake_time.clock, sleep=fake_time.sleep)
    assert_a_beat_before_every_sleep(beats, fake_time)


def test_the_teardown(store, monkeypatch):
    """The teardown's workers wait in real time (a short poll); its main loop beats while they do."""
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.record("vpc", "vpc-1", "created")
    polls, beats = [POLLS * 3], []

    class StillThere:
        @staticmethod
        def owned(clients, entry, stack_name, region):
            return True

        @staticmethod
        def delete(clients, entry):
            return None

        @staticmethod
        def exists(clients, entry):
            polls[0] -= 1
            return polls[0] > 0

    monkeypatch.setitem(kinds.KINDS, "vpc", copy.copy(kinds.KINDS["vpc"]))
    kinds.KINDS["vpc"].impl = StillThere
    done, left = teardown.Teardown(ledger, None, timeout=60, poll=0.02, heartbeat=lambda: beats.append(1)).run(
        teardown.build_plan(ledger, []))
    assert [entry["id"] for entry in done] == ["vpc-1"] and left == []
    assert len(beats) >= POLLS, beats


def test_the_health_check(aws, tmp_path, recorded, capsys, monkeypatch):  # noqa: F811 (the fixture)
    put_credentials()
    recorded(launch())
    beats = []
    monkeypatch.setattr(StackModule, "heartbeat", lambda self, after_save=False: beats.append(after_save))
    url, stop = start_stub("unhealthy", credentials=CREDENTIALS)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=2, interval=0.05)
    finally:
        stop()
    assert result["health"] == "degraded"
    rounds = [seen for seen in stop.seen if seen["path"] == "/geusemaker/status.json"]
    assert len(rounds) >= 2, "the wait did not wait: the test proves nothing"
    assert beats.count(False) == len(rounds) - 1, (beats, len(rounds))  # a beat between every two rounds
