#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: instance_info
short_description: What EC2 says of a stack's instances now, compared with its state
version_added: 0.1.0
description:
  - Describes the instances the stack's ledger holds, with read-only calls, and compares them with the state.
  - A stop and start, or a spot interruption and EC2's restart, gives an instance another public address; the
    address here is the live one, and RV(address_moved) says whether the recorded service URL is stale.
  - An instance that a spot interruption stopped (state reason C(Server.SpotInstanceShutdown)) is waiting for spot
    capacity; only EC2 may start it again. RV(condition) says so, and RV(msg) gives the ways out.
  - Changes nothing, in AWS or in the state.
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
- name: Read the instances' live state and address
  geusemaker.stack.instance_info:
    stack_name: demo
  register: live
"""

RETURN = r"""
instances:
  description: One entry per recorded instance, in the ledger's order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Instance id.
      type: str
    state:
      description: EC2's state name (C(pending), C(running), C(stopping), C(stopped), C(terminated)), or C(gone).
      type: str
    address:
      description: Public DNS name, else public IP address; null while stopped.
      type: str
    spot_interrupted:
      description: Whether a spot interruption stopped it.
      type: bool
condition:
  description:
    - C(running) (every instance runs), C(waiting_for_spot_capacity), C(stopped), C(changing) (pending or stopping),
      C(gone) (terminated or unknown to EC2), or C(none) (no instance recorded).
  returned: always
  type: str
service_url:
  description: The live service URL, C(https://) and the first instance's address; null when it has none.
  returned: always
  type: str
recorded_url:
  description: The service URL the state holds.
  returned: always
  type: str
address_moved:
  description: Whether the live address differs from the recorded one (the state's URL is stale).
  returned: always
  type: bool
msg:
  description: One line for a person.
  returned: always
  type: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import instance
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(argument_spec=dict())
    ids = [entry["id"] for entry in stack.ledger.entries("instance", provenances=("created", "adopted"), statuses=("present",))]
    recorded = (stack.ledger.document.get("outputs") or {}).get("service_url")
    now = []
    if ids:
        with stack.aws_call("cannot read the state of instance(s) {0}".format(", ".join(ids)), "instance", ids[0], action="find"):
            now = instance.conditions(stack.clients.ec2, ids)
    stack.exit(recorded_url=recorded, **instance.compare(now, recorded))


if __name__ == "__main__":
    main()
