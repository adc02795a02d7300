#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: file_system
short_description: The stack's encrypted EFS file system
version_added: 0.1.0
description:
  - Adopts the EFS file system whose CreationToken is C(geusemaker-<stack_name>-<region>), or creates it encrypted,
    general purpose and bursting, tagged at birth, then waits until it is available.
  - The file system is recorded in the stack state as soon as the create call returns, before the wait.
  - With O(client_role_arn), its file system policy is made exactly this - no connection without TLS
    (C(aws:SecureTransport)), and only that role may mount, write and act as root, through a mount target, with IAM
    authorization (C(mount -t efs -o tls,iam)); a client without IAM matches no Allow.
options:
  timeout:
    description: Seconds to wait for the file system to become available.
    type: int
    default: 300
  client_role_arn:
    description: The IAM role the stack's instances use; the only one the file system policy lets in.
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
- name: Ensure the stack's EFS file system
  geusemaker.stack.file_system:
    stack_name: demo
    timeout: 300
  register: storage_file_system
"""

RETURN = r"""
file_system_id:
  description: Id of the file system (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: fs-0123456789abcdef0
file_system_arn:
  description: ARN of the file system; null in check mode when it would be created.
  returned: always
  type: str
  sample: arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            timeout=dict(type="int", default=300),
            client_role_arn=dict(type="str"),
        )
    )
    file_system_id, file_system_arn = file_system.ensure(stack, timeout=stack.params["timeout"])
    if stack.params["client_role_arn"]:
        file_system.ensure_client_policy(stack, file_system_id, file_system_arn, stack.params["client_role_arn"])
    stack.exit(file_system_id=file_system_id, file_system_arn=file_system_arn)


if __name__ == "__main__":
    main()
