#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: security_group
short_description: The stack's security group and its ingress rules
version_added: 0.1.0
description:
  - Adopts the security group tagged for the stack in O(vpc_id), or creates it tagged at birth.
  - Its ingress is made exactly this, removing anything else - 443 from O(allowed_cidrs), 2049 (NFS, for EFS) from the
    group itself, 22 from O(ssh_cidrs). IPv6 blocks become IPv6 rules. Egress stays AWS's default.
  - With O(security_group_id), records the user's group as reused and adds no rule.
options:
  vpc_id:
    description: The VPC of the group.
    type: str
    required: true
  allowed_cidrs:
    description: Who may reach the services on 443. Nothing is open to the world unless listed here.
    type: list
    elements: str
    default: []
  ssh_cidrs:
    description: Who may reach port 22. Empty keeps it closed; SSM Session Manager is the way in.
    type: list
    elements: str
    default: []
  security_group_id:
    description: An existing group to reuse as it is.
    type: str
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.stack
  - geusemaker.stack.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the security group
  geusemaker.stack.security_group:
    stack_name: demo
    vpc_id: vpc-0123456789abcdef0
    allowed_cidrs: [203.0.113.0/24]
  register: network_group
"""

RETURN = r"""
security_group_id:
  description: Id of the group (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: sg-0123456789abcdef0
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import security_group
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
            allowed_cidrs=dict(type="list", elements="str", default=[]),
            ssh_cidrs=dict(type="list", elements="str", default=[]),
            security_group_id=dict(type="str"),
        )
    )
    params = stack.params
    if params["security_group_id"]:
        group_id = security_group.reuse(stack, params["security_group_id"])
    else:
        group_id = security_group.ensure(stack, params["vpc_id"], params["allowed_cidrs"], params["ssh_cidrs"])
    stack.exit(security_group_id=group_id)


if __name__ == "__main__":
    main()
