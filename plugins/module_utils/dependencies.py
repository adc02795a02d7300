# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one table that orders teardown: which resource types must be gone before a type is deleted.

Every kind of the registry (kinds.py) has a row, even an empty one: a type without a row is an error, never
"independent". Types that do not wait on each other are deleted at the same time. The order follows real AWS,
which is stricter than the emulator: a terminated instance's ENI keeps its subnet and security group
busy, a deleting mount target keeps its file system, subnet and group busy, and an internet gateway
cannot be detached while instances hold public addresses.
"""

DELETE_AFTER = {
    "instance": (),
    "volume": ("instance",),  # attached until its instance is gone
    "mount_target": (),
    "ssm_parameter": (),
    "instance_profile": ("instance",),
    "iam_role": ("instance_profile",),
    "file_system": ("mount_target",),
    "security_group": ("instance", "mount_target"),
    "subnet": ("instance", "mount_target"),
    "internet_gateway": ("instance",),
    "route_table": (),  # its delete disassociates the subnets first
    "vpc": ("subnet", "security_group", "internet_gateway", "route_table"),
}


def deletion_layers(types):
    """Resource types in teardown order, as layers whose members do not wait on each other."""
    remaining = set(types)
    unordered = sorted(remaining - set(DELETE_AFTER))
    if unordered:
        raise ValueError("resource type(s) {0} have no row in dependencies.DELETE_AFTER".format(", ".join(unordered)))
    layers = []
    while remaining:
        layer = sorted(t for t in remaining if not (set(DELETE_AFTER[t]) & remaining))
        if not layer:
            raise ValueError("dependency cycle among {0}".format(sorted(remaining)))
        layers.append(layer)
        remaining -= set(layer)
    return layers


def deletion_order(entries):
    """Ledger entries sorted in an order a sequential teardown could follow."""
    rank = {}
    for position, layer in enumerate(deletion_layers({entry["type"] for entry in entries})):
        for resource_type in layer:
            rank[resource_type] = position
    return sorted(entries, key=lambda entry: (rank[entry["type"]], entry["type"], entry["id"]))
