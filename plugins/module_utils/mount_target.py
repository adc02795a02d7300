# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EFS mount targets: one per availability zone of the stack's subnets, owned through their file system (they cannot
be tagged); delete."""

import sys
import time

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS, describe_created, is_boto3_error_code, list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import EFS_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_planned
from ansible_collections.geusemaker.stack.plugins.module_utils.polling import PollTimeout, poll_until

TYPE = "mount_target"
GONE_CODES = ("MountTargetNotFound",)

POLL_INTERVAL = 1.5
GONE_STATES = ("deleting", "deleted")


def key_for(subnet_id):
    return "mount-target-{0}".format(subnet_id)


def all_mount_targets(efs, **params):
    """Every mount target DescribeMountTargets answers with ``params``, across pages."""
    return list_all(efs, "describe_mount_targets", "MountTargets", **params)


def by_subnet(efs, file_system_id):
    """The file system's live mount targets, by subnet id."""
    return {
        item["SubnetId"]: item
        for item in all_mount_targets(efs, FileSystemId=file_system_id)
        if item.get("LifeCycleState") not in GONE_STATES
    }


def one_per_zone(ec2, subnet_ids, existing):
    """The subnets to mount in. EFS allows one mount target per zone (another is MountTargetConflict), and two of a
    user's subnets may share one: the first of ``subnet_ids`` in each zone, or the subnet of the live mount target
    already there. Instances in the zone's other subnets reach it all the same."""
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in describe_created(ec2.describe_subnets, SubnetIds=list(subnet_ids))["Subnets"]}
    taken = {item.get("AvailabilityZoneName") or zones.get(item["SubnetId"]): item["SubnetId"] for item in existing.values()}
    seen, chosen = set(), []
    for subnet_id in subnet_ids:
        zone = zones.get(subnet_id, subnet_id)
        if zone not in seen:
            seen.add(zone)
            chosen.append(taken.get(zone, subnet_id))
    return chosen


def create(stack, file_system_id, subnet_id, security_group_id, deadline, clock, sleep):
    """Create one mount target, retrying while the file system is not yet available; returns its description."""
    efs = stack.clients.efs
    last = {}

    def attempt():
        try:
            return efs.create_mount_target(
                aws_retry=True, FileSystemId=file_system_id, SubnetId=subnet_id, SecurityGroups=[security_group_id]
            )
        except is_boto3_error_code("MountTargetConflict"):
            # An earlier try whose response was lost may have made it.
            found = by_subnet(efs, file_system_id).get(subnet_id)
            if found is None:
                raise
            return found
        except is_boto3_error_code("IncorrectFileSystemLifeCycleState") as e:
            last["error"] = e
            return None

    try:
        return poll_until(attempt, max(0, deadline - clock()), interval=POLL_INTERVAL, clock=clock, sleep=sleep,
                          heartbeat=stack.heartbeat)
    except PollTimeout:
        raise last["error"]


def wait_available(stack, file_system_id, ids, deadline, clock, sleep):
    """Poll until every mount target in ``ids`` is available."""
    efs = stack.clients.efs
    states = {}

    def check():
        states.clear()
        states.update(
            (item["MountTargetId"], item.get("LifeCycleState")) for item in all_mount_targets(efs, FileSystemId=file_system_id)
        )
        for mount_target_id in ids:
            if states.get(mount_target_id) == "error" or states.get(mount_target_id) in GONE_STATES:
                stack.fail(
                    "mount target {0} went to {1} instead of available".format(mount_target_id, states[mount_target_id]),
                    resource_type=TYPE, resource_id=mount_target_id, error_code="MountTargetError", critical=True,
                )
        if all(states.get(mount_target_id) == "available" for mount_target_id in ids):
            return ids
        return None

    try:
        return poll_until(check, max(0, deadline - clock()), interval=POLL_INTERVAL, clock=clock, sleep=sleep,
                          heartbeat=stack.heartbeat)
    except PollTimeout:
        pending = [mount_target_id for mount_target_id in ids if states.get(mount_target_id) != "available"] or ids
        stack.fail(
            "mount target(s) {0} not available within the timeout".format(", ".join(pending)),
            resource_type=TYPE, resource_id=pending[0], error_code="Timeout", critical=True,
        )
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot check the state of the mount targets of {0}".format(file_system_id), TYPE,
                       ids[0], action="wait")


