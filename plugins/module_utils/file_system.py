# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EFS file system: adopt by CreationToken or create encrypted and tagged, wait until available; delete."""

import json
import sys
import time

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list, boto3_tag_list_to_ansible_dict

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS, is_boto3_error_code, list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import EFS_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG, efs_creation_token, is_planned
from ansible_collections.geusemaker.stack.plugins.module_utils.polling import PollTimeout, poll_until

TYPE = "file_system"
GONE_CODES = ("FileSystemNotFound",)

KEY = "file-system"
POLL_INTERVAL = 1.5
GONE_STATES = ("deleting", "deleted")


def all_file_systems(efs, **params):
    """Every file system DescribeFileSystems answers with ``params``, across pages."""
    return list_all(efs, "describe_file_systems", "FileSystems", **params)


def find_by_token(efs, token):
    for item in all_file_systems(efs, CreationToken=token):
        if item.get("LifeCycleState") not in GONE_STATES:
            return item
    return None


def find_owned(efs, stack_name, region):
    """The stack's file system (by its deterministic CreationToken) unless it is being deleted, or None."""
    return find_by_token(efs, efs_creation_token(stack_name, region))


def describe(efs, file_system_id):
    """The file system, or None when it is not (yet) visible."""
    try:
        found = efs.describe_file_systems(aws_retry=True, FileSystemId=file_system_id)["FileSystems"]
    except is_boto3_error_code(GONE_CODES):
        return None
    return found[0] if found else None


def create(efs, token, tags):
    """Create the file system; a FileSystemAlreadyExists answer (an earlier try's lost response) is looked up."""
    try:
        return efs.create_file_system(
            aws_retry=True,
            CreationToken=token,
            Encrypted=True,
            PerformanceMode="generalPurpose",
            ThroughputMode="bursting",
            Tags=ansible_dict_to_boto3_tag_list(tags),
        )
    except is_boto3_error_code("FileSystemAlreadyExists"):
        found = find_by_token(efs, token)
        if found is None:
            raise
        return found


def wait_available(stack, file_system_id, deadline, clock, sleep):
    """Poll until the file system is available; returns its description."""
    efs = stack.clients.efs

    def check():
        item = describe(efs, file_system_id)
        if item is None:
            return None
        state = item.get("LifeCycleState")
        if state == "available":
            return item
        if state == "error" or state in GONE_STATES:
            stack.fail(
                "EFS file system {0} went to {1} instead of available".format(file_system_id, state),
                resource_type=TYPE, resource_id=file_system_id, error_code="FileSystemError", critical=True,
            )
        return None

    try:
        return poll_until(check, max(0, deadline - clock()), interval=POLL_INTERVAL, clock=clock, sleep=sleep,
                          heartbeat=stack.heartbeat)
    except PollTimeout:
        stack.fail(
            "EFS file system {0} not available within the timeout".format(file_system_id),
            resource_type=TYPE, resource_id=file_system_id, error_code="Timeout", critical=True,
        )
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot check the state of EFS file system {0}".format(file_system_id), TYPE,
                       file_system_id, action="wait")


def ensure(stack, timeout=300, clock=time.monotonic, sleep=time.sleep):
    """Adopt or create the stack's encrypted file system, record it, wait until available.

    Returns (file_system_id, file_system_arn); in check mode a missing one is (placeholder, None).
    """
    deadline = clock() + timeout
    efs = stack.clients.efs
    token = efs_creation_token(stack.stack_name, stack.region)
    with stack.aws_call("cannot look up the EFS file system", TYPE, action="describe"):
        found = find_owned(efs, stack.stack_name, stack.region)
    if found is not None:
        file_system_id = found["FileSystemId"]
        stack.record(TYPE, file_system_id, "adopted", key=KEY, creation_token=token)
    elif stack.check_mode:
        return stack.plan(TYPE, KEY, encrypted=True), None
    else:
        with stack.aws_call("cannot create the EFS file system", TYPE):
            found = create(efs, token, stack.tags(KEY))
        file_system_id = found["FileSystemId"]
        # This run's request made it, even when the answer came back as FileSystemAlreadyExists.
        stack.record(TYPE, file_system_id, "created", key=KEY, creation_token=token)
    if found.get("LifeCycleState") != "available" and not stack.check_mode:
        found = wait_available(stack, file_system_id, deadline, clock, sleep)
    return file_system_id, found.get("FileSystemArn")


