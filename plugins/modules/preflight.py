#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: preflight
short_description: Check a deploy's inputs and the AWS account before anything is created
version_added: 0.1.0
description:
  - Validates every deploy input and checks the account with read-only calls, so that a deploy that cannot succeed
    fails before anything is created. Reports every problem found at once, each with what to do.
  - Inputs - CIDRs (IPv4 or IPv6; at least one in O(allowed_cidrs) while O(health_check) is on; a C(/0) draws a
    warning), the user's tags against AWS's rules, O(instance_count) (the stack is single-node), timeouts.
  - Account - the credentials and their account (pinned in the stack's state at its first save; another account is
    refused); reused VPC, subnets (public, mapping public IPv4 addresses, in two AZs) and security group; the
    instance type, and the availability zones that offer it (the stack's subnets are placed there, the zone of a kept
    data volume first, and the type must be offered there); the vCPU quota
    (Service Quotas C(L-3819A6DF)/C(L-DB2E81BA) for G and VT spot/on-demand, C(L-34B43A08)/C(L-1216C47A) for
    standard families, C(L-7212CCBC)/C(L-417A185B) for P; a quota that cannot be read is a warning); the image, its
    architecture against the instance type's, and its root snapshot against the root volume; the key pair; the
    permissions boundary C(policy/geusemaker/geusemaker-instance-boundary) that the stack's role is created with
    (an administrator creates it once per account from C(docs/iam/instance-boundary.json)).
  - Makes no change in AWS. A corrupt state file is moved aside as C(<stack_name>.json.corrupt-<UTC timestamp>) and
    reported.
options:
  vpc_cidr:
    description: CIDR block of a created VPC.
    type: str
    default: 10.42.0.0/16
  vpc_id:
    description: A VPC to reuse; needs O(subnet_ids).
    type: str
  subnet_ids:
    description: Public subnets of O(vpc_id), in two availability zones or more.
    type: list
    elements: str
    default: []
  security_group_id:
    description: A security group to reuse as it is.
    type: str
  az_count:
    description: Number of availability zones (subnets and mount targets).
    type: int
    default: 2
  instance_count:
    description: Number of instances; the stack is single-node, so only 1 is accepted.
    type: int
    default: 1
  instance_type:
    description: EC2 instance type.
    type: str
    required: true
  ami_id:
    description:
      - Image id. By default the current Deep Learning Base OSS NVIDIA driver GPU AMI for Amazon Linux 2023, for the
        instance type's architecture, from the public SSM parameter
        C(/aws/service/deeplearning/ami/<x86_64|arm64>/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id).
    type: str
  ami_owners:
    description:
      - Who may own the image the instance runs, as root with the stack's role. C(amazon) for AWS's own images,
        C(self) for this account's, or account ids. Any other owner is refused before anything is created.
    type: list
    elements: str
    default: [amazon, self]
  root_volume_size:
    description:
      - Root volume size in GiB; by default the image's root snapshot and 30 GiB for the container images, at least 75.
      - Smaller than the snapshot is refused; smaller than the default is warned about.
    type: int
  data_volume_size:
    description: Size in GiB of the data volume the compute role creates (1 to 16384); checked, and priced in RV(estimated_cost).
    type: int
    default: 100
  key_name:
    description: An EC2 key pair name.
    type: str
  allowed_cidrs:
    description: Who may reach HTTPS (443).
    type: list
    elements: str
    default: []
  ssh_cidrs:
    description: Who may reach SSH (22).
    type: list
    elements: str
    default: []
  rollback_timeout:
    description: Seconds a rollback may take.
    type: int
    default: 900
  instance_timeout:
    description: Seconds an instance may take to run.
    type: int
    default: 600
  health_check_timeout:
    description: Seconds the services may take to become healthy.
    type: int
    default: 900
  rollback:
    description: Whether a critical failure rolls back (checked here so a bad value stops the run early).
    type: bool
    default: true
  on_failure:
    description:
      - What a critical failure does. V(rollback) follows O(rollback). V(prompt) asks on a terminal which recovery
        option to take, and falls back to O(rollback) without one (AWX). Checked here only.
    type: str
    choices: [rollback, prompt]
    default: rollback
  health_check:
    description: Whether the services are health-checked (checked here only).
    type: bool
    default: true
  use_spot:
    description: Whether spot capacity is asked for first (checked here only).
    type: bool
    default: true
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
- name: Check the inputs before anything is created
  geusemaker.stack.preflight:
    stack_name: demo
    instance_type: g4dn.xlarge
    allowed_cidrs: [203.0.113.0/24]
  register: deploy_preflight