def ensure(stack, file_system_id, subnet_ids, security_group_id, timeout=300, clock=time.monotonic, sleep=time.sleep):
    """Adopt or create a mount target of ``file_system_id`` in each zone of the subnets, record them, wait until
    available.

    Returns the mount target ids in subnet order (placeholders in check mode for those that would be created).
    """
    deadline = clock() + timeout
    if is_planned(file_system_id):
        return [stack.plan(TYPE, key_for(subnet_id), subnet_id=subnet_id) for subnet_id in subnet_ids]
    efs = stack.clients.efs
    with stack.aws_call("cannot list the mount targets of {0}".format(file_system_id), TYPE, action="describe"):
        existing = by_subnet(efs, file_system_id)
    if not any(is_planned(subnet_id) for subnet_id in subnet_ids):
        with stack.aws_call("cannot read the zones of subnets {0}".format(", ".join(subnet_ids)), TYPE, action="describe"):
            subnet_ids = one_per_zone(stack.clients.ec2, subnet_ids, existing)
    ids = []
    waiting = []
    for subnet_id in subnet_ids:
        key = key_for(subnet_id)
        found = existing.get(subnet_id)
        attributes = dict(key=key, file_system_id=file_system_id, subnet_id=subnet_id, security_group_id=security_group_id)
        if found is not None:
            # A mount target already in the ledger keeps its provenance.
            stack.record(TYPE, found["MountTargetId"], "adopted", **attributes)
        elif stack.check_mode:
            ids.append(stack.plan(TYPE, key, subnet_id=subnet_id))
            continue
        else:
            with stack.aws_call("cannot create a mount target in {0}".format(subnet_id), TYPE):
                found = create(stack, file_system_id, subnet_id, security_group_id, deadline, clock, sleep)
            stack.record(TYPE, found["MountTargetId"], "created", **attributes)
        ids.append(found["MountTargetId"])
        if found.get("LifeCycleState") != "available":
            waiting.append(found["MountTargetId"])
    if waiting and not stack.check_mode:
        wait_available(stack, file_system_id, waiting, deadline, clock, sleep)
    return ids


def delete(clients, entry):
    clients.efs.delete_mount_target(aws_retry=True, MountTargetId=entry["id"])


def owned(clients, entry, stack_name, region):
    """None when EFS does not know the mount target, else whether its file system is the stack's (a mount target
    carries no tags)."""
    try:
        found = clients.efs.describe_mount_targets(aws_retry=True, MountTargetId=entry["id"])["MountTargets"]
    except is_boto3_error_code(GONE_CODES):
        return None
    if not found:
        return None
    return file_system.owned(clients, {"id": found[0]["FileSystemId"]}, stack_name, region) is True


def exists(clients, entry):
    found = clients.efs.describe_mount_targets(aws_retry=True, MountTargetId=entry["id"])["MountTargets"]
    return any(item.get("LifeCycleState") != "deleted" for item in found)


def discover(clients, stack_name, region):
    """The mount targets of every file system the stack owns."""
    found = []
    for owned in file_system.discover(clients, stack_name, region):
        for item in all_mount_targets(clients.efs, FileSystemId=owned["id"]):
            if item.get("LifeCycleState") == "deleted":
                continue
            found.append(
                {
                    "id": item["MountTargetId"],
                    "key": key_for(item["SubnetId"]),
                    "file_system_id": owned["id"],
                    "subnet_id": item["SubnetId"],
                }
            )
    return found


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, EFS_CONSOLE + "{file_system_id}", "aws efs delete-mount-target --region {r} --mount-target-id {id}",
    delete_after=(),
    busy_codes=("IncorrectMountTargetState", "IncorrectFileSystemLifeCycleState"),
    placeholders={"file_system_id": lambda entry: entry["id"]},
))
