# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Security group: adopt by ownership or create tagged; ingress exactly 443 from allowed_cidrs, 2049 from
itself, 22 from ssh_cidrs. Egress stays AWS's default. A reused group is recorded and never changed."""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_planned, owner_filters
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import AWS_ERRORS

KEY = "sg"
HTTPS, NFS, SSH = 443, 2049, 22


def group_name(stack_name):
    return "geusemaker-{0}".format(stack_name)


def wanted_rules(group_id, allowed_cidrs, ssh_cidrs):
    """Ingress as a set of (port, source): a source is a CIDR block or a group id."""
    rules = {(HTTPS, cidr) for cidr in allowed_cidrs}
    rules |= {(SSH, cidr) for cidr in ssh_cidrs}
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
        rules |= {(port, r["CidrIp"]) for r in permission.get("IpRanges", [])}
        rules |= {(port, r["GroupId"]) for r in permission.get("UserIdGroupPairs", [])}
        if permission.get("Ipv6Ranges") or permission.get("PrefixListIds"):
            odd.append(dict(permission, IpRanges=[], UserIdGroupPairs=[]))
    return rules, odd


def as_permissions(rules):
    permissions = []
    for port, source in sorted(rules):
        permission = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if source.startswith("sg-"):
            permission["UserIdGroupPairs"] = [{"GroupId": source}]
        else:
            permission["IpRanges"] = [{"CidrIp": source}]
        permissions.append(permission)
    return permissions


def find_owned(ec2, stack_name, vpc_id):
    filters = owner_filters(stack_name, KEY) + [{"Name": "vpc-id", "Values": [vpc_id]}]
    found = ec2.describe_security_groups(aws_retry=True, Filters=filters)["SecurityGroups"]
    return found[0] if found else None


def ensure(stack, vpc_id, allowed_cidrs, ssh_cidrs):
    """Adopt or create the group, record it, make its ingress exactly the wanted rules. Returns its id."""
    if is_planned(vpc_id):
        return stack.plan("security_group", KEY, vpc_id=vpc_id, allowed_cidrs=allowed_cidrs, ssh_cidrs=ssh_cidrs)
    ec2 = stack.clients.ec2
    try:
        group = find_owned(ec2, stack.stack_name, vpc_id)
    except AWS_ERRORS as e:
        stack.fail_aws(e, "cannot look up the security group", "security_group", action="find")
    if group is None:
        if stack.check_mode:
            return stack.plan("security_group", KEY, vpc_id=vpc_id, allowed_cidrs=allowed_cidrs, ssh_cidrs=ssh_cidrs)
        try:
            group_id = ec2.create_security_group(
                aws_retry=True,
                GroupName=group_name(stack.stack_name),
                Description="GeuseMaker stack {0}".format(stack.stack_name),
                VpcId=vpc_id,
                TagSpecifications=boto3_tag_specifications(stack.tags(KEY), ["security-group"]),
            )["GroupId"]
        except AWS_ERRORS as e:
            stack.fail_aws(e, "cannot create the security group", "security_group")
        stack.record("security_group", group_id, "created", key=KEY, vpc_id=vpc_id)
        group = {"GroupId": group_id, "IpPermissions": []}
    else:
        group_id = group["GroupId"]
        stack.record("security_group", group_id, "adopted", key=KEY, vpc_id=vpc_id)
    have, odd = current_rules(group)
    want = wanted_rules(group_id, allowed_cidrs, ssh_cidrs)
    add, remove = want - have, as_permissions(have - want) + odd
    if add or remove:
        stack.changed = True
    if not stack.check_mode:
        try:
            if add:
                ec2.authorize_security_group_ingress(aws_retry=True, GroupId=group_id, IpPermissions=as_permissions(add))
            if remove:
                ec2.revoke_security_group_ingress(aws_retry=True, GroupId=group_id, IpPermissions=remove)
        except AWS_ERRORS as e:
            stack.fail_aws(e, "cannot set the ingress rules of {0}".format(group_id), "security_group", group_id, action="modify")
    return group_id


def reuse(stack, group_id):
    """Record the user's group as reused; no rule is added or removed."""
    try:
        group = stack.clients.ec2.describe_security_groups(aws_retry=True, GroupIds=[group_id])["SecurityGroups"][0]
    except AWS_ERRORS as e:
        stack.fail_aws(e, "security group {0} cannot be described".format(group_id), "security_group", group_id, action="reuse")
    stack.record("security_group", group_id, "reused", vpc_id=group["VpcId"])
    return group_id


def delete(clients, entry):
    clients.ec2.delete_security_group(aws_retry=True, GroupId=entry["id"])


def exists(clients, entry):
    filters = [{"Name": "group-id", "Values": [entry["id"]]}]
    return bool(clients.ec2.describe_security_groups(aws_retry=True, Filters=filters)["SecurityGroups"])


def discover(clients, stack_name, region):
    found = clients.ec2.describe_security_groups(aws_retry=True, Filters=owner_filters(stack_name))["SecurityGroups"]
    return [{"id": item["GroupId"], "key": KEY, "vpc_id": item["VpcId"]} for item in found]
