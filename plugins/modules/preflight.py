#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: preflight
short_description: Check a deploy's inputs and the AWS account before anything is created
version_added: 0.1.0
description:
  - Validates every deploy input and checks the account with read-only calls (credentials, region, reused
    VPC and subnets, security group, instance type, AMI, key pair) and the state file.
  - Reports every problem found at once. Makes no change in AWS.
  - A corrupt state file is moved aside as C(<stack_name>.json.corrupt-<UTC timestamp>) and reported.
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
    description: Number of instances.
    type: int
    default: 1
  instance_type:
    description: EC2 instance type.
    type: str
    required: true
  ami_id:
    description: Image id; looked up (the current Deep Learning AMI) when omitted.
    type: str
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
  description: The AWS account id.
  returned: success
  type: str
ami_id:
  description: The image the instances will boot.
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
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import preflight
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import AWS_ERRORS, StackModule, error_code
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError

try:
    import boto3
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError
except ImportError:
    pass  # AnsibleAWSModule reports the missing SDK


def known_regions():
    session = boto3.session.Session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return regions


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
            key_name=dict(type="str"),
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
    problems = preflight.input_problems(params)
    problem = preflight.region_problem(stack.region, known_regions())
    if problem:
        problems.append(problem)
    if problems:
        stack.fail("preflight found {0} problem(s), nothing was created: {1}".format(len(problems), "; ".join(problems)), problems=problems)
    if not stack.check_mode:
        try:
            stack.store.ensure_writable()
        except StateError as e:
            stack.fail(str(e), problems=[str(e)])
    try:
        account_id = stack.clients.sts.get_caller_identity(aws_retry=True)["Account"]
    except NoCredentialsError:
        stack.fail("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", problems=["no credentials"])
    except EndpointConnectionError as e:
        stack.fail("the AWS endpoint does not answer: {0}".format(e), problems=["endpoint unreachable"])
    except NoRegionError:
        stack.fail("no AWS region: set aws_region", problems=["no region"])
    except AWS_ERRORS as e:
        stack.fail("the AWS credentials are not accepted ({0}): {1}".format(error_code(e), e), problems=["credentials refused"])
    facts, problems = preflight.account_problems(stack.clients, params)
    if problems:
        stack.fail("preflight found {0} problem(s), nothing was created: {1}".format(len(problems), "; ".join(problems)), problems=problems)
    stack.exit(
        region=stack.region,
        account_id=account_id,
        ami_id=facts["ami_id"],
        stack_status=stack.ledger.document["status"] if stack.ledger.exists_on_disk else "new",
        estimated_cost=preflight.estimated_cost(params["instance_type"], params["instance_count"]),
    )


if __name__ == "__main__":
    main()
