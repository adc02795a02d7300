# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""IAM role of the stack's instances: deterministic name iam_name(stack, region) under IAM_PATH.

Least privilege: one inline policy and no attached managed policy (AWS's AmazonSSMManagedInstanceCore would
let the instance read every SSM parameter of the region). The role may read exactly the stack's parameters,
decrypt them only through SSM, mount and write exactly the stack's file system, register with Session
Manager, and publish its certificate's public key on one tag of the stack's instances. A managed policy found attached is detached.

The role is created with the permissions boundary ``ownership.boundary_arn`` (docs/iam/instance-boundary.json,
created once per account by an administrator). Whatever policy the role is later given, and whoever the deployer
makes it trust, it can do no more than the boundary allows: read GeuseMaker parameters, mount file systems through a
mount target, talk to Session Manager and set the certificate-key tag on a GeuseMaker instance, and all of that only
from an EC2 instance. The deployer policy allows
creating roles and writing their policies only with that boundary, and forbids lifting it.
"""

import json
import sys
from urllib.parse import unquote

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list, boto3_tag_list_to_ansible_dict

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import answer_or_none, is_boto3_error_code, list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import (
    IAM_PATH,
    STACK_TAG,
    TLS_KEY_TAG,
    boundary_arn,
    iam_name,
    is_owned,
    is_planned,
)

TYPE = "iam_role"
GONE_CODES = ("NoSuchEntity",)
KEY = "role"
ASSUME_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
    ],
}
INLINE_POLICY_NAME = "geusemaker-stack"
# What Session Manager needs on the instance, written out instead of AmazonSSMManagedInstanceCore.
SESSION_MANAGER_ACTIONS = [
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
]


def inline_policy(stack_name, region, file_system_arn=None, account_id=None, partition="aws"):
    """The role's one policy. Without ``file_system_arn`` (a role made before its file system) it mounts nothing."""
    parameters = "arn:{0}:ssm:{1}:{2}:parameter/geusemaker/{3}".format(partition, region, account_id or "*", stack_name)
    statements = [
        {
            "Sid": "ReadStackParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",  # the boot script reads each secret by name
            "Resource": parameters + "/*",
        },
        {
            "Sid": "DecryptStackParametersThroughSsm",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": "ssm.{0}.amazonaws.com".format(region)},
                "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": parameters + "/*"},
            },
        },
        {"Sid": "SessionManager", "Effect": "Allow", "Action": SESSION_MANAGER_ACTIONS, "Resource": "*"},
        {
            # The boot publishes its certificate's public key, which the deployer's health check pins; this one tag,
            # on the stack's own instances, is all the role may write.
            "Sid": "PublishCertificateKeyOnStackInstances",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "arn:{0}:ec2:{1}:{2}:instance/*".format(partition, region, account_id or "*"),
            "Condition": {
                "StringEquals": {"ec2:ResourceTag/" + STACK_TAG: stack_name},
                "ForAllValues:StringEquals": {"aws:TagKeys": [TLS_KEY_TAG]},
            },
        },
    ]
    if file_system_arn:
        statements.append({
            "Sid": "MountStackFileSystem",
            "Effect": "Allow",
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"],
            "Resource": file_system_arn,
        })
    return {"Version": "2012-10-17", "Statement": statements}


def as_document(policy):
    """A policy document as a dict, whether boto3 decoded it already or not."""
    if isinstance(policy, dict):
        return policy
    try:
        return json.loads(policy)
    except ValueError:
        return json.loads(unquote(policy))


def get_role(iam, name):
    """The role, or None when there is none."""
    return answer_or_none(iam.get_role, "Role", GONE_CODES, RoleName=name)


def tags_of(role):
    return boto3_tag_list_to_ansible_dict(role.get("Tags"))


def attached_policies(iam, name):
    return [policy["PolicyArn"] for policy in list_all(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)]


def inline_policy_names(iam, name):
    return list_all(iam, "list_role_policies", "PolicyNames", RoleName=name)


def current_inline_policy(iam, name):
    try:
        return as_document(iam.get_role_policy(aws_retry=True, RoleName=name, PolicyName=INLINE_POLICY_NAME)["PolicyDocument"])
    except is_boto3_error_code("NoSuchEntity"):  # no inline policy of that name (the role is there)
        return None


def converge(stack, name, file_system_arn=None):
    """Make the role's policies exactly the inline one: detach any managed policy, put the inline policy where it
    differs. True when something changed (or, in check mode, would change)."""
    iam = stack.clients.iam
    wanted = inline_policy(stack.stack_name, stack.region, file_system_arn, stack.account_id, stack.partition)
    with stack.aws_call("cannot read the policies of IAM role {0}".format(name), TYPE, name, action="find"):
        extra = attached_policies(iam, name)
        stale = current_inline_policy(iam, name) != wanted
    if stack.check_mode or not (extra or stale):
        return bool(extra or stale)
    with stack.aws_call("cannot set the policies of IAM role {0}".format(name), TYPE, name, action="update"):
        for arn in extra:
            iam.detach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
        if stale:
            iam.put_role_policy(aws_retry=True, RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=json.dumps(wanted))
    return True


