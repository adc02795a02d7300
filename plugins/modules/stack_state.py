#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: stack_state
short_description: Read a stack's state, or record its status, failure and outputs
version_added: 0.1.0
description:
  - With none of O(status), O(failed_task), O(outputs) and O(clear_failure), reads the stack's state and changes
    nothing.
  - Otherwise records them in the state, after checking that the stack's status machine allows the move from the
    recorded status to O(status) (see C(docs/design.md)); a move it does not allow is refused with an error that
    names both statuses.
  - A failure record is built here from the failed task's name and result (resource type, AWS error code,
    message); playbooks hand them over as they are.
  - Bookkeeping is not a change to the stack, so the task never reports C(changed).
options:
  status:
    description: The stack status to record.
    type: str
    choices: [deploying, deployed, degraded, stopped, failed, rolling_back, rolled_back, rollback_failed, destroying, destroyed]
  failed_task:
    description: Name of the task that failed; with O(failed_result), recorded as the stack's failure.
    type: str
  failed_result:
    description:
      - The failed task's result (C(ansible_failed_result) in a rescue, or a registered result). Its C(msg),
        C(resource_type) and C(error_code) are recorded.
    type: dict
  critical:
    description: Whether the recorded failure is critical (it rolls back) or not (the stack stays, degraded).
    type: bool
    default: true
  clear_failure:
    description: Forget an earlier failure (a new deploy starts, or a check found the services healthy).
    type: bool
    default: false
  outputs:
    description: Values worth keeping for the user (service URLs, instance ids); never secrets.
    type: dict
  warn_leftovers:
    description:
      - Warn with every owned resource still recorded as existing, and its estimated cost (a failed run that
        rolled nothing back).
    type: bool
    default: false
  commands:
    description:
      - How the user runs the playbooks, so that the commands this module and the recovery report show (retry,
        check, destroy) are ones that user can run. The module's action plugin fills it from the run when a task
        does not give it - AWX's C(awx_job_id) (or C(tower_job_id)), the playbook's directory, C(command_style) and
        the C(*_job_template) variables.
    type: dict
    suboptions:
      style:
        description:
          - V(checkout) names C(ansible-playbook playbooks/<name>.yml) (a clone of the repository),
            V(collection) C(ansible-playbook geusemaker.stack.<name>) (the collection installed), V(awx) the AWX job
            template.
        type: str
        choices: [checkout, collection, awx]
        default: checkout
      deploy_job_template:
        description: With V(awx), the job template that deploys.
        type: str
        default: GeuseMaker deploy
      destroy_job_template:
        description: With V(awx), the job template that destroys.
        type: str
        default: GeuseMaker destroy
      check_job_template:
        description: With V(awx), the job template that checks a stack's services.
        type: str
        default: GeuseMaker check
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
- name: Mark the stack deployed
  geusemaker.stack.stack_state:
    stack_name: demo
    status: deployed

- name: Record what failed (in a rescue section)
  geusemaker.stack.stack_state:
    stack_name: demo
    status: failed
    failed_task: "{{ ansible_failed_task.name }}"
    failed_result: "{{ ansible_failed_result }}"
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
outputs:
  description: The outputs recorded by the last successful deploy (service URL, instance ids), if any.
  returned: always
  type: dict
resources:
  description: One line per resource in the ledger - type, id, provenance and status.
  returned: always
  type: list
  elements: str
  sample: ["vpc vpc-0123456789abcdef0 (created, present)"]
commands:
  description: The deploy, destroy and check commands of this stack, as the user runs them (see O(commands)).
  returned: always
  type: dict
  sample: {destroy: "ansible-playbook geusemaker.stack.destroy -e stack_name=demo"}
summary:
  description:
    - What a job publishes for the next node of an AWX workflow (the playbooks' C(set_stats) key C(geusemaker)).
    - stack_name, status (C(absent) when no state was ever recorded), state_location, resources (each
      C({type, id, status})) and recovery_options (each a title, a colon and what to do; empty unless the stack is
      failed, rolled back, rollback_failed or degraded).
  returned: always
  type: dict
"""

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import STACK_STATUSES, LedgerError, failure_record
from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import (
    COMMAND_STYLES,
    JOB_TEMPLATES,
    leftovers_warning,
    stack_commands,
    summary,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError


def main():
    stack = StackModule(
        argument_spec=dict(
            status=dict(type="str", choices=list(STACK_STATUSES)),
            failed_task=dict(type="str"),
            failed_result=dict(type="dict"),
            critical=dict(type="bool", default=True),
            clear_failure=dict(type="bool", default=False),
            outputs=dict(type="dict"),
            warn_leftovers=dict(type="bool", default=False),
            commands=dict(type="dict", options=dict(
                style=dict(type="str", choices=list(COMMAND_STYLES), default="checkout"),
                **{name + "_job_template": dict(type="str", default=template) for name, template in JOB_TEMPLATES.items()}
            )),
        )
    )
    params = stack.params
    ledger = stack.ledger
    failure = None
    if params["failed_task"] is not None or params["failed_result"] is not None:
        failure = failure_record(params["failed_task"], params["failed_result"], params["critical"])
    if params["status"] or failure or params["outputs"] is not None or params["clear_failure"]:
        try:
            if params["outputs"] is not None:
                ledger.set_outputs(params["outputs"], save=False)  # saved with the status, in one write
            ledger.set_status(params["status"] or ledger.document["status"], failure=failure,
                              clear_failure=params["clear_failure"])
        except (LedgerError, StateError) as e:
            stack.fail(str(e))
    if params["warn_leftovers"]:
        warning = leftovers_warning(ledger.document, params["commands"], stack.location)
        if warning:
            stack.module.warn(warning)
    document = ledger.document
    state_file = stack.store.location(stack.stack_name)
    stack.exit(
        status=document["status"],
        state_file=state_file,
        outputs=document.get("outputs") or {},
        resources=["{type} {id} ({provenance}, {status})".format(**entry) for entry in document["resources"]],
        commands=stack_commands(stack.stack_name, params["commands"], stack.location),
        summary=dict(summary(document, state_file, params["commands"], stack.location),
                     # No document: nothing of the stack was ever recorded (a run refused before its first save).
                     **({"status": "absent"} if ledger.version is None else {})),
    )


if __name__ == "__main__":
    main()
