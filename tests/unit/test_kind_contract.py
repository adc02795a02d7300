"""The contract every registered kind keeps, against the emulator (issue 21). For each kind, with what its ensure
needs built by the stack's own code first:

1. ensure, and its ``discover`` finds what the ledger recorded, ids and keys; ensure again from a new run: the second adopts
   everything, unchanged, with the same ids;
2. the kind's ``exists`` says yes;
3. what its ``delete_after`` names is deleted first; then its ``delete``, and its ``exists`` says no (its gone codes decide);
4. a second delete answers one of its gone codes (or, where AWS's delete of a gone resource is a no-op, nothing);
5. its ``discover`` finds nothing of the stack's.

A new kind gets its row in BUILD and NEEDS, and the contract with it: test_every_registered_kind_keeps_the_contract
fails on a kind without one.
"""

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils import (
    file_system,
    iam_role,
    instance,
    instance_profile,
    internet_gateway,
    kinds,
    mount_target,
    route_table,
    security_group,
    ssm_parameter,
    subnet,
    volume,
    vpc,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import owned_entries
from tests.unit.conftest import REGION, SESSION

SCRIPT = "#!/bin/bash\necho geusemaker\n"

# What each kind's ensure needs first (built in this order, each by its own kind's ensure).
NEEDS = {
    "vpc": (),
    "internet_gateway": ("vpc",),
    "subnet": ("vpc",),
    "route_table": ("vpc", "internet_gateway", "subnet"),
    "security_group": ("vpc",),
    "file_system": (),
    "mount_target": ("vpc", "subnet", "security_group", "file_system"),
    "ssm_parameter": (),
    "iam_role": (),
    "instance_profile": ("iam_role",),
    "instance": ("vpc", "subnet", "security_group", "iam_role", "instance_profile"),
    "volume": ("vpc", "subnet", "security_group", "iam_role", "instance_profile", "instance"),
}

# How each kind is ensured, given what was built before it (``built``: type -> what its ensure returned).
BUILD = {
    "vpc": lambda stack, built, world: vpc.ensure(stack, "10.42.0.0/16"),
    "internet_gateway": lambda stack, built, world: internet_gateway.ensure(stack, built["vpc"]),
    "subnet": lambda stack, built, world: subnet.ensure(stack, built["vpc"], 2),
    "route_table": lambda stack, built, world: route_table.ensure(stack, built["vpc"], built["internet_gateway"],
                                                                  built["subnet"][0]),
    "security_group": lambda stack, built, world: security_group.ensure(stack, built["vpc"], [], []),
    "file_system": lambda stack, built, world: file_system.ensure(stack, clock=world.clock, sleep=world.sleep),
    "mount_target": lambda stack, built, world: mount_target.ensure(
        stack, built["file_system"][0], built["subnet"][0], built["security_group"], clock=world.clock, sleep=world.sleep),
    "ssm_parameter": lambda stack, built, world: ssm_parameter.ensure(stack),
    "iam_role": lambda stack, built, world: iam_role.ensure(stack),
    "instance_profile": lambda stack, built, world: instance_profile.ensure(stack, built["iam_role"][0]),
    "instance": lambda stack, built, world: instance.ensure(
        stack, 1, "t3.micro", world.image_id, built["subnet"][0], built["security_group"], built["instance_profile"][0],
        SCRIPT, timeout=60, clock=world.clock, sleep=world.sleep),
    "volume": lambda stack, built, world: volume.ensure(
        stack, built["instance"][0]["id"], built["instance"][0]["availability_zone"], clock=world.clock, sleep=world.sleep),
}

# Kinds whose AWS delete of a resource already gone succeeds: TerminateInstances on a terminated instance (EC2 keeps
# it visible for about an hour) is a no-op, not a refusal.
DELETE_OF_GONE_IS_A_NO_OP = {"instance"}


class World:
    """The emulator's image and a clock that moves only when a wait sleeps."""

    def __init__(self, fake_time):
        ec2 = SESSION.client("ec2", region_name=REGION)
        self.image_id = ec2.register_image(Name="geusemaker-contract", RootDeviceName="/dev/xvda")["ImageId"]
        self.clock, self.sleep = fake_time.clock, fake_time.sleep


def ensure_with_needs(resource_type, stack, world):
    built = {}
    for needed in NEEDS[resource_type] + (resource_type,):
        built[needed] = BUILD[needed](stack, built, world)
    return built


def ids_of(store, resource_type):
    return sorted(entry["id"] for entry in owned_entries(store.load("unit")) if entry["type"] == resource_type)


def test_every_registered_kind_keeps_the_contract():
    assert sorted(BUILD) == sorted(NEEDS) == sorted(kinds.KINDS)


@pytest.mark.parametrize("resource_type", sorted(NEEDS))
def test_a_kind_adopts_exists_deletes_is_gone_and_is_not_discovered(resource_type, make_stack, store, fake_time):
    kind = kinds.get(resource_type)
    world = World(fake_time)
    first = make_stack()
    ensure_with_needs(resource_type, first, world)
    created = ids_of(store, resource_type)
    assert created and first.changed
    recorded = sorted((entry["id"], entry["key"]) for entry in owned_entries(store.load("unit"))
                      if entry["type"] == resource_type)
    assert sorted((item["id"], item["key"]) for item in kind.impl.discover(first.clients, "unit", REGION)) == recorded

    again = make_stack()
    ensure_with_needs(resource_type, again, world)
    assert not again.changed, again.ledger.document["resources"]
    assert ids_of(store, resource_type) == created

    # What must be gone before this kind is deleted (its delete_after) goes first, as in a teardown.
    for entry in owned_entries(store.load("unit")):
        if entry["type"] in kind.delete_after:
            kinds.get(entry["type"]).impl.delete(again.clients, entry)
            assert not kinds.get(entry["type"]).exists(again.clients, entry), entry
    entries = [entry for entry in owned_entries(store.load("unit")) if entry["type"] == resource_type]
    for entry in entries:
        assert kind.exists(again.clients, entry), entry
    for entry in entries:
        kind.impl.delete(again.clients, entry)
        assert not kind.exists(again.clients, entry), entry
        if resource_type in DELETE_OF_GONE_IS_A_NO_OP:
            kind.impl.delete(again.clients, entry)
        else:
            with pytest.raises(ClientError) as second:
                kind.impl.delete(again.clients, entry)
            assert second.value.response["Error"]["Code"] in kind.gone_codes, entry
    assert kind.impl.discover(again.clients, "unit", REGION) == []
