#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: mount_target
short_description: A mount target of the stack's EFS file system in each subnet
version_added: 0.1.0
description:
  - For each subnet, adopts the file system's mount target there, or creates one with the given security group,
    then waits until all are available.
  - Mount targets cannot be tagged; they are owned through their file system.
  - Each is recorded in the stack state as soon as its create call returns, before the wait.
  - A create refused because the file system is still being created is retried until O(timeout).
options:
  file_system_id:
    description: Id of the EFS file system.
    type: str
    required: true
  subnet_ids:
    description: Subnets to place a mount target in, one each.
    type: list
    elements: str
    required: true
  security_group_id:
    description: Security group of created mount targets.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the mount targets to become available.
    type: int
    default: 300
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
- name: Ensure a mount target in each subnet
  geusemaker.stack.mount_target:
    stack_name: demo
    file_system_id: "{{ storage_file_system.file_system_id }}"
    subnet_ids:
      - subnet-0123456789abcdef0
      - subnet-0fedcba9876543210
    security_group_id: sg-0123456789abcdef0
  register: storage_mount_targets
"""

RETURN = r"""
mount_target_ids:
  description: Ids of the mount targets in the order of O(subnet_ids) (placeholders in check mode for those that would be created).
  returned: always
  type: list
  elements: str
  sample: [fsmt-0123456789abcdef0, fsmt-0fedcba9876543210]
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import mount_target
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            file_system_id=dict(type="str", required=True),
            subnet_ids=dict(type="list", elements="str", required=True),
            security_group_id=dict(type="str", required=True),
            timeout=dict(type="int", default=300),
        )
    )
    mount_target_ids = mount_target.ensure(
        stack,
        stack.params["file_system_id"],
        stack.params["subnet_ids"],
        stack.params["security_group_id"],
        timeout=stack.params["timeout"],
    )
    stack.exit(mount_target_ids=mount_target_ids)


if __name__ == "__main__":
    main()
