# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""SSM parameters: the stack's generated secrets, SecureString under ownership.ssm_path(stack).

A secret value is generated here, sent once to PutParameter and never read back, returned, logged or
recorded. The ledger id is the parameter name.
"""

import secrets
import string
import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list, boto3_tag_list_to_ansible_dict

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import is_boto3_error_code, list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_owned, ssm_path

TYPE = "ssm_parameter"
GONE_CODES = ("ParameterNotFound",)
SECRETS = ("db_password", "n8n_encryption_key", "n8n_owner_password", "qdrant_api_key", "proxy_password")
_ALNUM = string.ascii_letters + string.digits


def generate(secret):
    """A fresh value for one of SECRETS."""
    if secret == "db_password":
        return "".join(secrets.choice(_ALNUM) for _unused in range(32))
    if secret == "n8n_encryption_key":
        return secrets.token_hex(32)
    if secret in ("qdrant_api_key", "proxy_password"):
        return "".join(secrets.choice(_ALNUM) for _unused in range(40))
    if secret == "n8n_owner_password":  # n8n's rules: 8 to 64 characters, a digit and an uppercase letter
        while True:
            value = "".join(secrets.choice(_ALNUM) for _unused in range(32))
            if any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value):
                return value
    raise ValueError("unknown secret {0}".format(secret))


def parameter_name(stack_name, secret):
    return ssm_path(stack_name) + secret


def tags_of(ssm, name):
    tags = ssm.list_tags_for_resource(aws_retry=True, ResourceType="Parameter", ResourceId=name).get("TagList", [])
    return boto3_tag_list_to_ansible_dict(tags)


def described(ssm, option, value):
    """The parameters DescribeParameters lists for one filter: metadata only, never a value, so the deployer needs no
    right to read (or decrypt) any secret to find its stack's."""
    filters = [{"Key": "Name" if option == "Equals" else "Path", "Option": option, "Values": [value]}]
    return list_all(ssm, "describe_parameters", "Parameters", ParameterFilters=filters)


def present(ssm, name):
    """True when the parameter exists."""
    return any(item["Name"] == name for item in described(ssm, "Equals", name))


def ensure_one(stack, secret):
    """Adopt the stack's parameter for ``secret`` or create it with a generated value. Returns its name."""
    ssm = stack.clients.ssm
    name = parameter_name(stack.stack_name, secret)
    with stack.aws_call("cannot look up SSM parameter {0}".format(name), TYPE, name, action="find"):
        found = present(ssm, name)
        owned = found and is_owned(tags_of(ssm, name), stack.stack_name)
    if found:
        if not owned:
            stack.fail(
                "SSM parameter {0} exists but is not tagged for stack {1}; "
                "it belongs to something else: remove it or choose another stack_name".format(name, stack.stack_name),
                resource_type=TYPE,
                resource_id=name,
            )
        stack.record(TYPE, name, "adopted", key=secret)
        return name
    if stack.check_mode:
        stack.plan(TYPE, secret, name=name)
        return name
    with stack.aws_call("cannot create SSM parameter {0}".format(name), TYPE, name):
        try:
            ssm.put_parameter(
                aws_retry=True,
                Name=name,
                Value=generate(secret),
                Type="SecureString",
                Tags=ansible_dict_to_boto3_tag_list(stack.tags(secret)),
                Overwrite=False,
            )
        except is_boto3_error_code("ParameterAlreadyExists"):
            pass  # a retried call whose first response was lost: the parameter is ours, created by that first call
    stack.record(TYPE, name, "created", key=secret)
    return name


def ensure(stack):
    """Adopt or create every secret. Returns (parameter_path, [parameter names])."""
    names = [ensure_one(stack, secret) for secret in SECRETS]
    return ssm_path(stack.stack_name), names


def delete(clients, entry):
    clients.ssm.delete_parameter(aws_retry=True, Name=entry["id"])


def owned(clients, entry, stack_name, region):
    """Whether the parameter lives under the stack's own path (no call: the name says it)."""
    return entry["id"].startswith(ssm_path(stack_name))


def exists(clients, entry):
    return present(clients.ssm, entry["id"])


def discover(clients, stack_name, region):
    ssm = clients.ssm
    names = [parameter["Name"] for parameter in described(ssm, "Recursive", ssm_path(stack_name).rstrip("/"))]
    return [{"id": name, "key": name.rsplit("/", 1)[-1]} for name in names if is_owned(tags_of(ssm, name), stack_name)]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, "systems-manager/parameters/{id}/description?region={r}",
    "aws ssm delete-parameter --region {r} --name {id}",
    delete_after=(), data=True, cost_note="free (standard parameter)",
))
