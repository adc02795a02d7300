#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vpc
short_description: The stack's VPC, with DNS support and hostnames
version_added: 0.1.0
description:
  - Adopts the VPC tagged for the stack, or creates it tagged at birth, then turns DNS support and hostnames on.
  - With O(vpc_id), records the user's VPC as reused and changes nothing in it.
options:
  cidr_block:
    description: CIDR block of a created VPC.
    type: str
    default: 10.42.0.0/16
  vpc_id:
    description: An existing VPC to reuse as it is.
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
- name: Ensure the stack's VPC
  geusemaker.stack.vpc:
    stack_name: demo
    cidr_block: 10.42.0.0/16
  register: network_vpc
"""

RETURN = r"""
vpc_id:
  description: Id of the VPC (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import vpc
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            cidr_block=dict(type="str", default="10.42.0.0/16"),
            vpc_id=dict(type="str"),
        )
    )
    if stack.params["vpc_id"]:
        vpc_id = vpc.reuse(stack, stack.params["vpc_id"])
    else:
        vpc_id = vpc.ensure(stack, stack.params["cidr_block"])
    stack.exit(vpc_id=vpc_id)


if __name__ == "__main__":
    main()
