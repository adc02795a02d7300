# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The stack's data volume: an encrypted gp3 EBS volume for PostgreSQL and Qdrant (databases do not belong on
NFS). It is created once the instance is placed, in the instance's zone, tagged at birth, recorded, then attached
as DEVICE; the boot script formats it only when it is empty. It is data: keep_data keeps it, and a kept volume
pins the zone of the next deploy."""

import sys
import time

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import WaitFailed, WaitTimeout, wait_until
from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import Describe
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import EC2_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG, is_planned

TYPE = "volume"
GONE_CODES = ("InvalidVolume.NotFound",)
KEY = "data"
DEVICE = "/dev/sdf"
DEFAULT_SIZE_GIB = 100
POLL_INTERVAL = 2
LIVE_STATES = ("creating", "available", "in-use")
VOLUMES = Describe("describe_volumes", "Volumes", "volume-id", "VolumeId")


def find_owned(ec2, stack_name, recorded=()):
    found = [item for item in VOLUMES.owned(ec2, stack_name, KEY, recorded=recorded) if item["State"] in LIVE_STATES]
    return found[0] if found else None


def kept(ec2, stack_name):
    """(zone, problem) of the stack's existing data volume (kept from an earlier deploy, or tagged for it by hand):
    a deploy must place the instance in its zone, and it must be encrypted to hold the databases. (None, None) when
    the stack has none."""
    found = find_owned(ec2, stack_name)
    if found is None:
        return None, None
    problem = None
    if not found.get("Encrypted"):
        problem = ("data volume {0}, tagged for this stack, is not encrypted; the stack keeps its databases only on an "
                   "encrypted volume. Make an encrypted copy (aws ec2 copy-snapshot --encrypted, then create-volume from "
                   "it, tagged like this one), then remove this one's {1} tag".format(found["VolumeId"], STACK_TAG))
    return found["AvailabilityZone"], problem


def attached_to(item):
    return [a["InstanceId"] for a in item.get("Attachments", []) if a.get("State") in ("attaching", "attached")]


def wait_for(stack, waiter, wanted, volume_id, deadline, clock, sleep):
    """Wait until the volume is ``wanted`` (botocore's ``waiter``); a failure or the deadline fails critically."""
    try:
        with stack.aws_call("cannot check the state of data volume {0}".format(volume_id), TYPE, volume_id, action="wait"):
            wait_until(stack.clients.ec2, waiter, max(0, deadline - clock()), POLL_INTERVAL, clock, sleep, heartbeat=stack.heartbeat,
                       VolumeIds=[volume_id])
    except (WaitFailed, WaitTimeout) as e:
        stack.fail("data volume {0} did not become {1}".format(volume_id, wanted), resource_type=TYPE, resource_id=volume_id,
                   error_code="VolumeError" if isinstance(e, WaitFailed) else "Timeout", critical=True)


def ensure(stack, instance_id, availability_zone, size=DEFAULT_SIZE_GIB, timeout=300, clock=time.monotonic, sleep=time.sleep):
    """Adopt or create the data volume in ``availability_zone``, record it, attach it to ``instance_id``.

    Returns the volume id (a placeholder in check mode when it would be created)."""
    deadline = clock() + timeout
    ec2 = stack.clients.ec2

    def create():
        return ec2.create_volume(
            aws_retry=True, AvailabilityZone=availability_zone, Size=size, VolumeType="gp3", Encrypted=True,
            TagSpecifications=boto3_tag_specifications(stack.tags(KEY), ["volume"]))

    found, provenance = stack.adopt_or_create(
        TYPE, "the data volume", lambda: find_owned(ec2, stack.stack_name, stack.recorded_ids(TYPE)), create)
    if found is None:
        return stack.plan(TYPE, KEY, availability_zone=availability_zone, size=size, instance_id=instance_id)
    volume_id = found["VolumeId"]
    stack.record(TYPE, volume_id, provenance, key=KEY, availability_zone=found["AvailabilityZone"], size=found["Size"])
    if is_planned(instance_id):  # check mode: the instance is not there to attach to
        stack.changed = True
        return volume_id
    if found["AvailabilityZone"] != availability_zone:
        stack.fail("data volume {0} is in {1}, but instance {2} is in {3}; a volume attaches only in its own zone".format(
            volume_id, found["AvailabilityZone"], instance_id, availability_zone), resource_type=TYPE, resource_id=volume_id,
            error_code="VolumeInAnotherZone", critical=True)
    if attached_to(found) == [instance_id]:
        return volume_id
    stack.changed = True
    if stack.check_mode:
        return volume_id
    if found["State"] == "creating":
        wait_for(stack, "volume_available", "available", volume_id, deadline, clock, sleep)
    with stack.aws_call("cannot attach data volume {0} to {1}".format(volume_id, instance_id), TYPE, volume_id, action="attach"):
        ec2.attach_volume(aws_retry=True, VolumeId=volume_id, InstanceId=instance_id, Device=DEVICE)
    wait_for(stack, "volume_in_use", "attached", volume_id, deadline, clock, sleep)
    return volume_id


delete = VOLUMES.deleter("delete_volume")
owned = VOLUMES.marks


def exists(clients, entry):
    return any(item["State"] in LIVE_STATES for item in VOLUMES.by_ids(clients.ec2, [entry["id"]]))


def discover(clients, stack_name, region):
    return [{"id": item["VolumeId"], "key": KEY, "availability_zone": item["AvailabilityZone"]}
            for item in VOLUMES.owned(clients.ec2, stack_name, KEY) if item["State"] in LIVE_STATES]


GP3_USD_PER_GB_MONTH = 0.08
HOURS_PER_MONTH = 730


def hourly_usd(entry):
    return (entry.get("size") or DEFAULT_SIZE_GIB) * GP3_USD_PER_GB_MONTH / HOURS_PER_MONTH


def cost_note(entry):
    size = entry.get("size") or DEFAULT_SIZE_GIB
    return "about USD {0:.2f}/month ({1} GiB gp3)".format(hourly_usd(entry) * HOURS_PER_MONTH, size)


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, EC2_CONSOLE + "VolumeDetails:volumeId={id}", "aws ec2 delete-volume --region {r} --volume-id {id}",
    delete_after=("instance",),  # attached until its instance is gone
    busy_codes=("VolumeInUse",), data=True, hourly_usd=hourly_usd, cost_note=cost_note,
))
