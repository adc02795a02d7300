# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Public route table: adopt by ownership or create tagged, default route to the gateway, subnets associated."""

import sys

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import Describe
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import VPC_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import is_planned

TYPE = "route_table"
GONE_CODES = ("InvalidRouteTableID.NotFound",)

KEY = "public-routes"
DEFAULT_ROUTE = "0.0.0.0/0"
TABLES = Describe("describe_route_tables", "RouteTables", "route-table-id", "RouteTableId")


def find_owned(ec2, stack_name, vpc_id, recorded=()):
    return TABLES.first_owned(ec2, stack_name, KEY, vpc_id, recorded)


ROUTE_TARGETS = ("GatewayId", "NatGatewayId", "NetworkInterfaceId", "InstanceId", "TransitGatewayId",
                 "VpcPeeringConnectionId", "EgressOnlyInternetGatewayId", "CarrierGatewayId", "LocalGatewayId",
                 "CoreNetworkArn")


def default_route_target(table):
    """Where the default route goes (an internet gateway, or whatever someone pointed it at), or None without one."""
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") == DEFAULT_ROUTE:
            return next((route[key] for key in ROUTE_TARGETS if route.get(key)), "(a route with no target)")
    return None


def current_associations(ec2, subnet_ids):
    """{subnet id: (association id, route table id)} for the subnets that have an explicit association."""
    filters = [{"Name": "association.subnet-id", "Values": list(subnet_ids)}]
    found = {}
    for table in list_all(ec2, "describe_route_tables", "RouteTables", Filters=filters):
        for association in table.get("Associations", []):
            if association.get("SubnetId") in subnet_ids:
                found[association["SubnetId"]] = (association["RouteTableAssociationId"], table["RouteTableId"])
    return found


def ensure(stack, vpc_id, internet_gateway_id, subnet_ids):
    """Adopt or create the table, record it, converge its default route and associations. Returns its id."""
    if is_planned(vpc_id):
        return stack.plan(TYPE, KEY, vpc_id=vpc_id)
    ec2 = stack.clients.ec2

    def create():
        return ec2.create_route_table(
            aws_retry=True, VpcId=vpc_id, TagSpecifications=boto3_tag_specifications(stack.tags(KEY), ["route-table"]))["RouteTable"]

    table, provenance = stack.adopt_or_create(
        TYPE, "the route table",
        lambda: find_owned(ec2, stack.stack_name, vpc_id, stack.recorded_ids(TYPE)), create)
    if table is None:
        return stack.plan(TYPE, KEY, vpc_id=vpc_id)
    table_id = table["RouteTableId"]
    stack.record(TYPE, table_id, provenance, key=KEY, vpc_id=vpc_id)
    real_subnets = [subnet_id for subnet_id in subnet_ids if not is_planned(subnet_id)]
    with stack.aws_call("cannot set the routes of {0}".format(table_id), TYPE, table_id, action="modify"):
        target = default_route_target(table)
        associations = current_associations(ec2, real_subnets) if real_subnets else {}
        changes = []
        if target != internet_gateway_id:
            changes.append(("replace_route" if target else "create_route", dict(
                RouteTableId=table_id, DestinationCidrBlock=DEFAULT_ROUTE, GatewayId=internet_gateway_id)))
        for subnet_id in subnet_ids:
            association = associations.get(subnet_id) if not is_planned(subnet_id) else None
            if association is None:
                changes.append(("associate_route_table", dict(RouteTableId=table_id, SubnetId=subnet_id)))
            elif association[1] != table_id:
                changes.append(("replace_route_table_association", dict(AssociationId=association[0], RouteTableId=table_id)))
        if changes:
            stack.changed = True
        if not stack.check_mode and not is_planned(internet_gateway_id):
            for operation, params in changes:
                getattr(ec2, operation)(aws_retry=True, **params)
    return table_id


def delete(clients, entry):
    """Disassociate the subnets, then delete."""
    ec2 = clients.ec2
    tables = ec2.describe_route_tables(aws_retry=True, RouteTableIds=[entry["id"]])["RouteTables"]
    for association in tables[0].get("Associations", []) if tables else []:
        if not association.get("Main"):
            ec2.disassociate_route_table(aws_retry=True, AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(aws_retry=True, RouteTableId=entry["id"])


exists = TABLES.exists
owned = TABLES.marks


def discover(clients, stack_name, region):
    found = TABLES.owned(clients.ec2, stack_name)
    return [{"id": item["RouteTableId"], "key": KEY, "vpc_id": item["VpcId"]} for item in found]


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, VPC_CONSOLE + "RouteTableDetails:RouteTableId={id}",
    "aws ec2 delete-route-table --region {r} --route-table-id {id}  # disassociate its subnets first",
    delete_after=(),  # its delete disassociates the subnets first
))
