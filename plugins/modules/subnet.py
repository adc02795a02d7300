#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: subnet
short_description: The stack's public subnets, one per availability zone
version_added: 0.1.0
description:
  - Adopts the subnets tagged for the stack in O(vpc_id), or creates them tagged at birth, one per zone, with public IPs on launch.
  - With O(subnet_ids), records the user's subnets as reused and changes nothing in them.
  - Placeholder ids from a check-mode run are planned, never sent to AWS.
options:
  vpc_id:
    description: The VPC the subnets are in.
    type: str
    required: true
  az_count:
    description: How many subnets to make, each in its own availability zone.
    type: int
    default: 2
  availability_zones:
    description:
      - The zones to put the subnets in, in order (those that offer the instance type; the preflight module returns
        them). By default, the first available zones of the region, by name.
    type: list
    elements: str
  subnet_ids:
    description: Existing public subnets of O(vpc_id) to reuse as they are.
    type: list
    elements: str
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
- name: Ensure two public subnets
  geusemaker.stack.subnet:
    stack_name: demo
    vpc_id: vpc-0123456789abcdef0
    az_count: 2
  register: network_subnets
"""

RETURN = r"""
subnet_ids:
  description: Ids of the subnets, in zone order.
  returned: always
  type: list
  elements: str
availability_zones:
  description: The zone of each subnet (empty in check mode when the VPC is planned).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import subnet
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
            az_count=dict(type="int", default=2),
            availability_zones=dict(type="list", elements="str"),
            subnet_ids=dict(type="list", elements="str"),
        )
    )
    if stack.params["subnet_ids"]:
        subnet_ids, zones = subnet.reuse(stack, stack.params["vpc_id"], stack.params["subnet_ids"])
    else:
        subnet_ids, zones = subnet.ensure(stack, stack.params["vpc_id"], stack.params["az_count"], stack.params["availability_zones"])
    stack.exit(subnet_ids=subnet_ids, availability_zones=zones)


if __name__ == "__main__":
    main()
