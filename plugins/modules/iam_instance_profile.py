#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: iam_instance_profile
short_description: The IAM role and instance profile of the stack's instances
version_added: 0.1.0
description:
  - Ensures the role C(geusemaker-<stack_name>-<region>) under path C(/geusemaker/), assumable by EC2, with one
    inline policy C(geusemaker-stack) that reads the stack's SSM parameters (and decrypts them through SSM only),
    mounts its EFS file system and registers with Session Manager, and no managed policy.
  - The role is created with the permissions boundary C(policy/geusemaker/geusemaker-instance-boundary) of the
    account, which an administrator creates once from C(docs/iam/instance-boundary.json). Whatever policy the role
    later gets, it can do no more than the boundary allows, and only from an EC2 instance.
  - Then ensures the instance profile of the same name and path holding that role.
  - An existing role is adopted only when it has that path, is tagged for the stack and carries that boundary (the
    deployer policy may not add one; the failure says what an administrator runs). An existing instance profile is
    adopted only when it has that path. Anything else makes the module fail.
  - A managed policy found attached is detached and a differing inline policy is replaced; the module reports a
    change only then.
options:
  file_system_arn:
    description:
      - ARN of the stack's EFS file system, the resource of the mount permissions.
      - When omitted, the mount permissions apply to any file system.
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
- name: Ensure the instance role and profile
  geusemaker.stack.iam_instance_profile:
    stack_name: demo
    file_system_arn: arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0
  register: identity_profile
"""

RETURN = r"""
role_name:
  description: Name of the role (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: geusemaker-demo-us-east-1
role_arn:
  description: ARN of the role; null in check mode when it would be created.
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:role/geusemaker/geusemaker-demo-us-east-1
instance_profile_name:
  description: Name of the instance profile (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: geusemaker-demo-us-east-1
instance_profile_arn:
  description: ARN of the instance profile; null in check mode when it would be created.
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:instance-profile/geusemaker/geusemaker-demo-us-east-1
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import iam_role, instance_profile
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(argument_spec=dict(file_system_arn=dict(type="str")))
    role_name, role_arn = iam_role.ensure(stack, stack.params["file_system_arn"])
    profile_name, profile_arn = instance_profile.ensure(stack, role_name)
    stack.exit(
        role_name=role_name,
        role_arn=role_arn,
        instance_profile_name=profile_name,
        instance_profile_arn=profile_arn,
    )


if __name__ == "__main__":
    main()
