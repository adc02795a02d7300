#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: teardown
short_description: Delete everything a stack owns, concurrently, in dependency order
version_added: 0.1.0
description:
  - Deletes the ledger's C(created) and C(adopted) resources plus anything carrying the stack's ownership mark
    that never reached the ledger. Resources with provenance C(reused) are never touched.
  - One concurrent plan over the dependency table; each deletion starts as soon as what it waits for is
    confirmed gone. Transient refusals (DependencyViolation, FileSystemInUse, DeleteConflict, throttling)
    are retried until O(timeout), which also bounds every wait.
  - Before each delete the resource's own marks are read again (its C(geusemaker:stack) tag; for IAM its name and
    the C(/geusemaker/) path; for a parameter its path). One whose marks are not the stack's is never deleted and
    is recorded C(not_owned). The state is a document its writer controls; AWS's marks are the truth.
  - Every attempt is logged in the state's events. Leftovers stay in the ledger as C(delete_failed).
  - In check mode it returns the plan, in order, and changes nothing.
options:
  timeout:
    description: Seconds the whole teardown may take.
    type: int
    default: 900
  purpose:
    description:
      - C(rollback) records C(rolling_back), then C(rolled_back) or C(rollback_failed).
      - C(destroy) records C(destroying), then C(destroyed), or C(failed) with leftovers.
    type: str
    choices: [rollback, destroy]
    default: destroy
  keep_data:
    description: Keep the EFS file system (its mount targets still go); it is recorded as C(retained).
    type: bool
    default: false
  poll_interval:
    description: Seconds between checks of a dependency's real state.
    type: float
    default: 1.5
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
- name: Destroy the stack
  geusemaker.stack.teardown:
    stack_name: demo
    purpose: destroy
"""

RETURN = r"""
plan:
  description: The resources to delete, in an order a sequential teardown could follow.
  returned: always
  type: list
  elements: dict
deleted:
  description: Resources deleted (or found already gone).
  returned: always
  type: list
  elements: dict
left:
  description: Resources still existing after the teardown.
  returned: always
  type: list
  elements: dict
status:
  description: The stack status recorded.
  returned: always
  type: str
log:
  description: One line per deletion attempt.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import teardown
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import LedgerError, failure_record
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError

STATUSES = {
    "rollback": ("rolling_back", "rolled_back", "rollback_failed"),
    "destroy": ("destroying", "destroyed", "failed"),
}


def summary(entry):
    return {k: entry[k] for k in ("type", "id", "provenance", "status") if k in entry}


def main():
    stack = StackModule(
        argument_spec=dict(
            timeout=dict(type="int", default=900),
            purpose=dict(type="str", choices=["rollback", "destroy"], default="destroy"),
            keep_data=dict(type="bool", default=False),
            poll_interval=dict(type="float", default=1.5),
        )
    )
    params = stack.params
    running, succeeded, unfinished = STATUSES[params["purpose"]]
    with stack.aws_call("cannot search for the stack's resources", None, action="discover"):
        discovered = teardown.discover_owned(stack.clients, stack.stack_name, stack.region)
    try:
        plan = teardown.build_plan(stack.ledger, discovered, keep_data=params["keep_data"])
    except StateError as e:
        stack.fail("the teardown stopped: {0}".format(e))
    if stack.check_mode:
        stack.changed = bool(plan)
        stack.exit(plan=[summary(e) for e in plan], deleted=[], left=[], status=stack.ledger.document["status"], log=[])
    log = []
    try:
        stack.ledger.set_status(running)
        worker = teardown.Teardown(stack.ledger, stack.clients, params["timeout"], poll=params["poll_interval"],
                                   log=log.append, heartbeat=stack.heartbeat)
        deleted, left = worker.run(plan)
    except LedgerError as e:
        stack.fail(str(e))
    except StateError as e:  # the state could not be written (the lock was lost, a conflict): nothing more is done
        stack.fail("the teardown stopped: {0}".format(e), log=log)
    stack.changed = bool(deleted)
    left_names = ", ".join("{0} {1}".format(e["type"], e["id"]) for e in left if e["status"] != "not_owned")
    foreign = [e for e in left if e["status"] == "not_owned"]
    if foreign:  # refused, never deleted: the state names what AWS says is not the stack's
        left_names = "; ".join(part for part in (left_names, "not the stack's, so left untouched (was the state altered?): " + ", ".join(
            "{0} {1}".format(e["type"], e["id"]) for e in foreign)) if part)
    try:
        if left:
            failure = failure_record(params["purpose"], dict(
                resource_type=left[0]["type"], error_code="TeardownIncomplete",
                msg="{0} resource(s) could not be deleted: {1}".format(len(left), left_names)))
            stack.ledger.set_status(unfinished, failure=failure if params["purpose"] == "destroy" else None)
        else:
            stack.ledger.set_status(succeeded)
    except StateError as e:
        stack.fail("the teardown ran, but its outcome could not be recorded: {0}".format(e), log=log)
    result = dict(plan=[summary(e) for e in plan], deleted=[summary(e) for e in deleted], left=[summary(e) for e in left],
                  status=stack.ledger.document["status"], log=log)
    if left:
        stack.fail("teardown left {0} resource(s): {1}".format(len(left), left_names), changed=stack.changed,
                   ansible_facts={"geusemaker_ledger": stack.ledger.document}, **result)
    stack.exit(**result)


if __name__ == "__main__":
    main()
