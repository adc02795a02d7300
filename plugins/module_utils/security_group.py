# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Security group: adopt by ownership or create tagged; ingress exactly 443 from allowed_cidrs, 2049 from
itself, 22 from ssh_cidrs (IPv4 or IPv6 blocks). Egress stays AWS's default. A reused group is recorded and
never changed."""

import ipaddress
import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import Describe
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import EC2_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_planned

TYPE = "security_group"
GONE_CODES = ("InvalidGroup.NotFound",)

KEY = "sg"
HTTPS, NFS, SSH = 443, 2049, 22
GROUPS = Describe("describe_security_groups", "SecurityGroups", "group-id", "GroupId")


def group_name(stack_name):
    return "geusemaker-{0}".format(stack_name)


def normalized(cidr):
    return str(ipaddress.ip_network(cidr, strict=False))


def wanted_rules(group_id, allowed_cidrs, ssh_cidrs):
    """Ingress as a set of (port, source): a source is an IPv4 or IPv6 CIDR block, or a group id."""
    rules = {(HTTPS, normalized(cidr)) for cidr in allowed_cidrs}
    rules |= {(SSH, normalized(cidr)) for cidr in ssh_cidrs}
    rules.add((NFS, group_id))
    return rules


def current_rules(group):
    """The group's ingress in the same shape; rules that do not fit it (other protocols, ranges) are kept apart."""
    rules, odd = set(), []
    for permission in group.get("IpPermissions", []):
        if permission.get("IpProtocol") != "tcp" or permission.get("FromPort") != permission.get("ToPort"):
            odd.append(permission)
            continue
        port = permission["FromPort"]
        rules |= {(port, normalized(r["CidrIp"])) for r in permission.get("IpRanges", [])}
        rules |= {(port, normalized(r["CidrIpv6"])) for r in permission.get("Ipv6Ranges", [])}
        rules |= {(port, r["GroupId"]) for r in permission.get("UserIdGroupPairs", [])}
        if permission.get("PrefixListIds"):
            odd.append(dict(permission, IpRanges=[], Ipv6Ranges=[], UserIdGroupPairs=[]))
    return rules, odd


def as_permissions(rules):
    permissions = []
    for port, source in sorted(rules):
        permission = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if source.startswith("sg-"):
            permission["UserIdGroupPairs"] = [{"GroupId": source}]
        elif ":" in source:
            permission["Ipv6Ranges"] = [{"CidrIpv6": source}]
        else:
            permission["IpRanges"] = [{"CidrIp": source}]
        permissions.append(permission)
    return permissions


def find_owned(ec2, stack_name, vpc_id, recorded=()):
    return GROUPS.first_owned(ec2, stack_name, KEY, vpc_id, recorded)


def ensure(stack, vpc_id, allowed_cidrs, ssh_cidrs):
    """Adopt or create the group, record it, make its ingress exactly the wanted rules. Returns its id."""
    if is_planned(vpc_id):
        return stack.plan(TYPE, KEY, vpc_id=vpc_id, allowed_cidrs=allowed_cidrs, ssh_cidrs=ssh_cidrs)
    ec2 = stack.clients.ec2

    def create():
        group_id = ec2.create_security_group(
            aws_retry=True,
            GroupName=group_name(stack.stack_name),
            Description="GeuseMaker stack {0}".format(stack.stack_name),
            VpcId=vpc_id,
            TagSpecifications=boto3_tag_specifications(stack.tags(KEY), ["security-group"]),
        )["GroupId"]
        return {"GroupId": group_id, "IpPermissions": []}

    group, provenance = stack.adopt_or_create(
        TYPE, "the security group",
        lambda: find_owned(ec2, stack.stack_name, vpc_id, stack.recorded_ids(TYPE)), create)
    if group is None:
        return stack.plan(TYPE, KEY, vpc_id=vpc_id, allowed_cidrs=allowed_cidrs, ssh_cidrs=ssh_cidrs)
    group_id = group["GroupId"]
    stack.record(TYPE, group_id, provenance, key=KEY, vpc_id=vpc_id)
    have, odd = current_rules(group)
    want = wanted_rules(group_id, allowed_cidrs, ssh_cidrs)
    add, remove = want - have, as_permissions(have - want) + odd
    if add or remove:
        stack.changed = True
    if not stack.check_mode:
        with stack.aws_call("cannot set the ingress rules of {0}".format(group_id), TYPE, group_id, action="modify"):
            if add:
                ec2.authorize_security_group_ingress(aws_retry=True, GroupId=group_id, IpPermissions=as_permissions(add))
            if remove:
                ec2.revoke_security_group_ingress(aws_retry=True, GroupId=group_id, IpPermissions=remove)
    return group_id


# The user's group is recorded as reused; no rule is added or removed.
reuse = GROUPS.reuser(TYPE, "security group", lambda item: {"vpc_id": item["VpcId"]})
delete = GROUPS.deleter("delete_security_group")
exists = GROUPS.exists
owned = GROUPS.marks


def discover(clients, stack_name, region):
    return [{"id": item["GroupId"], "key": KEY, "vpc_id": item["VpcId"]} for item in GROUPS.owned(clients.ec2, stack_name)]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, EC2_CONSOLE + "SecurityGroup:groupId={id}",
    "aws ec2 delete-security-group --region {r} --group-id {id}",
    delete_after=("instance", "mount_target"),  # their network interfaces hold it
))
