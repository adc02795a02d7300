# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Instance profile holding the stack's role: same deterministic name as the role, under IAM_PATH.

Ownership is the name plus the path: instance profile tags cannot be read everywhere
(ListInstanceProfileTags is missing on the emulator), so they are set on create but never read.
"""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import IAM_PATH, iam_name, is_planned
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import AWS_ERRORS, error_code

TYPE = "instance_profile"
KEY = "instance-profile"


def get_profile(iam, name):
    """The instance profile, or None when there is none."""
    try:
        return iam.get_instance_profile(aws_retry=True, InstanceProfileName=name)["InstanceProfile"]
    except AWS_ERRORS as e:
        if error_code(e) == "NoSuchEntity":
            return None
        raise


def role_names(profile):
    return [role["RoleName"] for role in profile.get("Roles", [])]


def require_owned(stack, name, profile):
    if profile is None or profile.get("Path") != IAM_PATH:
        stack.fail(
            "IAM instance profile {0} exists but is not the stack's (path {1} expected); "
            "remove it or choose another stack_name".format(name, IAM_PATH),
            resource_type=TYPE,
            resource_id=name,
        )


def ensure_role(stack, name, profile, role_name):
    """Make ``role_name`` the profile's role. True when something changed (or would, in check mode)."""
    current = role_names(profile)
    if current == [role_name]:
        return False
    if stack.check_mode:
        return True
    iam = stack.clients.iam
    try:
        for other in current:
            if other != role_name:
                iam.remove_role_from_instance_profile(aws_retry=True, InstanceProfileName=name, RoleName=other)
        if role_name not in current:
            iam.add_role_to_instance_profile(aws_retry=True, InstanceProfileName=name, RoleName=role_name)
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot put IAM role {0} in instance profile {1}".format(role_name, name), TYPE, name, action="update")
    return True


def ensure(stack, role_name):
    """Adopt or create the stack's instance profile holding ``role_name``. Returns (profile_name, profile_arn)."""
    iam = stack.clients.iam
    name = iam_name(stack.stack_name, stack.region)
    role_known = role_name and not is_planned(role_name)
    try:
        profile = get_profile(iam, name)
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot look up IAM instance profile {0}".format(name), TYPE, name, action="find")
    if profile is None:
        if stack.check_mode:
            return stack.plan(TYPE, KEY, name=name, role_name=role_name), None
        try:
            profile = iam.create_instance_profile(
                aws_retry=True,
                InstanceProfileName=name,
                Path=IAM_PATH,
                Tags=ansible_dict_to_boto3_tag_list(stack.tags(KEY)),
            )["InstanceProfile"]
        except AWS_ERRORS as e:
            # A retried call whose first response was lost: take the profile if it is ours.
            if error_code(e) != "EntityAlreadyExists":
                stack.fail_aws(e, "cannot create IAM instance profile {0}".format(name), TYPE, name)
            try:
                profile = get_profile(iam, name)
            except AWS_ERRORS as e:
                stack.fail_aws(e, "cannot look up IAM instance profile {0}".format(name), TYPE, name, action="find")
            require_owned(stack, name, profile)
        stack.record(TYPE, name, "created", key=KEY, arn=profile["Arn"], role_name=role_name if role_known else None)
    else:
        require_owned(stack, name, profile)
        stack.record(TYPE, name, "adopted", key=KEY, arn=profile["Arn"], role_name=role_name if role_known else None)
    if role_known and ensure_role(stack, name, profile, role_name):
        stack.changed = True
    return name, profile["Arn"]


def delete(clients, entry):
    """Take every role out of the profile, then delete it."""
    iam = clients.iam
    name = entry["id"]
    profile = iam.get_instance_profile(aws_retry=True, InstanceProfileName=name)["InstanceProfile"]
    for role_name in role_names(profile):
        iam.remove_role_from_instance_profile(aws_retry=True, InstanceProfileName=name, RoleName=role_name)
    iam.delete_instance_profile(aws_retry=True, InstanceProfileName=name)


def exists(clients, entry):
    if is_planned(entry["id"]):
        return False
    return get_profile(clients.iam, entry["id"]) is not None


def discover(clients, stack_name, region):
    name = iam_name(stack_name, region)
    profile = get_profile(clients.iam, name)
    if profile is None or profile.get("Path") != IAM_PATH:
        return []
    found = {"id": name, "key": KEY, "arn": profile["Arn"]}
    roles = role_names(profile)
    if roles:
        found["role_name"] = roles[0]
    return [found]
