#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: instance
short_description: The stack's EC2 instances, spot first with an on-demand fallback
version_added: 0.1.0
description:
  - Adopts the instances tagged for the stack (logical keys C(instance-0), C(instance-1), ...) or launches the
    missing ones, tagged at birth, across O(subnet_ids) in turn.
  - A launched instance has IMDSv2 required, an encrypted gp3 root volume deleted with it, and the gzip of
    O(user_data) as its UserData.
  - Tries spot (with O(use_spot)) and then on-demand in each subnet's availability zone in turn, until AWS accepts
    one; each refusal for capacity, an unsupported zone or a market's quota is a warning, and the instance is
    recorded where it landed. When every zone and market is refused, fails with the last refusal and what to do.
  - Each instance is recorded in the stack state as soon as AWS accepts the launch, then the module waits until
    every instance is running with its instance and system status checks ok.
  - An instance that terminates while starting, or the O(timeout), fails the module.
options:
  count:
    description: Number of instances.
    type: int
    default: 1
  instance_type:
    description: EC2 instance type.
    type: str
    required: true
  ami_id:
    description: Image id.
    type: str
    required: true
  subnet_ids:
    description: Subnets to place the instances in, in turn.
    type: list
    elements: str
    required: true
  security_group_id:
    description: Security group of the instances.
    type: str
    required: true
  instance_profile_name:
    description:
      - Instance profile of the instances. A profile IAM has not yet propagated is retried for up to 60 seconds.
    type: str
    required: true
  user_data:
    description:
      - The boot script, as text. It is sent gzip-compressed; the compressed size must stay within 16384 bytes.
    type: str
    required: true
  use_spot:
    description:
      - Ask for spot instances first. The spot request is persistent and an interruption stops the instance (its
        volumes stay), so it comes back when capacity returns; teardown cancels the request before terminating.
    type: bool
    default: true
  key_name:
    description: An EC2 key pair for SSH.
    type: str
  timeout:
    description: Seconds the instances may take to launch and be as O(wait) says.
    type: int
    default: 600
  wait:
    description:
      - C(status_ok) waits until the instances run and pass their instance and system status checks; C(running)
        only until they run, so that what needs a running instance (attaching the data volume) need not wait the
        3 to 5 minutes of the checks. Either fails when an instance goes to C(terminated) instead.
    type: str
    choices: [running, status_ok]
    default: status_ok
  root_volume_size:
    description: Size of the encrypted gp3 root volume, in GiB (the preflight module checks it against the image).
    type: int
    default: 75
  availability_zone:
    description:
      - Launch only in the subnets of O(subnet_ids) in this zone - where the stack's data volume is (the preflight module
        returns it as C(data_zone)). Fails when none is there.
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
- name: Ensure the stack's instance
  geusemaker.stack.instance:
    stack_name: demo
    instance_type: g4dn.xlarge
    ami_id: ami-0123456789abcdef0
    subnet_ids: "{{ network_subnet_ids }}"
    security_group_id: "{{ network_security_group_id }}"
    instance_profile_name: geusemaker-demo-us-east-1
    user_data: "{{ services_user_data }}"
  register: compute_instance
"""

RETURN = r"""
instances:
  description: One entry per instance (placeholder ids in check mode for instances that would be launched).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Instance id.
      type: str
      sample: i-0123456789abcdef0
    lifecycle:
      description: C(spot) or C(on-demand).
      type: str
    public_ip:
      description: Public IPv4 address, if any.
      type: str
    public_dns:
      description: Public DNS name, if any.
      type: str
    private_ip:
      description: Private IPv4 address.
      type: str
    subnet_id:
      description: Subnet of the instance.
      type: str
    availability_zone:
      description: Availability zone of the instance.
      type: str
    warnings:
      description: What happened on the way, such as a fallback from spot to on-demand.
      type: list
      elements: str
instance_ids:
  description: Ids of the instances, in key order.
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import instance
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def main():
    stack = StackModule(
        argument_spec=dict(
            count=dict(type="int", default=1),
            instance_type=dict(type="str", required=True),
            ami_id=dict(type="str", required=True),
            subnet_ids=dict(type="list", elements="str", required=True),
            security_group_id=dict(type="str", required=True),
            instance_profile_name=dict(type="str", required=True),
            user_data=dict(type="str", required=True),
            use_spot=dict(type="bool", default=True),
            key_name=dict(type="str", no_log=False),
            timeout=dict(type="int", default=600),
            root_volume_size=dict(type="int", default=75),
            availability_zone=dict(type="str"),
            wait=dict(type="str", choices=["running", "status_ok"], default="status_ok"),
        )
    )
    params = stack.params
    if params["count"] < 1:
        stack.fail("count must be 1 or more")
    if not params["subnet_ids"]:
        stack.fail("subnet_ids must name at least one subnet")
    try:
        instances = instance.ensure(
            stack, params["count"], params["instance_type"], params["ami_id"], params["subnet_ids"],
            params["security_group_id"], params["instance_profile_name"], params["user_data"],
            use_spot=params["use_spot"], key_name=params["key_name"], timeout=params["timeout"],
            root_volume_size=params["root_volume_size"], zone=params["availability_zone"],
            status_checks=params["wait"] == "status_ok",
        )
    except ValueError as e:
        stack.fail(str(e))
    for item in instances:
        for warning in item["warnings"]:
            stack.module.warn(warning)
    stack.exit(instances=instances, instance_ids=[item["id"] for item in instances])


if __name__ == "__main__":
    main()
