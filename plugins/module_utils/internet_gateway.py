# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Internet gateway: adopt by ownership or create tagged, attached to the VPC; detach and delete."""

import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import Describe
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import VPC_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_planned

TYPE = "internet_gateway"
GONE_CODES = ("InvalidInternetGatewayID.NotFound",)

KEY = "igw"
GATEWAYS = Describe("describe_internet_gateways", "InternetGateways", "internet-gateway-id", "InternetGatewayId")


def find_owned(ec2, stack_name, recorded=()):
    return GATEWAYS.first_owned(ec2, stack_name, KEY, recorded=recorded)


def attached_vpcs(item):
    return [a["VpcId"] for a in item.get("Attachments", []) if a.get("State") in ("attached", "available", "attaching")]


def ensure(stack, vpc_id):
    """Adopt or create the gateway, record it, attach it to ``vpc_id``. Returns its id."""
    ec2 = stack.clients.ec2

    def create():
        return ec2.create_internet_gateway(
            aws_retry=True, TagSpecifications=boto3_tag_specifications(stack.tags(KEY), ["internet-gateway"]))["InternetGateway"]

    found, provenance = stack.adopt_or_create(
        TYPE, "the internet gateway",
        lambda: find_owned(ec2, stack.stack_name, stack.recorded_ids(TYPE)), create)
    if found is None:
        return stack.plan(TYPE, KEY, vpc_id=vpc_id)
    igw_id = found["InternetGatewayId"]
    stack.record(TYPE, igw_id, provenance, key=KEY, vpc_id=vpc_id)
    if vpc_id not in attached_vpcs(found):
        stack.changed = True
        if not stack.check_mode and not is_planned(vpc_id):
            with stack.aws_call("cannot attach {0} to {1}".format(igw_id, vpc_id), TYPE, igw_id, action="attach"):
                ec2.attach_internet_gateway(aws_retry=True, InternetGatewayId=igw_id, VpcId=vpc_id)
    return igw_id


def delete(clients, entry):
    """Detach from every VPC, then delete. AWS refuses the detach while instances hold public addresses."""
    ec2 = clients.ec2
    found = ec2.describe_internet_gateways(aws_retry=True, InternetGatewayIds=[entry["id"]])["InternetGateways"]
    for vpc_id in attached_vpcs(found[0]) if found else []:
        ec2.detach_internet_gateway(aws_retry=True, InternetGatewayId=entry["id"], VpcId=vpc_id)
    ec2.delete_internet_gateway(aws_retry=True, InternetGatewayId=entry["id"])


exists = GATEWAYS.exists
owned = GATEWAYS.marks


def discover(clients, stack_name, region):
    found = GATEWAYS.owned(clients.ec2, stack_name)
    return [
        {"id": item["InternetGatewayId"], "key": KEY, "vpc_id": (attached_vpcs(item) or [None])[0]} for item in found
    ]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, VPC_CONSOLE + "InternetGateway:internetGatewayId={id}",
    "aws ec2 detach-internet-gateway --region {r} --internet-gateway-id {id} --vpc-id {vpc_id} && "
    "aws ec2 delete-internet-gateway --region {r} --internet-gateway-id {id}",
    delete_after=("instance",),  # no detach while instances hold public addresses
    placeholders={"vpc_id": lambda entry: "<vpc id>"},
))
