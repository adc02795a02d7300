# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""VPC: adopt by ownership or create tagged, with DNS support and hostnames on; delete."""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import owner_filters
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import AWS_ERRORS

KEY = "vpc"


def find_owned(ec2, stack_name):
    vpcs = ec2.describe_vpcs(aws_retry=True, Filters=owner_filters(stack_name, KEY))["Vpcs"]
    return vpcs[0] if vpcs else None


def describe(ec2, vpc_id):
    return ec2.describe_vpcs(aws_retry=True, VpcIds=[vpc_id])["Vpcs"][0]


def create(ec2, cidr_block, tags):
    return ec2.create_vpc(aws_retry=True, CidrBlock=cidr_block, TagSpecifications=boto3_tag_specifications(tags, ["vpc"]))["Vpc"]


def dns_attributes(ec2, vpc_id):
    support = ec2.describe_vpc_attribute(aws_retry=True, VpcId=vpc_id, Attribute="enableDnsSupport")
    hostnames = ec2.describe_vpc_attribute(aws_retry=True, VpcId=vpc_id, Attribute="enableDnsHostnames")
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
    found = find_owned(ec2, stack.stack_name)
    if found is None:
        if stack.check_mode:
            return stack.plan("vpc", KEY, cidr_block=cidr_block)
        try:
            vpc_id = create(ec2, cidr_block, stack.tags(KEY))["VpcId"]
        except AWS_ERRORS as e:
            stack.fail_aws(e, "cannot create the VPC", "vpc")
        stack.record("vpc", vpc_id, "created", key=KEY, cidr_block=cidr_block)
    else:
        vpc_id = found["VpcId"]
        stack.record("vpc", vpc_id, "adopted", key=KEY, cidr_block=found["CidrBlock"])
    try:
        if stack.check_mode:
            stack.changed |= not all(dns_attributes(ec2, vpc_id))
        elif enable_dns(ec2, vpc_id):
            stack.changed = True
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot turn on DNS in VPC {0}".format(vpc_id), "vpc", vpc_id, action="modify")
    return vpc_id


def reuse(stack, vpc_id):
    """Record the user's VPC as reused; it is never modified."""
    try:
        found = describe(stack.clients.ec2, vpc_id)
    except AWS_ERRORS as e:
        stack.fail_aws(e, "VPC {0} cannot be described".format(vpc_id), "vpc", vpc_id, action="reuse")
    stack.record("vpc", vpc_id, "reused", cidr_block=found["CidrBlock"])
    return vpc_id


def delete(clients, entry):
    clients.ec2.delete_vpc(aws_retry=True, VpcId=entry["id"])


def exists(clients, entry):
    return bool(clients.ec2.describe_vpcs(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [entry["id"]]}])["Vpcs"])


def discover(clients, stack_name, region):
    vpcs = clients.ec2.describe_vpcs(aws_retry=True, Filters=owner_filters(stack_name))["Vpcs"]
    return [{"id": item["VpcId"], "key": KEY} for item in vpcs]
