# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Instance profile holding the stack's role: same deterministic name as the role, under IAM_PATH.

Ownership is the name plus the path: instance profile tags cannot be read everywhere
(ListInstanceProfileTags is missing on the emulator), so they are set on create but never read.
"""

import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.geusemaker.stack.plugins.module_utils import iam_role
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import answer_or_none
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import IAM_PATH, iam_name, is_planned

TYPE = "instance_profile"
GONE_CODES = ("NoSuchEntity",)
KEY = "instance-profile"


def get_profile(iam, name):
    """The instance profile, or None when there is none."""
    return answer_or_none(iam.get_instance_profile, "InstanceProfile", GONE_CODES, InstanceProfileName=name)


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
    with stack.aws_call("cannot put IAM role {0} in instance profile {1}".format(role_name, name), TYPE, name, action="update"):
        for other in current:
            if other != role_name:
                iam.remove_role_from_instance_profile(aws_retry=True, InstanceProfileName=name, RoleName=other)
        if role_name not in current:
            iam.add_role_to_instance_profile(aws_retry=True, InstanceProfileName=name, RoleName=role_name)
    return True


def ensure(stack, role_name):
    """Adopt or create the stack's instance profile holding ``role_name``. Returns (profile_name, profile_arn)."""
    name = iam_name(stack.stack_name, stack.region)
    role_known = role_name and not is_planned(role_name)

    def create(iam):
        return iam.create_instance_profile(
            aws_retry=True, InstanceProfileName=name, Path=IAM_PATH, Tags=ansible_dict_to_boto3_tag_list(stack.tags(KEY))
        )["InstanceProfile"]

    profile, provenance = iam_role.ensure_named(stack, TYPE, "IAM instance profile", name, get_profile, create, require_owned)
    if profile is None:
        return stack.plan(TYPE, KEY, name=name, role_name=role_name), None
    stack.record(TYPE, name, provenance, key=KEY, arn=profile["Arn"], role_name=role_name if role_known else None)
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


exists = iam_role.exists_named(get_profile)
owned = iam_role.owned_named(get_profile)


def discover(clients, stack_name, region):
    profile = iam_role.find_named(clients, stack_name, region, get_profile, lambda found: found.get("Path") == IAM_PATH)
    if profile is None:
        return []
    found = {"id": profile["InstanceProfileName"], "key": KEY, "arn": profile["Arn"]}
    roles = role_names(profile)
    if roles:
        found["role_name"] = roles[0]
    return [found]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, "iam/home#/roles/details/{role_name}",
    "aws iam remove-role-from-instance-profile --instance-profile-name {id} --role-name {role_name} && "
    "aws iam delete-instance-profile --instance-profile-name {id}",
    delete_after=("instance",), busy_codes=("DeleteConflict",),
    placeholders={"role_name": lambda entry: entry["id"]},
))
