import os

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import volume
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG, planned_id
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import after_call, hide_tag_lookups, spy
from tests.unit.conftest import SESSION


@pytest.fixture
def placed(aws):
    """An instance, as the compute role has launched it: (instance id, its zone)."""
    ec2 = SESSION.client("ec2", region_name="us-east-1")
    image_id = ec2.register_image(Name="geusemaker-unit", RootDeviceName="/dev/xvda")["ImageId"]
    found = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    return found["InstanceId"], found["Placement"]["AvailabilityZone"]


@pytest.fixture
def ensure(fake_time):
    def run(stack, instance_id, zone, **kwargs):
        return volume.ensure(stack, instance_id, zone, clock=fake_time.clock, sleep=fake_time.sleep, **kwargs)

    return run


def described(stack, volume_id):
    return stack.clients.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]


def test_creates_an_encrypted_gp3_volume_in_the_zone_tagged_at_birth_and_attaches_it(stack, placed, ensure, store):
    instance_id, zone = placed
    creates = spy(stack.clients.ec2, "CreateVolume")
    volume_id = ensure(stack, instance_id, zone, size=50)
    found = described(stack, volume_id)
    assert (found["Size"], found["VolumeType"], found["Encrypted"], found["AvailabilityZone"]) == (50, "gp3", True, zone)
    assert [(a["InstanceId"], a["Device"]) for a in found["Attachments"]] == [(instance_id, volume.DEVICE)]
    [call] = creates
    assert {t["Key"]: t["Value"] for t in call["TagSpecifications"][0]["Tags"]}[STACK_TAG] == "unit"
    entry = store.load("unit")["resources"][0]
    assert (entry["type"], entry["id"], entry["provenance"], entry["key"]) == ("volume", volume_id, "created", "data")
    assert volume.kept(stack.clients.ec2, "unit") == (zone, None)
    assert stack.changed


def test_a_rerun_adopts_the_attached_volume_without_change(make_stack, placed, ensure, store):
    instance_id, zone = placed
    first = ensure(make_stack(), instance_id, zone)
    again = make_stack()
    attaches = spy(again.clients.ec2, "AttachVolume")
    assert ensure(again, instance_id, zone) == first
    assert attaches == [] and not again.changed
    assert store.load("unit")["resources"][0]["provenance"] == "created"


def test_a_rerun_seconds_after_the_create_adopts_what_the_tag_filters_do_not_show_yet(make_stack, placed, ensure, store):
    instance_id, zone = placed
    first = ensure(make_stack(), instance_id, zone)
    again = make_stack()
    hide_tag_lookups(again.clients.ec2)
    assert volume.find_owned(again.clients.ec2, "unit") is None  # a lookup by tag alone
    assert ensure(again, instance_id, zone) == first and not again.changed
    assert [r["type"] for r in store.load("unit")["resources"]] == ["volume"]


def test_a_kept_volume_attaches_to_the_next_instance(make_stack, placed, ensure, store):
    instance_id, zone = placed
    first = ensure(make_stack(), instance_id, zone)
    ec2 = SESSION.client("ec2", region_name="us-east-1")
    ec2.detach_volume(VolumeId=first, InstanceId=instance_id)
    os.remove(store.location("unit"))  # the ledger is gone; the tags still say whose volume it is
    stack = make_stack()
    assert ensure(stack, instance_id, zone) == first
    assert store.load("unit")["resources"][0]["provenance"] == "adopted"
    assert [a["InstanceId"] for a in described(stack, first)["Attachments"]] == [instance_id]


def test_a_volume_in_another_zone_fails_critically(make_stack, placed, ensure):
    instance_id, zone = placed
    first = ensure(make_stack(), instance_id, zone)
    SESSION.client("ec2", region_name="us-east-1").detach_volume(VolumeId=first, InstanceId=instance_id)
    with pytest.raises(StackFailure) as failure:
        ensure(make_stack(), instance_id, "us-east-1z")
    details = failure.value.details
    assert (details["error_code"], details["resource_id"], details["critical"]) == ("VolumeInAnotherZone", first, True)


def test_check_mode_plans_and_creates_nothing(make_stack, placed, ensure, store):
    instance_id, zone = placed
    stack = make_stack(check_mode=True)
    planned = ensure(stack, planned_id("instance", "instance-0"), zone)
    assert planned.startswith("(new") and stack.planned[0]["type"] == "volume" and stack.changed
    assert volume.discover(stack.clients, "unit", "us-east-1") == [] and store.load("unit") is None


def test_an_attachment_that_never_completes_fails_critically(stack, placed, ensure, fake_time):
    instance_id, zone = placed
    after_call(stack.clients.ec2, "DescribeVolumes", lambda params, parsed: [
        item.update(State="available", Attachments=[]) for item in parsed.get("Volumes", []) if params.get("VolumeIds")])
    with pytest.raises(StackFailure) as failure:
        ensure(stack, instance_id, zone, timeout=20)
    assert failure.value.details["error_code"] == "Timeout" and failure.value.details["critical"]
    assert stack.ledger.entries("volume")[0]["provenance"] == "created"  # recorded before the wait: rollback finds it
    assert fake_time.now <= 22


def test_delete_exists_discover(stack, placed, ensure):
    instance_id, zone = placed
    volume_id = ensure(stack, instance_id, zone)
    assert volume.discover(stack.clients, "unit", "us-east-1") == [{"id": volume_id, "key": "data", "availability_zone": zone}]
    entry = stack.ledger.find("volume", volume_id)
    assert volume.exists(stack.clients, entry)
    SESSION.client("ec2", region_name="us-east-1").detach_volume(VolumeId=volume_id, InstanceId=instance_id)
    volume.delete(stack.clients, entry)
    assert not volume.exists(stack.clients, entry)
    assert volume.kept(stack.clients.ec2, "unit") == (None, None)
