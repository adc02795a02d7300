#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: internet_gateway
short_description: The stack's internet gateway, attached to its VPC
version_added: 0.1.0
description:
  - Adopts the internet gateway tagged for the stack, or creates it tagged at birth, and attaches it to O(vpc_id).
options:
  vpc_id:
    description: The VPC to attach the gateway to.
    type: str
    required: true
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
- name: Ensure the internet gateway
  geusemaker.stack.internet_gateway:
    stack_name: demo
    vpc_id: vpc-0123456789abcdef0
  register: network_igw
"""

RETURN = r"""
internet_gateway_id:
  description: Id of the gateway (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: igw-0123456789abcdef0
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import internet_gateway
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
        )
    )
    stack.exit(internet_gateway_id=internet_gateway.ensure(stack, stack.params["vpc_id"]))


if __name__ == "__main__":
    main()