"""

RETURN = r"""
region:
  description: The region the stack deploys to.
  returned: success
  type: str
account_id:
  description: The AWS account id the stack lives in.
  returned: success
  type: str
partition:
  description: The AWS partition of that account (C(aws), C(aws-cn), C(aws-us-gov)).
  returned: success
  type: str
ami_id:
  description: The image the instances will boot.
  returned: success
  type: str
architecture:
  description: The image's architecture.
  returned: success
  type: str
root_volume_size:
  description: Root volume size in GiB.
  returned: success
  type: int
gpus:
  description: How many NVIDIA GPUs the instance type has; the boot fails if it sees none where there should be one.
  returned: success
  type: int
availability_zones:
  description:
    - The availability zones the stack's subnets go to, among those that offer the instance type; the data volume's
      first when the stack has one.
  returned: success
  type: list
  elements: str
data_zone:
  description: The zone of the stack's data volume (kept by C(keep_data)), where the instance must go; null without one.
  returned: success
  type: str
stack_status:
  description: The stack's recorded status, or C(new).
  returned: success
  type: str
estimated_cost:
  description: What the stack will cost, estimated from on-demand prices (spot is usually much less).
  returned: success
  type: str
  sample: about USD 0.526/hour for 1 x g4dn.xlarge on-demand, plus EFS storage billed by stored GB
policy_check_commands:
  description:
    - C(aws iam simulate-principal-policy) commands that check, on the account, that the credentials in use may make
      the calls a deploy, check and destroy of this stack make under their conditions (tags, permissions boundary,
      role passed to EC2 only). Each prints nothing when the call is allowed.
    - A C(--check) deploy prints them.
  returned: success
  type: list
  elements: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import preflight
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError


def main():
    stack = StackModule(
        argument_spec=dict(
            vpc_cidr=dict(type="str", default="10.42.0.0/16"),
            vpc_id=dict(type="str"),
            subnet_ids=dict(type="list", elements="str", default=[]),
            security_group_id=dict(type="str"),
            az_count=dict(type="int", default=2),
            instance_count=dict(type="int", default=1),
            instance_type=dict(type="str", required=True),
            ami_id=dict(type="str"),
            ami_owners=dict(type="list", elements="str", default=["amazon", "self"]),
            root_volume_size=dict(type="int"),
            data_volume_size=dict(type="int", default=100),
            key_name=dict(type="str", no_log=False),
            allowed_cidrs=dict(type="list", elements="str", default=[]),
            ssh_cidrs=dict(type="list", elements="str", default=[]),
            rollback_timeout=dict(type="int", default=900),
            instance_timeout=dict(type="int", default=600),
            health_check_timeout=dict(type="int", default=900),
            rollback=dict(type="bool", default=True),
            on_failure=dict(type="str", choices=["rollback", "prompt"], default="rollback"),
            health_check=dict(type="bool", default=True),
            use_spot=dict(type="bool", default=True),
        )
    )
    params = stack.params
    problems, warnings = preflight.input_problems(params)
    if not stack.check_mode:
        try:
            stack.store.ensure_writable()
        except StateError as e:
            problems.append(str(e))
    if not problems:
        facts, problems, more_warnings = preflight.account_problems(stack.clients, params, stack.account_id,
                                                                    stack.partition)
        warnings += more_warnings
    for warning in warnings:
        stack.module.warn(warning)
    if problems:
        stack.fail("preflight found {0} problem(s), nothing was created: {1}".format(len(problems), "; ".join(problems)),
                   problems=problems, preflight_warnings=warnings)
    stack.exit(
        region=stack.region,
        account_id=stack.account_id,
        partition=stack.partition,
        ami_id=facts["ami_id"],
        architecture=facts["architecture"],
        root_volume_size=facts["root_volume_size"],
        gpus=facts["gpus"],
        availability_zones=facts["availability_zones"],
        data_zone=facts["data_zone"],
        stack_status=stack.ledger.document["status"] if stack.ledger.exists_on_disk else "new",
        estimated_cost=preflight.estimated_cost(params["instance_type"], params["instance_count"], params["data_volume_size"]),
        policy_check_commands=preflight.policy_check_commands(stack.caller_arn, stack.partition, stack.region,
                                                              stack.account_id, stack.stack_name),
    )


if __name__ == "__main__":
    main()
