#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: volume
short_description: The stack's data volume, for PostgreSQL and Qdrant
version_added: 0.1.0
description:
  - Adopts the stack's data volume (tagged C(geusemaker:key=data)), or creates it - encrypted gp3, tagged at birth, in
    O(availability_zone), the zone where the instance was placed - records it at once, and attaches it to
    O(instance_id) as C(/dev/sdf). The boot script formats it only when it holds no file system.
  - It is data - C(keep_data) keeps it - and a kept volume pins the zone of the next deploy (the preflight module
    returns it as RV(geusemaker.stack.preflight#module:data_zone)).
  - A volume found in another zone than the instance fails the module - a volume attaches only in its own zone.
options:
  instance_id:
    description: The instance to attach it to.
    type: str
    required: true
  availability_zone:
    description: The instance's availability zone; required unless O(instance_id) is a check-mode placeholder.
    type: str
  size:
    description: Size in GiB of a created volume.
    type: int
    default: 100
  timeout:
    description: Seconds the volume may take to become available and attached.
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
- name: Ensure the data volume, attached
  geusemaker.stack.volume:
    stack_name: demo
    instance_id: "{{ compute_instances.instance_ids[0] }}"
    availability_zone: "{{ compute_instances.instances[0].availability_zone }}"
  register: compute_volume
"""

RETURN = r"""
volume_id:
  description: Id of the data volume (a placeholder in check mode when it would be created).
  returned: always
  type: str
  sample: vol-0123456789abcdef0
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import volume
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_planned
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            instance_id=dict(type="str", required=True),
            availability_zone=dict(type="str"),
            size=dict(type="int", default=volume.DEFAULT_SIZE_GIB),
            timeout=dict(type="int", default=300),
        )
    )
    params = stack.params
    if not 1 <= params["size"] <= 16384:
        stack.fail("size must be between 1 and 16384 GiB, not {0}".format(params["size"]))
    if not params["availability_zone"] and not is_planned(params["instance_id"]):
        stack.fail("availability_zone is required: the zone instance {0} is in".format(params["instance_id"]))
    volume_id = volume.ensure(stack, params["instance_id"], params["availability_zone"], params["size"], params["timeout"])
    stack.exit(volume_id=volume_id)


if __name__ == "__main__":
    main()
