#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: stack_list
short_description: List every known stack with its status
version_added: 0.1.0
description:
  - Reads every stack's state at the state location and reports, per stack, its status, failure reason, the
    number of owned resources that still exist in AWS (checked with read-only calls), their estimated cost per
    hour, and its age.
  - A corrupt state document is reported, and left where it is.
  - A stack recorded in another AWS account than the credentials' is listed, but its resources are not counted (they
    would all look gone), and the line says so.
options:
  stack_name:
    description: List only this stack.
    type: str
  tags:
    description: Not used; accepted so that the play's module_defaults for C(group/geusemaker.stack.stack) apply here too.
    type: dict
    default: {}
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List the stacks
  geusemaker.stack.stack_list:
  register: known_stacks
"""

RETURN = r"""
stacks:
  description: One entry per stack.
  returned: always
  type: list
  elements: dict
  contains:
    stack_name:
      description: Name of the stack.
      type: str
    status:
      description: Recorded status (C(corrupt) for an unreadable state file).
      type: str
    failure:
      description: Why it failed, if it did.
      type: str
    existing_resources:
      description: Owned resources that still exist (null when AWS could not be asked).
      type: int
    instance:
      description:
        - What EC2 says of the stack's instances now, whatever the state records. C(running), C(stopped),
          C(waiting_for_spot_capacity) (a spot interruption stopped it; only EC2 starts it again), C(changing),
          C(gone), or C(none); with C( (address moved)) when the recorded service URL is stale. Null when AWS could
          not be asked.
      type: str
    hourly_usd:
      description: Estimated USD per hour of those resources, on-demand prices (null when AWS could not be asked).
      type: float
    account_id:
      description: The AWS account the stack is recorded in.
      type: str
    age:
      description: Time since the stack was first recorded.
      type: str
table:
  description: The same as aligned text lines.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.geusemaker.stack.plugins.module_utils.stack_list import describe_stack, format_table
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure, caller_identity, module_clients, module_store
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    LOCK_OPTIONS,
    STATE_LOCATION_OPTIONS,
    StateError,
    state_location,
)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(stack_name=dict(type="str"), tags=dict(type="dict", default={}), **STATE_LOCATION_OPTIONS,
                           **LOCK_OPTIONS),
        supports_check_mode=True,
    )
    try:
        store = module_store(module, state_location(module.params))
        names = store.list_stacks()
    except StateError as e:
        module.fail_json(msg=str(e))
    if module.params["stack_name"]:
        names = [name for name in names if name == module.params["stack_name"]]
    clients_by_region = {}

    def clients_for_region(region):
        if region not in clients_by_region:
            clients_by_region[region] = module_clients(module, region)
        return clients_by_region[region]

    caller_account = None
    if names:
        try:
            caller_account, _partition, _arn = caller_identity(clients_for_region(module.region).sts)
        except StackFailure as e:
            module.warn("resources are not counted: {0}".format(e))
    stacks = [describe_stack(store, name, clients_for_region, caller_account) for name in names]
    module.exit_json(changed=False, stacks=stacks, table=format_table(stacks))


if __name__ == "__main__":
    main()