def boundary_of(role):
    return (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")


def require_owned(stack, name, role):
    if role is None or role.get("Path") != IAM_PATH or not is_owned(tags_of(role), stack.stack_name):
        stack.fail(
            "IAM role {0} exists but is not the stack's (path {1} and tag {2}={3} expected); "
            "remove it or choose another stack_name".format(name, IAM_PATH, STACK_TAG, stack.stack_name),
            resource_type=TYPE,
            resource_id=name,
        )
    wanted = boundary_arn(stack.partition, stack.account_id)
    if boundary_of(role) != wanted:
        # The deployer policy may neither add nor change a boundary (it would be the way out of it).
        stack.fail(
            "IAM role {0} is the stack's but has the permissions boundary {1}, not {2} (an older version of this "
            "collection made it without one). An administrator sets it: aws iam put-role-permissions-boundary "
            "--role-name {0} --permissions-boundary {2}; or destroy the stack with -e keep_data=true and deploy it "
            "again".format(name, boundary_of(role) or "none", wanted),
            resource_type=TYPE,
            resource_id=name,
            error_code="PermissionsBoundaryMissing",
        )


def ensure_named(stack, resource_type, label, name, get, create, require_owned):
    """Find the IAM resource ``name`` (a role or instance profile), or create it. A create answered
    EntityAlreadyExists (a retried call whose first response was lost) takes the existing one if it is ours.

    Returns (resource, provenance); (None, None) in check mode when it would be created.
    """
    iam = stack.clients.iam
    with stack.aws_call("cannot look up {0} {1}".format(label, name), resource_type, name, action="find"):
        found = get(iam, name)
    if found is not None:
        require_owned(stack, name, found)
        return found, "adopted"
    if stack.check_mode:
        return None, None
    with stack.aws_call("cannot create {0} {1}".format(label, name), resource_type, name):
        try:
            return create(iam), "created"
        except is_boto3_error_code("EntityAlreadyExists"):
            pass
    with stack.aws_call("cannot look up {0} {1}".format(label, name), resource_type, name, action="find"):
        found = get(iam, name)
    require_owned(stack, name, found)
    return found, "created"


def ensure(stack, file_system_arn=None):
    """Adopt or create the stack's role and converge its policies. Returns (role_name, role_arn)."""
    name = iam_name(stack.stack_name, stack.region)

    def create(iam):
        return iam.create_role(
            aws_retry=True,
            RoleName=name,
            Path=IAM_PATH,
            AssumeRolePolicyDocument=json.dumps(ASSUME_ROLE_POLICY),
            Tags=ansible_dict_to_boto3_tag_list(stack.tags(KEY)),
            Description="GeuseMaker stack {0} instances ({1})".format(stack.stack_name, stack.region),
            PermissionsBoundary=boundary_arn(stack.partition, stack.account_id),
        )["Role"]

    role, provenance = ensure_named(stack, TYPE, "IAM role", name, get_role, create, require_owned)
    if role is None:
        return stack.plan(TYPE, KEY, name=name), None
    stack.record(TYPE, name, provenance, key=KEY, arn=role["Arn"])
    if converge(stack, name, file_system_arn):
        stack.changed = True
    return name, role["Arn"]


def delete(clients, entry):
    """Detach the managed policies, delete the inline ones, then the role."""
    iam = clients.iam
    name = entry["id"]
    for arn in attached_policies(iam, name):
        iam.detach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
    for policy_name in inline_policy_names(iam, name):
        iam.delete_role_policy(aws_retry=True, RoleName=name, PolicyName=policy_name)
    iam.delete_role(aws_retry=True, RoleName=name)


def exists_named(get):
    """A kind's ``exists`` for an IAM resource named by ``get(iam, name)``."""

    def exists(clients, entry):
        return not is_planned(entry["id"]) and get(clients.iam, entry["id"]) is not None

    return exists


def owned_named(get):
    """A kind's ``owned`` for an IAM resource: None when IAM does not know the name, else whether it is the stack's
    own name under the collection's path."""

    def owned(clients, entry, stack_name, region):
        found = get(clients.iam, entry["id"])
        if found is None:
            return None
        return entry["id"] == iam_name(stack_name, region) and found.get("Path") == IAM_PATH

    return owned


def find_named(clients, stack_name, region, get, is_ours):
    """The stack's IAM resource by its deterministic name when it exists and ``is_ours(it)``; else None."""
    found = get(clients.iam, iam_name(stack_name, region))
    return found if found is not None and is_ours(found) else None


exists = exists_named(get_role)
owned = owned_named(get_role)


def discover(clients, stack_name, region):
    role = find_named(clients, stack_name, region, get_role, lambda found: is_owned(tags_of(found), stack_name))
    return [{"id": role["RoleName"], "key": KEY, "arn": role["Arn"]}] if role else []


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, "iam/home#/roles/details/{id}",
    "aws iam delete-role --role-name {id}  # detach its policies and remove it from its profile first",
    delete_after=("instance_profile",), busy_codes=("DeleteConflict",),
))