CLIENT_ACTIONS = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"]


def client_policy(file_system_arn, role_arn):
    """The file system policy: no connection without TLS, and only the stack's role, through a mount target, with
    IAM authorization (a client without IAM is anonymous and matches no Allow)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "RefuseWithoutTls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*", "Resource": file_system_arn,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "OnlyTheStacksRole", "Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": CLIENT_ACTIONS,
             "Resource": file_system_arn, "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}},
        ],
    }


def current_policy(efs, file_system_id):
    """The file system's policy as a dict, or None when it has none."""
    try:
        return json.loads(efs.describe_file_system_policy(aws_retry=True, FileSystemId=file_system_id)["Policy"])
    except is_boto3_error_code("PolicyNotFound"):
        return None


# IAM is eventually consistent: a role made seconds ago is an invalid principal to EFS for a while (terraform-provider-aws
# retries the same answer for up to 2 minutes).
PRINCIPAL_PROPAGATION_LIMIT = 120
PRINCIPAL_POLL_INTERVAL = 3


def put_client_policy(stack, file_system_id, policy, clock=time.monotonic, sleep=time.sleep):
    """PutFileSystemPolicy, retried while IAM has not yet propagated the role the policy names."""
    efs = stack.clients.efs
    last = {}

    def attempt():
        try:
            return efs.put_file_system_policy(aws_retry=True, FileSystemId=file_system_id, Policy=json.dumps(policy))
        except is_boto3_error_code("InvalidPolicyException") as e:
            if "principal" not in str(e).lower():
                raise
            last["error"] = e
            return None

    try:
        poll_until(attempt, PRINCIPAL_PROPAGATION_LIMIT, interval=PRINCIPAL_POLL_INTERVAL, clock=clock, sleep=sleep,
                   heartbeat=stack.heartbeat)
    except PollTimeout:
        raise last["error"]


def ensure_client_policy(stack, file_system_id, file_system_arn, role_arn, clock=time.monotonic, sleep=time.sleep):
    """Put the client policy where the file system's differs. True when it changed (or would, in check mode)."""
    if is_planned(file_system_id) or is_planned(role_arn):
        stack.changed = True
        return True
    efs = stack.clients.efs
    wanted = client_policy(file_system_arn, role_arn)
    with stack.aws_call("cannot read the policy of EFS file system {0}".format(file_system_id), TYPE, file_system_id,
                        action="find"):
        if current_policy(efs, file_system_id) == wanted:
            return False
    stack.changed = True
    if not stack.check_mode:
        with stack.aws_call("cannot set the policy of EFS file system {0}".format(file_system_id), TYPE, file_system_id,
                            action="modify"):
            put_client_policy(stack, file_system_id, wanted, clock, sleep)
    return True


def delete(clients, entry):
    clients.efs.delete_file_system(aws_retry=True, FileSystemId=entry["id"])


def owned(clients, entry, stack_name, region):
    """None when EFS does not know the file system, else whether it is the stack's: its CreationToken, or its tag."""
    found = describe(clients.efs, entry["id"])
    if found is None:
        return None
    tags = boto3_tag_list_to_ansible_dict(found.get("Tags"))
    return found.get("CreationToken") == efs_creation_token(stack_name, region) or tags.get(STACK_TAG) == stack_name


def exists(clients, entry):
    found = describe(clients.efs, entry["id"])
    return found is not None and found.get("LifeCycleState") != "deleted"


def discover(clients, stack_name, region):
    """The file system with the stack's CreationToken plus any tagged for the stack; not deleted ones."""
    token = efs_creation_token(stack_name, region)
    found = []
    seen = set()
    for item in all_file_systems(clients.efs):
        if item.get("LifeCycleState") == "deleted" or item["FileSystemId"] in seen:
            continue
        tags = boto3_tag_list_to_ansible_dict(item.get("Tags"))
        if item.get("CreationToken") == token or tags.get(STACK_TAG) == stack_name:
            seen.add(item["FileSystemId"])
            found.append({"id": item["FileSystemId"], "key": KEY, "creation_token": item.get("CreationToken")})
    return found


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, EFS_CONSOLE + "{id}", "aws efs delete-file-system --region {r} --file-system-id {id}",
    delete_after=("mount_target",),
    busy_codes=("FileSystemInUse", "IncorrectFileSystemLifeCycleState"),
    data=True, cost_note="billed by stored GB (about USD 0.30 per GB-month)",
))
