#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: stack_state
short_description: Set a stack's status, failure and outputs in its state file
version_added: 0.1.0
description:
  - Creates the state file on first use, then records the stack status (and, when failed, what failed).
  - Bookkeeping is not a change to the stack, so the task never reports C(changed).
  - A status never moves back from a teardown result (C(rolled_back), C(rollback_failed), C(destroyed))
    to C(failed); see O(status).
options:
  status:
    description: The stack status to record.
    type: str
    choices: [deploying, deployed, degraded, failed, rolling_back, rolled_back, rollback_failed, destroying, destroyed]
  failure:
    description: What failed (task, resource_type, error_code, error_message, critical); C(at) is added.
    type: dict
  clear_failure:
    description: Forget an earlier failure (a new deploy starts).
    type: bool
    default: false
  outputs:
    description: Values worth keeping for the user (service URLs, instance ids); never secrets.
    type: dict
  warn_leftovers:
    description: Warn with every owned resource still recorded as existing, and its estimated cost (a failed run
      that rolled nothing back).
    type: bool
    default: false
author:
  - GeuseMaker developers
extends_documentation_fragment:
  - geusemaker.stack.stack
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Mark the stack deployed
  geusemaker.stack.stack_state:
    stack_name: demo
    status: deployed
"""

RETURN = r"""
status:
  description: The status now recorded.
  returned: always
  type: str
state_file:
  description: Where the state is kept.
  returned: always
  type: str
resources:
  description: One line per resource in the ledger - type, id, provenance and status.
  returned: always
  type: list
  elements: str
  sample: ["vpc vpc-0123456789abcdef0 (created, present)"]
"""

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import STACK_STATUSES
from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import leftovers_warning
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import iso, utc_now

# A failure recorded after a teardown must not hide the teardown's result.
TEARDOWN_RESULTS = ("rolled_back", "rollback_failed", "destroyed")


def main():
    stack = StackModule(
        argument_spec=dict(
            status=dict(type="str", choices=list(STACK_STATUSES)),
            failure=dict(type="dict"),
            clear_failure=dict(type="bool", default=False),
            outputs=dict(type="dict"),
            warn_leftovers=dict(type="bool", default=False),
        )
    )
    params = stack.params
    document = stack.ledger.document
    status = params["status"] or document["status"]
    if status == "failed" and document["status"] in TEARDOWN_RESULTS:
        status = document["status"]
    failure = None
    if params["failure"]:
        failure = dict(params["failure"], at=iso(utc_now()))
    if params["outputs"] is not None:
        document["outputs"] = params["outputs"]
    stack.ledger.set_status(status, failure=failure, clear_failure=params["clear_failure"])
    if params["warn_leftovers"]:
        warning = leftovers_warning(stack.ledger.document)
        if warning:
            stack.module.warn(warning)
    resources = ["{type} {id} ({provenance}, {status})".format(**entry) for entry in document["resources"]]
    stack.exit(status=status, state_file=stack.store.location(stack.stack_name), resources=resources)


if __name__ == "__main__":
    main()
