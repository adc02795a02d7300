#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: power
short_description: Stop or start a stack's instances, to pause GPU billing
version_added: 0.1.0
description:
  - With O(state=stopped), stops every instance the stack owns and waits until they are stopped; the stack is then
    recorded C(stopped). The data volume, the file system and every other resource stay; the GPU is not billed.
  - With O(state=running), starts those that are stopped and waits until all run with status checks ok, and
    returns their new addresses (a stopped instance comes back with another public address). The caller records the
    stack's status once its services are checked (playbooks/start.yml does).
  - An instance that a spot interruption stopped (state reason C(Server.SpotInstanceShutdown)) is EC2's to start,
    when spot capacity returns; StartInstances would be refused. Then nothing is sent, and the failure says so with
    the ways out (wait, or destroy with C(keep_data) and deploy on-demand).
  - Refused, changing nothing, when the stack's status does not allow it (see the status machine in
    C(docs/design.md)).
options:
  state:
    description: C(stopped) or C(running).
    type: str
    choices: [stopped, running]
    required: true
  timeout:
    description: Seconds the instances may take to stop, or to run with status checks ok.
    type: int
    default: 600
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
- name: Pause the stack's GPU billing
  geusemaker.stack.power:
    stack_name: demo
    state: stopped
"""

RETURN = r"""
instances:
  description: With O(state=running), one entry per instance (id, lifecycle, public_ip, public_dns, private_ip, subnet_id,
    availability_zone).
  returned: always
  type: list
  elements: dict
instance_ids:
  description: Ids of the instances acted on.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import instance
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import LedgerError
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            state=dict(type="str", choices=["stopped", "running"], required=True),
            timeout=dict(type="int", default=600),
        )
    )
    params, ledger = stack.params, stack.ledger
    ids = [entry["id"] for entry in ledger.entries("instance", provenances=("created", "adopted"), statuses=("present",))]
    if not ids:
        stack.fail("stack {0} has no instance to {1}".format(stack.stack_name, "stop" if params["state"] == "stopped" else "start"))
    try:
        if params["state"] == "stopped":
            ledger.check_transition("stopped")
        else:
            ledger.check_startable()
    except LedgerError as e:
        stack.fail(str(e))
    stack.changed = True
    if stack.check_mode:
        stack.exit(instances=[], instance_ids=ids)
    if params["state"] == "stopped":
        instance.stop(stack, ids, params["timeout"])
        ledger.set_status("stopped")
        stack.exit(instances=[], instance_ids=ids)
    stack.exit(instances=instance.start(stack, ids, params["timeout"]), instance_ids=ids)


if __name__ == "__main__":
    main()
