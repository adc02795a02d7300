# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""VPC: adopt by ownership or create tagged, with DNS support and hostnames on; delete."""

import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import describe_created
from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import Describe
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import VPC_CONSOLE, Kind, register

TYPE = "vpc"
GONE_CODES = ("InvalidVpcID.NotFound",)

KEY = "vpc"
VPCS = Describe("describe_vpcs", "Vpcs", "vpc-id", "VpcId")


def find_owned(ec2, stack_name, recorded=()):
    return VPCS.first_owned(ec2, stack_name, KEY, recorded=recorded)


def create(ec2, cidr_block, tags):
    return ec2.create_vpc(aws_retry=True, CidrBlock=cidr_block, TagSpecifications=boto3_tag_specifications(tags, ["vpc"]))["Vpc"]


def dns_attributes(ec2, vpc_id):
    # Read right after the VPC is created, when EC2 may not know it yet.
    support = describe_created(ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute="enableDnsSupport")
    hostnames = describe_created(ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute="enableDnsHostnames")
    return support["EnableDnsSupport"]["Value"], hostnames["EnableDnsHostnames"]["Value"]


def enable_dns(ec2, vpc_id):
    """Turn DNS support and hostnames on; returns True when something changed."""
    support, hostnames = dns_attributes(ec2, vpc_id)
    if not support:
        ec2.modify_vpc_attribute(aws_retry=True, VpcId=vpc_id, EnableDnsSupport={"Value": True})
    if not hostnames:
        ec2.modify_vpc_attribute(aws_retry=True, VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    return not (support and hostnames)


def ensure(stack, cidr_block):
    """Adopt or create the stack's VPC and record it. Returns the VPC id."""
    ec2 = stack.clients.ec2
    found, provenance = stack.adopt_or_create(
        TYPE, "the VPC", lambda: find_owned(ec2, stack.stack_name, stack.recorded_ids(TYPE)),
        lambda: create(ec2, cidr_block, stack.tags(KEY)))
    if found is None:
        return stack.plan(TYPE, KEY, cidr_block=cidr_block)
    vpc_id = found["VpcId"]
    stack.record(TYPE, vpc_id, provenance, key=KEY, cidr_block=found["CidrBlock"])
    with stack.aws_call("cannot turn on DNS in VPC {0}".format(vpc_id), TYPE, vpc_id, action="modify"):
        if stack.check_mode:
            stack.changed |= not all(dns_attributes(ec2, vpc_id))
        elif enable_dns(ec2, vpc_id):
            stack.changed = True
    return vpc_id


# The user's VPC is recorded as reused and never modified.
reuse = VPCS.reuser(TYPE, "VPC", lambda item: {"cidr_block": item["CidrBlock"]})
delete = VPCS.deleter("delete_vpc")
exists = VPCS.exists
owned = VPCS.marks


def discover(clients, stack_name, region):
    return [{"id": item["VpcId"], "key": KEY} for item in VPCS.owned(clients.ec2, stack_name)]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, VPC_CONSOLE + "VpcDetails:VpcId={id}", "aws ec2 delete-vpc --region {r} --vpc-id {id}",
    delete_after=("subnet", "security_group", "internet_gateway", "route_table"),
))
