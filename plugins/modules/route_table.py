#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: route_table
short_description: The stack's public route table
version_added: 0.1.0
description:
  - Adopts the route table tagged for the stack in O(vpc_id), or creates it tagged at birth.
  - Its default route (0.0.0.0/0) goes to O(internet_gateway_id) and O(subnet_ids) are associated with it.
options:
  vpc_id:
    description: The VPC of the table.
    type: str
    required: true
  internet_gateway_id:
    description: Target of the default route.
    type: str
    required: true
  subnet_ids:
    description: Subnets to associate with the table.
    type: list
    elements: str
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
- name: Ensure the public route table
  geusemaker.stack.route_table:
    stack_name: demo
    vpc_id: vpc-0123456789abcdef0
    internet_gateway_id: igw-0123456789abcdef0
    subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
  register: network_routes
"""

RETURN = r"""
route_table_id:
  description: Id of the route table (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: rtb-0123456789abcdef0
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import route_table
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
            internet_gateway_id=dict(type="str", required=True),
            subnet_ids=dict(type="list", elements="str", required=True),
        )
    )
    params = stack.params
    stack.exit(route_table_id=route_table.ensure(stack, params["vpc_id"], params["internet_gateway_id"], params["subnet_ids"]))


if __name__ == "__main__":
    main()
