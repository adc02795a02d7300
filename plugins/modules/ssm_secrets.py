#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ssm_secrets
short_description: The stack's generated secrets, as SSM SecureString parameters
version_added: 0.1.0
description:
  - Ensures the parameters C(db_password) and C(n8n_encryption_key) under C(/geusemaker/<stack_name>/).
  - A parameter that exists and is tagged for the stack is adopted and its value kept as it is.
  - A missing one is created as a SecureString, tagged at birth, with a value generated on the managed node
    (32 letters and digits for C(db_password), 64 hexadecimal digits for C(n8n_encryption_key)).
  - A parameter at that path that is not tagged for the stack makes the module fail; it is never overwritten.
  - Values are never returned, logged or written to the state file; instances read them from SSM.
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
- name: Ensure the stack's secrets in SSM
  geusemaker.stack.ssm_secrets:
    stack_name: demo
  register: identity_secrets
"""

RETURN = r"""
parameter_path:
  description: SSM path holding the stack's parameters.
  returned: always
  type: str
  sample: /geusemaker/demo/
parameter_names:
  description: Full names of the stack's parameters (their values are never returned).
  returned: always
  type: list
  elements: str
  sample:
    - /geusemaker/demo/db_password
    - /geusemaker/demo/n8n_encryption_key
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import ssm_parameter
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(argument_spec=dict())
    parameter_path, parameter_names = ssm_parameter.ensure(stack)
    stack.exit(parameter_path=parameter_path, parameter_names=parameter_names)


if __name__ == "__main__":
    main()
