# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks a deploy's inputs and the AWS account with read-only calls, before anything is created.

Every problem found is reported at once, each naming the input at fault.
"""

import ipaddress

from ansible_collections.geusemaker.stack.plugins.module_utils import kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS, error_code, list_all

# The Deep Learning AMI (PyTorch, NVIDIA driver, Amazon Linux 2023) has Docker and the NVIDIA container toolkit.
DLAMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/oss-nvidia-driver-gpu-pytorch-2.7-amazon-linux-2023/latest/ami-id"
TIMEOUT_OPTIONS = ("rollback_timeout", "instance_timeout", "health_check_timeout")


class PreflightProblems(Exception):
    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


def input_problems(params):
    """Problems in the inputs alone, without AWS."""
    problems = []
    for option in ("allowed_cidrs", "ssh_cidrs"):
        for cidr in params.get(option) or []:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as e:
                problems.append("{0}: {1!r} is not a CIDR block ({2})".format(option, cidr, e))
    try:
        network = ipaddress.ip_network(params["vpc_cidr"], strict=True)
        if not 16 <= network.prefixlen <= 24 or network.version != 4:
            problems.append("vpc_cidr {0} must be an IPv4 block from /16 to /24".format(params["vpc_cidr"]))
    except ValueError as e:
        problems.append("vpc_cidr: {0!r} is not a CIDR block ({1})".format(params["vpc_cidr"], e))
    for option in TIMEOUT_OPTIONS:
        if params[option] <= 0:
            problems.append("{0} must be a positive number of seconds, not {1}".format(option, params[option]))
    if not 1 <= params["az_count"] <= 6:
        problems.append("az_count must be between 1 and 6, not {0}".format(params["az_count"]))
    if not 1 <= params["instance_count"] <= 20:
        problems.append("instance_count must be between 1 and 20, not {0}".format(params["instance_count"]))
    if params.get("subnet_ids") and not params.get("vpc_id"):
        problems.append("subnet_ids needs vpc_id: reuse names the VPC and its public subnets together")
    if params.get("vpc_id") and not params.get("subnet_ids"):
        problems.append("vpc_id needs subnet_ids: name the VPC's public subnets to use, in two AZs")
    return problems


def estimated_cost(instance_type, count):
    """What a deploy will cost by the hour, from the kinds' estimates, for people."""
    price = kinds.get("instance").hourly_usd({"instance_type": instance_type})
    storage = kinds.get("file_system").cost_note({})
    if price is None:
        return "hourly cost of {0} unknown (see aws.amazon.com/ec2/pricing), plus EFS storage {1}".format(instance_type, storage)
    return "about USD {0:.3f}/hour for {1} x {2} on-demand (spot is usually much less), plus EFS storage {3}".format(
        price * count, count, instance_type, storage)


def region_problem(region, known_regions):
    if region not in known_regions:
        return "aws_region {0!r} is not an AWS region this SDK knows".format(region)
    return None


def public_subnet_problems(ec2, vpc_id, subnet_ids):
    """A reused VPC's subnets must be in the VPC, in two AZs or more, and route 0.0.0.0/0 to an internet gateway."""
    problems = []
    try:
        ec2.describe_vpcs(aws_retry=True, VpcIds=[vpc_id])
    except AWS_ERRORS as e:
        return ["vpc_id {0} cannot be used: {1}".format(vpc_id, error_code(e))]
    try:
        subnets = ec2.describe_subnets(aws_retry=True, SubnetIds=list(subnet_ids))["Subnets"]
    except AWS_ERRORS as e:
        return ["subnet_ids {0} cannot be used: {1}".format(", ".join(subnet_ids), error_code(e))]
    try:
        tables = list_all(ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    except AWS_ERRORS as e:
        return ["the route tables of vpc_id {0} cannot be read: {1}".format(vpc_id, error_code(e))]
    main_table = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    for subnet in subnets:
        if subnet["VpcId"] != vpc_id:
            problems.append("subnet {0} is in {1}, not in vpc_id {2}".format(subnet["SubnetId"], subnet["VpcId"], vpc_id))
            continue
        table = next(
            (t for t in tables if any(a.get("SubnetId") == subnet["SubnetId"] for a in t.get("Associations", []))),
            main_table,
        )
        routes = (table or {}).get("Routes", [])
        if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and str(r.get("GatewayId", "")).startswith("igw-") for r in routes):
            problems.append("subnet {0} is not public: its route table has no 0.0.0.0/0 route to an internet gateway".format(subnet["SubnetId"]))
    zones = {subnet["AvailabilityZone"] for subnet in subnets}
    if len(zones) < 2:
        problems.append("subnet_ids must span two availability zones; they are all in {0}".format(", ".join(sorted(zones))))
    return problems


def security_group_problem(ec2, group_id, vpc_id):
    try:
        group = ec2.describe_security_groups(aws_retry=True, GroupIds=[group_id])["SecurityGroups"][0]
    except AWS_ERRORS as e:
        return "security_group_id {0} cannot be used: {1}".format(group_id, error_code(e))
    if vpc_id and group["VpcId"] != vpc_id:
        return "security_group_id {0} is in {1}, not in vpc_id {2}".format(group_id, group["VpcId"], vpc_id)
    return None


def refusal(problem, operation, **params):
    """None when AWS accepts the read-only call, else ``problem`` with AWS's error code."""
    try:
        operation(aws_retry=True, **params)
    except AWS_ERRORS as e:
        return "{0}: {1}".format(problem, error_code(e))
    return None


def instance_type_problem(ec2, instance_type):
    return refusal("instance_type {0!r} is not offered here".format(instance_type), ec2.describe_instance_types, InstanceTypes=[instance_type])


def resolve_ami(ec2, ssm, ami_id):
    """(ami_id, problem): the given image checked, or the current Deep Learning AMI looked up."""
    if ami_id:
        try:
            if ec2.describe_images(aws_retry=True, ImageIds=[ami_id])["Images"]:
                return ami_id, None
        except AWS_ERRORS as e:
            return None, "ami_id {0} cannot be used: {1}".format(ami_id, error_code(e))
        return None, "ami_id {0} does not exist in this region".format(ami_id)
    try:
        return ssm.get_parameter(aws_retry=True, Name=DLAMI_PARAMETER)["Parameter"]["Value"], None
    except AWS_ERRORS as e:
        return None, "the Deep Learning AMI could not be looked up ({0}: {1}); pass ami_id".format(DLAMI_PARAMETER, error_code(e))


def key_pair_problem(ec2, key_name):
    return refusal("key_name {0!r} cannot be used".format(key_name), ec2.describe_key_pairs, KeyNames=[key_name])


def account_problems(clients, params):
    """(facts, problems) from read-only calls."""
    ec2 = clients.ec2
    problems = []
    if params.get("vpc_id"):
        problems += public_subnet_problems(ec2, params["vpc_id"], params["subnet_ids"])
    if params.get("security_group_id"):
        problem = security_group_problem(ec2, params["security_group_id"], params.get("vpc_id"))
        if problem:
            problems.append(problem)
    problem = instance_type_problem(ec2, params["instance_type"])
    if problem:
        problems.append(problem)
    ami_id, problem = resolve_ami(ec2, clients.ssm, params.get("ami_id"))
    if problem:
        problems.append(problem)
    if params.get("key_name"):
        problem = key_pair_problem(ec2, params["key_name"])
        if problem:
            problems.append(problem)
    return {"ami_id": ami_id}, problems
