# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Teardown order, from each kind's ``delete_after`` (kind.Kind): which resource types must be gone before a type is
deleted.

Every kind declares its ``delete_after``, even an empty one: a kind is never "independent" by omission. Types that
do not wait on each other are deleted at the same time. The order follows real AWS, which is stricter than the
emulator: a terminated instance's ENI keeps its subnet and security group busy, a deleting mount target keeps its
file system, subnet and group busy, and an internet gateway cannot be detached while instances hold public
addresses.
"""

from ansible_collections.geusemaker.stack.plugins.module_utils.kinds import DELETE_AFTER


def deletion_layers(types):
    """Resource types in teardown order, as layers whose members do not wait on each other."""
    remaining = set(types)
    unordered = sorted(remaining - set(DELETE_AFTER))
    if unordered:
        raise ValueError("resource type(s) {0} are not registered kinds; unknown to the teardown order".format(", ".join(unordered)))
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
