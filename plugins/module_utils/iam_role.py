# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""IAM role of the stack's instances: deterministic name iam_name(stack, region) under IAM_PATH.

It carries the SSM managed-instance policy and one inline policy that reads the stack's parameters
and mounts its file system.
"""

import json
from urllib.parse import unquote

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list, boto3_tag_list_to_ansible_dict

from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import IAM_PATH, STACK_TAG, iam_name, is_owned, is_planned
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import AWS_ERRORS, error_code

TYPE = "iam_role"
KEY = "role"
ASSUME_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
    ],
}
MANAGED_POLICIES = ("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",)
INLINE_POLICY_NAME = "geusemaker-stack"


def inline_policy(stack_name, region, file_system_arn=None):
    parameters = "arn:aws:ssm:{0}:*:parameter/geusemaker/{1}".format(region, stack_name)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadStackParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                "Resource": [parameters, parameters + "/*"],
            },
            {
                "Sid": "DecryptStackParameters",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "ssm.{0}.amazonaws.com".format(region)}},
            },
            {
                "Sid": "MountStackFileSystem",
                "Effect": "Allow",
                "Action": [
                    "elasticfilesystem:ClientMount",
                    "elasticfilesystem:ClientWrite",
                    "elasticfilesystem:ClientRootAccess",
                ],
                "Resource": file_system_arn or "*",
            },
        ],
    }


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
    try:
        return iam.get_role(aws_retry=True, RoleName=name)["Role"]
    except AWS_ERRORS as e:
        if error_code(e) == "NoSuchEntity":
            return None
        raise


def tags_of(role):
    return boto3_tag_list_to_ansible_dict(role.get("Tags"))


def attached_policies(iam, name):
    arns = []
    kwargs = dict(RoleName=name)
    while True:
        page = iam.list_attached_role_policies(aws_retry=True, **kwargs)
        arns.extend(policy["PolicyArn"] for policy in page.get("AttachedPolicies", []))
        if not page.get("IsTruncated"):
            return arns
        kwargs["Marker"] = page["Marker"]


def inline_policy_names(iam, name):
    names = []
    kwargs = dict(RoleName=name)
    while True:
        page = iam.list_role_policies(aws_retry=True, **kwargs)
        names.extend(page.get("PolicyNames", []))
        if not page.get("IsTruncated"):
            return names
        kwargs["Marker"] = page["Marker"]


def current_inline_policy(iam, name):
    try:
        return as_document(iam.get_role_policy(aws_retry=True, RoleName=name, PolicyName=INLINE_POLICY_NAME)["PolicyDocument"])
    except AWS_ERRORS as e:
        if error_code(e) == "NoSuchEntity":
            return None
        raise


def converge(stack, name, file_system_arn=None):
    """Attach the managed policies and put the inline policy where they differ. True when something changed
    (or, in check mode, would change)."""
    iam = stack.clients.iam
    wanted = inline_policy(stack.stack_name, stack.region, file_system_arn)
    try:
        missing = [arn for arn in MANAGED_POLICIES if arn not in attached_policies(iam, name)]
        stale = current_inline_policy(iam, name) != wanted
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot read the policies of IAM role {0}".format(name), TYPE, name, action="find")
    if stack.check_mode or not (missing or stale):
        return bool(missing or stale)
    try:
        for arn in missing:
            iam.attach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
        if stale:
            iam.put_role_policy(aws_retry=True, RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=json.dumps(wanted))
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot set the policies of IAM role {0}".format(name), TYPE, name, action="update")
    return True


def require_owned(stack, name, role):
    if role is None or role.get("Path") != IAM_PATH or not is_owned(tags_of(role), stack.stack_name):
        stack.fail(
            "IAM role {0} exists but is not the stack's (path {1} and tag {2}={3} expected); "
            "remove it or choose another stack_name".format(name, IAM_PATH, STACK_TAG, stack.stack_name),
            resource_type=TYPE,
            resource_id=name,
        )


def ensure(stack, file_system_arn=None):
    """Adopt or create the stack's role and converge its policies. Returns (role_name, role_arn)."""
    iam = stack.clients.iam
    name = iam_name(stack.stack_name, stack.region)
    try:
        role = get_role(iam, name)
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot look up IAM role {0}".format(name), TYPE, name, action="find")
    if role is None:
        if stack.check_mode:
            return stack.plan(TYPE, KEY, name=name), None
        try:
            role = iam.create_role(
                aws_retry=True,
                RoleName=name,
                Path=IAM_PATH,
                AssumeRolePolicyDocument=json.dumps(ASSUME_ROLE_POLICY),
                Tags=ansible_dict_to_boto3_tag_list(stack.tags(KEY)),
                Description="GeuseMaker stack {0} instances ({1})".format(stack.stack_name, stack.region),
            )["Role"]
        except AWS_ERRORS as e:
            # A retried call whose first response was lost: take the role if it is ours.
            if error_code(e) != "EntityAlreadyExists":
                stack.fail_aws(e, "cannot create IAM role {0}".format(name), TYPE, name)
            try:
                role = get_role(iam, name)
            except AWS_ERRORS as e:
                stack.fail_aws(e, "cannot look up IAM role {0}".format(name), TYPE, name, action="find")
            require_owned(stack, name, role)
        stack.record(TYPE, name, "created", key=KEY, arn=role["Arn"])
    else:
        require_owned(stack, name, role)
        stack.record(TYPE, name, "adopted", key=KEY, arn=role["Arn"])
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


def exists(clients, entry):
    if is_planned(entry["id"]):
        return False
    return get_role(clients.iam, entry["id"]) is not None


def discover(clients, stack_name, region):
    name = iam_name(stack_name, region)
    role = get_role(clients.iam, name)
    if role is None or not is_owned(tags_of(role), stack_name):
        return []
    return [{"id": name, "key": KEY, "arn": role["Arn"]}]
