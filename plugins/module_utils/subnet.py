# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Public subnets, one per availability zone: adopt by ownership or create tagged, public IP on launch; delete."""

import ipaddress
import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict, boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import describe_created
from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import Describe
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import VPC_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import KEY_TAG, is_planned

TYPE = "subnet"
GONE_CODES = ("InvalidSubnetID.NotFound",)

SUBNETS = Describe("describe_subnets", "Subnets", "subnet-id", "SubnetId")


def key_for(index):
    return "subnet-{0}".format(index)


def subnet_cidrs(vpc_cidr, count):
    """The first ``count`` blocks of a split of the VPC into 16 (a /16 gives /20s)."""
    network = ipaddress.ip_network(vpc_cidr)
    blocks = network.subnets(new_prefix=min(network.prefixlen + 4, 28))
    return [str(next(blocks)) for _unused in range(count)]


def zones(ec2, count):
    names = sorted(
        zone["ZoneName"]
        for zone in ec2.describe_availability_zones(aws_retry=True, Filters=[{"Name": "state", "Values": ["available"]}])[
            "AvailabilityZones"
        ]
        if zone.get("ZoneType", "availability-zone") == "availability-zone"
    )
    if len(names) < count:
        raise ValueError("az_count is {0} but the region has only {1} availability zones".format(count, len(names)))
    return names[:count]


def find_owned(ec2, stack_name, vpc_id, recorded=()):
    return {_key_of(item): item for item in SUBNETS.owned(ec2, stack_name, vpc_id=vpc_id, recorded=recorded)}


def _key_of(item):
    return boto3_tag_list_to_ansible_dict(item.get("Tags")).get(KEY_TAG)


def ensure(stack, vpc_id, az_count, wanted_zones=None):
    """Adopt or create ``az_count`` public subnets in distinct zones (of ``wanted_zones`` when given, in order).

    Returns (subnet ids, zones)."""
    keys = [key_for(index) for index in range(az_count)]
    if is_planned(vpc_id):
        return [stack.plan(TYPE, key, vpc_id=vpc_id) for key in keys], []
    ec2 = stack.clients.ec2
    with stack.aws_call("cannot look up the subnets of {0}".format(vpc_id), TYPE, action="find"):
        owned = find_owned(ec2, stack.stack_name, vpc_id, stack.recorded_ids(TYPE))
        wanted = [owned.get(key) for key in keys]
        missing = [index for index, item in enumerate(wanted) if item is None]
        if missing:
            vpc_cidr = describe_created(ec2.describe_vpcs, VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
            used_zones = {item["AvailabilityZone"] for item in wanted if item}
            used_cidrs = {item["CidrBlock"] for item in wanted if item}
            try:
                free_zones = [zone for zone in wanted_zones or zones(ec2, az_count) if zone not in used_zones]
            except ValueError as e:
                stack.fail(str(e), resource_type=TYPE)
            free_cidrs = [cidr for cidr in subnet_cidrs(vpc_cidr, az_count) if cidr not in used_cidrs]
    subnet_ids, subnet_zones = [], []
    for index, key in enumerate(keys):
        item = wanted[index]
        if item is None:
            zone, cidr = free_zones.pop(0), free_cidrs.pop(0)
            if stack.check_mode:
                subnet_ids.append(stack.plan(TYPE, key, vpc_id=vpc_id, availability_zone=zone, cidr_block=cidr))
                subnet_zones.append(zone)
                continue
            with stack.aws_call("cannot create subnet {0} in {1}".format(cidr, zone), TYPE):
                item = ec2.create_subnet(
                    aws_retry=True,
                    VpcId=vpc_id,
                    CidrBlock=cidr,
                    AvailabilityZone=zone,
                    TagSpecifications=boto3_tag_specifications(stack.tags(key), ["subnet"]),
                )["Subnet"]
            provenance = "created"
        else:
            provenance = "adopted"
        subnet_id = item["SubnetId"]
        stack.record(TYPE, subnet_id, provenance, key=key, vpc_id=vpc_id, availability_zone=item["AvailabilityZone"])
        if not item.get("MapPublicIpOnLaunch"):
            stack.changed = True
            if not stack.check_mode:
                with stack.aws_call("cannot turn on public IPs in {0}".format(subnet_id), TYPE, subnet_id, action="modify"):
                    ec2.modify_subnet_attribute(aws_retry=True, SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        subnet_ids.append(subnet_id)
        subnet_zones.append(item["AvailabilityZone"])
    return subnet_ids, subnet_zones


def reuse(stack, vpc_id, subnet_ids):
    """Record the user's subnets as reused; preflight has checked that they are public. Returns (ids, zones)."""
    found = SUBNETS.reuse(stack, TYPE, list(subnet_ids), "subnets",
                          lambda item: {"vpc_id": vpc_id, "availability_zone": item["AvailabilityZone"]})
    return list(subnet_ids), [found[subnet_id]["AvailabilityZone"] for subnet_id in subnet_ids]


delete = SUBNETS.deleter("delete_subnet")
exists = SUBNETS.exists
owned = SUBNETS.marks


def discover(clients, stack_name, region):
    return [
        {"id": item["SubnetId"], "key": _key_of(item), "vpc_id": item["VpcId"], "availability_zone": item["AvailabilityZone"]}
        for item in SUBNETS.owned(clients.ec2, stack_name)
    ]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, VPC_CONSOLE + "SubnetDetails:subnetId={id}", "aws ec2 delete-subnet --region {r} --subnet-id {id}",
    delete_after=("instance", "mount_target"),  # a terminated instance's ENI, a deleting mount target hold it
))
