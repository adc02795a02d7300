# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The registry of resource kinds: one record per type the ledger may hold.

A record says where the kind's code lives (``impl``: a module_utils file with ``delete``, ``exists`` and
``discover``), which AWS answers mean "already gone", how a human finds and deletes one (console link, CLI
command), what it costs, and whether it is data (kept by ``keep_data``). The ledger, teardown, list and the
recovery report derive from it; ``dependencies.DELETE_AFTER`` orders it. Adding a kind: docs/design.md.
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import (
    file_system,
    iam_role,
    instance,
    instance_profile,
    internet_gateway,
    mount_target,
    route_table,
    security_group,
    ssm_parameter,
    subnet,
    volume,
    vpc,
)

CONSOLE = "https://{r}.console.aws.amazon.com/"

# Estimated on-demand USD per hour in us-east-1; spot is usually much less. Other types: see AWS pricing.
INSTANCE_HOURLY_USD = {
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g6.xlarge": 0.805,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "m5.large": 0.096,
}


class Kind:
    """One resource type. ``console`` and ``delete_command`` are str.format templates over the ledger entry plus
    ``r`` (its region), ``file_system_id``, ``role_name`` and ``vpc_id``. ``hourly_usd(entry)`` is the estimated
    cost per hour (None: not billed by the hour); ``cost_note`` (text, or a function of the entry) says what it
    costs, for people."""

    def __init__(self, type_name, impl, gone_codes, console, delete_command, data=False, hourly_usd=None, cost_note=None):
        self.type = type_name
        self.impl = impl
        self.gone_codes = frozenset(gone_codes)
        self.console = console
        self.delete_command = delete_command
        self.data = data
        self._hourly_usd = hourly_usd
        self._cost_note = cost_note

    def hourly_usd(self, entry):
        return self._hourly_usd(entry) if self._hourly_usd else None

    def cost_note(self, entry):
        return self._cost_note(entry) if callable(self._cost_note) else self._cost_note


def instance_hourly_usd(entry):
    return INSTANCE_HOURLY_USD.get(entry.get("instance_type"))


def instance_cost_note(entry):
    price = instance_hourly_usd(entry)
    if price is None:
        return "hourly cost of {0} unknown; see aws.amazon.com/ec2/pricing".format(entry.get("instance_type") or "its type")
    return "about USD {0:.3f}/hour on-demand ({1}){2}".format(
        price, entry["instance_type"], ", less as spot" if entry.get("lifecycle") == "spot" else "")


KINDS = {}


def register(kind):
    """Add a kind to the registry (the kinds below, or a test's throw-away kind). Returns it."""
    KINDS[kind.type] = kind
    return kind


def get(resource_type):
    try:
        return KINDS[resource_type]
    except KeyError:
        raise ValueError("unknown resource type {0}; known: {1}".format(resource_type, ", ".join(sorted(KINDS))))


VPC_CONSOLE = "vpcconsole/home?region={r}#"
EC2_CONSOLE = "ec2/home?region={r}#"
EFS_CONSOLE = "efs/home?region={r}#/file-systems/"
DELETE_GATEWAY = ("aws ec2 detach-internet-gateway --region {r} --internet-gateway-id {id} --vpc-id {vpc_id} && "
                  "aws ec2 delete-internet-gateway --region {r} --internet-gateway-id {id}")
DELETE_ROUTE_TABLE = "aws ec2 delete-route-table --region {r} --route-table-id {id}  # disassociate its subnets first"
DELETE_ROLE = "aws iam delete-role --role-name {id}  # detach its policies and remove it from its profile first"
DELETE_PROFILE = ("aws iam remove-role-from-instance-profile --instance-profile-name {id} --role-name {role_name} && "
                  "aws iam delete-instance-profile --instance-profile-name {id}")
EFS_STORAGE = "billed by stored GB (about USD 0.30 per GB-month)"
GP3_USD_PER_GB_MONTH = 0.08
HOURS_PER_MONTH = 730


def volume_hourly_usd(entry):
    return (entry.get("size") or volume.DEFAULT_SIZE_GIB) * GP3_USD_PER_GB_MONTH / HOURS_PER_MONTH


def volume_cost_note(entry):
    size = entry.get("size") or volume.DEFAULT_SIZE_GIB
    return "about USD {0:.2f}/month ({1} GiB gp3)".format(volume_hourly_usd(entry) * HOURS_PER_MONTH, size)


# One record per kind: type, code, "already gone" answers, console link, delete command, and what else it is.
for _kind in (
    Kind("vpc", vpc, ("InvalidVpcID.NotFound",), VPC_CONSOLE + "VpcDetails:VpcId={id}", "aws ec2 delete-vpc --region {r} --vpc-id {id}"),
    Kind("subnet", subnet, ("InvalidSubnetID.NotFound",), VPC_CONSOLE + "SubnetDetails:subnetId={id}",
         "aws ec2 delete-subnet --region {r} --subnet-id {id}"),
    Kind("internet_gateway", internet_gateway, ("InvalidInternetGatewayID.NotFound",), VPC_CONSOLE + "InternetGateway:internetGatewayId={id}",
         DELETE_GATEWAY),
    Kind("route_table", route_table, ("InvalidRouteTableID.NotFound",), VPC_CONSOLE + "RouteTableDetails:RouteTableId={id}", DELETE_ROUTE_TABLE),
    Kind("security_group", security_group, ("InvalidGroup.NotFound",), EC2_CONSOLE + "SecurityGroup:groupId={id}",
         "aws ec2 delete-security-group --region {r} --group-id {id}"),
    Kind("file_system", file_system, ("FileSystemNotFound",), EFS_CONSOLE + "{id}", "aws efs delete-file-system --region {r} --file-system-id {id}",
         data=True, cost_note=EFS_STORAGE),
    Kind("mount_target", mount_target, ("MountTargetNotFound",), EFS_CONSOLE + "{file_system_id}",
         "aws efs delete-mount-target --region {r} --mount-target-id {id}"),
    Kind("ssm_parameter", ssm_parameter, ("ParameterNotFound",), "systems-manager/parameters/{id}/description?region={r}",
         "aws ssm delete-parameter --region {r} --name {id}", data=True, cost_note="free (standard parameter)"),
    Kind("iam_role", iam_role, ("NoSuchEntity",), "iam/home#/roles/details/{id}", DELETE_ROLE),
    Kind("instance_profile", instance_profile, ("NoSuchEntity",), "iam/home#/roles/details/{role_name}", DELETE_PROFILE),
    Kind("instance", instance, ("InvalidInstanceID.NotFound",), EC2_CONSOLE + "InstanceDetails:instanceId={id}",
         "aws ec2 terminate-instances --region {r} --instance-ids {id}  # cancel its spot request first, if it has one",
         hourly_usd=instance_hourly_usd, cost_note=instance_cost_note),
    Kind("volume", volume, ("InvalidVolume.NotFound",), EC2_CONSOLE + "VolumeDetails:volumeId={id}",
         "aws ec2 delete-volume --region {r} --volume-id {id}", data=True, hourly_usd=volume_hourly_usd, cost_note=volume_cost_note),
):
    register(_kind)
