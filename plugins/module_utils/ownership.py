# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How the stack marks what it owns, and the names it derives from stack and region."""

import re

STACK_TAG = "geusemaker:stack"
KEY_TAG = "geusemaker:key"
# Written by the instance itself (its boot script, with the instance role): the SHA-256 of its certificate's public
# key, which the deployer's health check pins before any credential leaves the controller.
TLS_KEY_TAG = "geusemaker:tls-spki-sha256"
IAM_PATH = "/geusemaker/"
# The permissions boundary every role of a stack is created with: an administrator creates this managed policy once
# per account from docs/iam/instance-boundary.json, and the deployer policy lets the deployer create roles only with it.
BOUNDARY_POLICY_NAME = "geusemaker-instance-boundary"
STACK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{2,31}$")  # fullmatch: "$" alone lets a trailing newline through
# An id a check-mode run hands on for a resource it would create.
PLANNED_PREFIX = "(new "


def stack_name_problem(stack_name):
    """Why ``stack_name`` is unusable, or None."""
    if not isinstance(stack_name, str) or not STACK_NAME_PATTERN.fullmatch(stack_name):
        return (
            "stack_name {0!r} is invalid: use 3 to 32 lowercase letters, digits and hyphens, "
            "starting with a letter".format(stack_name)
        )
    return None


def ownership_tags(stack_name, key, user_tags=None):
    """Tags every created resource carries from birth. The ownership pair cannot be overridden."""
    tags = {"Name": "{0}-{1}".format(stack_name, key)}
    tags.update(user_tags or {})
    tags[STACK_TAG] = stack_name
    tags[KEY_TAG] = key
    return tags


def boundary_arn(partition, account_id):
    """The ARN of the permissions boundary policy in this account."""
    return "arn:{0}:iam::{1}:policy{2}{3}".format(partition or "aws", account_id, IAM_PATH, BOUNDARY_POLICY_NAME)


def boundary_setup_command():
    """What an administrator runs once per account to create the boundary (docs/ ships in the collection)."""
    return ("aws iam create-policy --policy-document file://ansible_collections/geusemaker/stack/docs/iam/"
            "instance-boundary.json --path {0} --policy-name {1}".format(IAM_PATH, BOUNDARY_POLICY_NAME))


def owner_filters(stack_name, key=None):
    """EC2 describe filters for what the stack owns (optionally one logical key)."""
    filters = [{"Name": "tag:" + STACK_TAG, "Values": [stack_name]}]
    if key is not None:
        filters.append({"Name": "tag:" + KEY_TAG, "Values": [key]})
    return filters


def is_owned(tags, stack_name):
    return (tags or {}).get(STACK_TAG) == stack_name


def planned_id(resource_type, key):
    return "{0}{1} {2})".format(PLANNED_PREFIX, resource_type, key)


def is_planned(resource_id):
    return isinstance(resource_id, str) and resource_id.startswith(PLANNED_PREFIX)


def efs_creation_token(stack_name, region):
    return "geusemaker-{0}-{1}".format(stack_name, region)


def iam_name(stack_name, region):
    """Role and instance profile name: IAM is global, so the region is part of it."""
    return "geusemaker-{0}-{1}".format(stack_name, region)


def ssm_path(stack_name):
    return "/geusemaker/{0}/".format(stack_name)
