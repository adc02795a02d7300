"""What each AWS call the collection makes asks of IAM: the authorization requests of one recorded call.

A ``Recorder`` is a fault-proxy observer. Before a call is acted on, it reads from the emulator (directly, not
through the proxy) what the call names that exists already: tags of EC2 resources, file systems and parameters, an
IAM role's path, tags and permissions boundary, an instance profile's roles, a mount target's file system and
network interface. Once the answer is known, it turns the call into ``Request``s: the action, each resource type
the action authorizes with the ARN built from the request and the response, the tags the request puts on each
created resource, the tags each existing resource had, and the service's condition keys; then the actions the
call needs in turn (tag on create, PassRole, what EFS does in EC2 for a mount target...).

Which resource types and dependent actions a call brings is checked against AWS's reference
(``reference.Reference``): a type the action does not authorize, a required type left out, or a dependent action
the reference does not know fails, unless a cited gap row says otherwise.
"""

import json
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.exceptions import ClientError

from tests.support.spot import listed, tag_specifications

__all__ = ["Request", "Target", "Recorder", "Facts", "model_call"]

NEW = "new"  # the id of a resource a refused call did not create
EC2_ID = re.compile(r"\b(?:vpc|subnet|igw|rtb|rtbassoc|sg|i|vol|eni|sir|ami)-[0-9a-f]{8,17}\b")
EFS_ID = re.compile(r"\bfs(?:mt)?-[0-9a-f]{8,17}\b")
EC2_TYPES = {"vpc": "vpc", "subnet": "subnet", "igw": "internet-gateway", "rtb": "route-table", "sg": "security-group",
             "i": "instance", "vol": "volume", "eni": "network-interface", "sir": "spot-instances-request",
             "ami": "image"}


@dataclass
class Target:
    """One resource an action authorizes. ``type`` is the reference's resource type ("" for the request itself,
    whose ARN is "*"). ``request_tags``: what the request tags it with (a created resource); ``resource_tags``: the
    tags it had when the call was made (an existing one; None when it did not exist)."""

    type: str
    arn: str
    request_tags: dict = None
    resource_tags: dict = None
    keys: dict = field(default_factory=dict)


@dataclass
class Request:
    action: str
    targets: list
    keys: dict = field(default_factory=dict)
    label: str = ""
    via: str = None  # the action whose call needs this one

    def as_json(self):
        return {"action": self.action, "label": self.label, "via": self.via, "keys": self.keys,
                "targets": [t.__dict__ for t in self.targets]}

    @staticmethod
    def from_json(data):
        return Request(data["action"], [Target(**t) for t in data["targets"]], data["keys"], data["label"], data["via"])


def local(tag):
    return tag.rsplit("}", 1)[-1]


def xml_texts(body, name):
    """Every text of elements named ``name`` (namespaces ignored), in document order."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    return [(element.text or "") for element in root.iter() if local(element.tag) == name]


def xml_first(body, name, default=NEW):
    found = xml_texts(body, name)
    return found[0] if found else default


def tags_of(items, key="Key", value="Value"):
    return {t[key]: t.get(value, "") for t in items or []}


class Facts:
    """The emulator's view at the moment of a call, read directly (not through the proxy)."""

    def __init__(self, endpoint, region="us-east-1", spot=None):
        kwargs = dict(region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
        self.ec2 = boto3.client("ec2", **kwargs)
        self.efs = boto3.client("efs", **kwargs)
        self.ssm = boto3.client("ssm", **kwargs)
        self.iam = boto3.client("iam", **kwargs)
        self.spot = spot

    def ec2_tags(self, ids):
        """{id: tags} of EC2 resources; spot requests from the spot plug-in; a missing one is absent."""
        found = {}
        plain = [i for i in ids if not i.startswith(("sir-", "rtbassoc-"))]
        if plain:
            for tag in self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": plain}])["Tags"]:
                found.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
            for resource_id in plain:
                if resource_id not in found and self.ec2_exists(resource_id):
                    found[resource_id] = {}
        for resource_id in ids:
            if resource_id.startswith("sir-") and self.spot is not None:
                tags = self.spot.tags(resource_id)
                if tags is not None:
                    found[resource_id] = tags
        return found

    def ec2_exists(self, resource_id):
        prefix = resource_id.split("-", 1)[0]
        calls = {
            "vpc": lambda: self.ec2.describe_vpcs(VpcIds=[resource_id])["Vpcs"],
            "subnet": lambda: self.ec2.describe_subnets(SubnetIds=[resource_id])["Subnets"],
            "igw": lambda: self.ec2.describe_internet_gateways(InternetGatewayIds=[resource_id])["InternetGateways"],
            "rtb": lambda: self.ec2.describe_route_tables(RouteTableIds=[resource_id])["RouteTables"],
            "sg": lambda: self.ec2.describe_security_groups(GroupIds=[resource_id])["SecurityGroups"],
            "i": lambda: self.ec2.describe_instances(InstanceIds=[resource_id])["Reservations"],
            "vol": lambda: self.ec2.describe_volumes(VolumeIds=[resource_id])["Volumes"],
            "eni": lambda: self.ec2.describe_network_interfaces(NetworkInterfaceIds=[resource_id])["NetworkInterfaces"],
            "ami": lambda: self.ec2.describe_images(ImageIds=[resource_id])["Images"],
        }
        try:
            return bool(calls[prefix]())
        except (KeyError, ClientError):
            return False

    def instance(self, instance_id):
        try:
            reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError:
            return None
        return reservations[0]["Instances"][0] if reservations else None

    def association(self, association_id):
        tables = self.ec2.describe_route_tables(Filters=[{"Name": "association.route-table-association-id",
                                                          "Values": [association_id]}])["RouteTables"]
        for table in tables:
            for association in table.get("Associations", []):
                if association.get("RouteTableAssociationId") == association_id:
                    return table["RouteTableId"], association.get("SubnetId")
        return None, None

    def file_system_tags(self, file_system_id):
        try:
            return tags_of(self.efs.list_tags_for_resource(ResourceId=file_system_id)["Tags"])
        except ClientError:
            return None

    def mount_target(self, mount_target_id):
        try:
            return self.efs.describe_mount_targets(MountTargetId=mount_target_id)["MountTargets"][0]
        except (ClientError, IndexError):
            return None

    def parameter_tags(self, name):
        try:
            return tags_of(self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"])
        except ClientError:
            return None

    def role(self, name):
        try:
            return self.iam.get_role(RoleName=name)["Role"]
        except ClientError:
            return None

    def instance_profile(self, name):
        try:
            return self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except ClientError:
            return None

    def spot_role_exists(self):
        return self.role("AWSServiceRoleForEC2Spot") is not None


class Call:
    """One recorded call, parsed: its parameters, and what the emulator held of the resources it names."""

    def __init__(self, service, operation, method, path, body, facts, headers=None):
        self.service, self.operation, self.method, self.path, self.body = service, operation, method, path, body
        self.headers = headers or {}
        self.query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        self.params = {}
        if service in ("ec2", "iam", "sts"):
            self.params = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        elif body.strip().startswith("{"):
            self.params = json.loads(body)
        self.pre = {}
        self.facts = facts
        self.status = None
        self.response = ""

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300

    def snapshot(self):
        """Read, before the call acts, what it names that exists."""
        text = unquote(self.body) + " " + unquote(self.path)
        facts = self.facts
        ec2_ids = sorted(set(EC2_ID.findall(text)))
        if ec2_ids:
            self.pre["ec2_tags"] = facts.ec2_tags(ec2_ids)
        for association_id in (i for i in ec2_ids if i.startswith("rtbassoc-")):
            table, subnet = self.pre.setdefault("associations", {})[association_id] = facts.association(association_id)
            self.pre.setdefault("ec2_tags", {}).update(facts.ec2_tags([i for i in (table, subnet) if i]))
        for instance_id in (i for i in ec2_ids if i.startswith("i-")):
            self.pre.setdefault("instances", {})[instance_id] = facts.instance(instance_id)
        for efs_id in sorted(set(EFS_ID.findall(text))):
            if efs_id.startswith("fsmt-"):
                target = facts.mount_target(efs_id)
                self.pre.setdefault("mount_targets", {})[efs_id] = target
                if target:
                    self.pre.setdefault("file_systems", {})[target["FileSystemId"]] = facts.file_system_tags(
                        target["FileSystemId"])
                    eni = target.get("NetworkInterfaceId")
                    if eni:
                        self.pre.setdefault("ec2_tags", {}).update(facts.ec2_tags([eni]))
            else:
                self.pre.setdefault("file_systems", {})[efs_id] = facts.file_system_tags(efs_id)
        for name in self.iam_names("RoleName"):
            self.pre.setdefault("roles", {})[name] = facts.role(name)
        for name in self.iam_names("InstanceProfileName"):
            profile = facts.instance_profile(name)
            self.pre.setdefault("profiles", {})[name] = profile
            for role in (profile or {}).get("Roles", []):
                self.pre.setdefault("roles", {})[role["RoleName"]] = facts.role(role["RoleName"])
        if self.operation == "RunInstances":
            profile = self.params.get("IamInstanceProfile.Name")
            if profile:
                self.pre.setdefault("profiles", {})[profile] = found = facts.instance_profile(profile)
                for role in (found or {}).get("Roles", []):
                    self.pre.setdefault("roles", {})[role["RoleName"]] = facts.role(role["RoleName"])
            self.pre["spot_role"] = facts.spot_role_exists()
        if self.service == "ssm":
            for name in self.parameter_names():
                if not name.startswith("/aws/"):
                    self.pre.setdefault("parameters", {})[name] = facts.parameter_tags(name)

    def iam_names(self, param):
        return [self.params[param]] if self.service == "iam" and param in self.params else []

    def parameter_names(self):
        names = list(self.params.get("Names") or [])
        for key in ("Name", "ResourceId"):
            if key in self.params:
                names.append(self.params[key])
        return names


class Model:
    """Builds the Requests of one parsed Call (``model_call``)."""

    def __init__(self, call, reference, account, region, partition="aws"):
        self.call, self.ref = call, reference
        self.account, self.region, self.partition = account, region, partition
        self.requests = []

    # --- ARNs -----------------------------------------------------------------------------------------------
    def arn(self, action, resource_type, ident):
        """The ARN of ``ident`` from the reference's format for the type: partition, region, account, then the id."""
        fmt = self.ref.arn_format(action, resource_type) if resource_type != "spot-instances-request" else (
            "arn:${Partition}:ec2:${Region}:${Account}:spot-instances-request/${SpotInstanceRequestId}")
        text = fmt.replace("${Partition}", self.partition).replace("${Region}", self.region).replace(
            "${Account}", self.account)
        return re.sub(r"\$\{[^}]+\}$", lambda _m: ident, text)

    def role_arn(self, name, role=None):
        """A role that exists is authorized with its path; one that does not, with none (IAM cannot know it)."""
        if role is not None:
            return role["Arn"]
        return "arn:{0}:iam::{1}:role/{2}".format(self.partition, self.account, name)

    def profile_arn(self, name, profile=None):
        if profile is not None:
            return profile["Arn"]
        return "arn:{0}:iam::{1}:instance-profile/{2}".format(self.partition, self.account, name)

    # --- targets --------------------------------------------------------------------------------------------
    def existing_ec2(self, action, resource_id, resource_type=None):
        resource_type = resource_type or EC2_TYPES[resource_id.split("-", 1)[0]]
        tags = self.call.pre.get("ec2_tags", {}).get(resource_id)
        return Target(resource_type, self.arn(action, resource_type, resource_id), resource_tags=tags)

    def created(self, action, resource_type, ident, tags):
        return Target(resource_type, self.arn(action, resource_type, ident), request_tags=tags or None)

    def add(self, action, targets, keys=None, via=None):
        self.ref.check_targets(action, {t.type for t in targets if t.type})
        if via is not None:
            self.ref.check_dependent(via, action)
        label = "#{0} {1}".format(self.call.index, self.call.operation) + (" -> " + action if via else "")
        request = Request(action, targets or [Target("", "*")], dict(keys or {}), label, via)
        self.requests.append(request)
        return request

    def tag_on_create(self, action, created_targets, **keys):
        """EC2's create calls with TagSpecifications also authorize ec2:CreateTags on each tagged resource."""
        for target in created_targets:
            if target.request_tags:
                self.add("ec2:CreateTags", [Target(target.type, target.arn, request_tags=target.request_tags)],
                         dict({"ec2:CreateAction": action.split(":", 1)[1]}, **keys), via=action)


def ec2_created_id(call, element):
    return xml_first(call.response, element) if call.ok else NEW


def model_ec2(m):
    call, p = m.call, m.call.params
    op = call.operation
    action = "ec2:" + op
    specs = tag_specifications(p)

    def existing(*names):
        ids = []
        for name in names:
            if name in p:
                ids.append(p[name])
            ids += listed(p, name)
        return [m.existing_ec2(action, i) for i in ids]

    creates = {
        "CreateVpc": ("vpc", "vpcId", ()),
        "CreateSubnet": ("subnet", "subnetId", ("VpcId",)),
        "CreateInternetGateway": ("internet-gateway", "internetGatewayId", ()),
        "CreateRouteTable": ("route-table", "routeTableId", ("VpcId",)),
        "CreateSecurityGroup": ("security-group", "groupId", ("VpcId",)),
    }
    if op in creates:
        resource_type, element, parents = creates[op]
        made = m.created(action, resource_type, ec2_created_id(call, element), specs.get(resource_type))
        m.add(action, [made] + existing(*parents))
        m.tag_on_create(action, [made])
    elif op == "CreateVolume":
        made = m.created(action, "volume", ec2_created_id(call, "volumeId"), specs.get("volume"))
        made.keys = {"ec2:Encrypted": str(p.get("Encrypted", "false")).lower(), "ec2:VolumeType": p.get("VolumeType", "gp2"),
                     "ec2:AvailabilityZone": p.get("AvailabilityZone")}
        m.add(action, [made])
        m.tag_on_create(action, [made])
    elif op == "RunInstances":
        model_run_instances(m, action, specs)
    elif op == "DisassociateRouteTable":
        table, subnet = call.pre.get("associations", {}).get(p["AssociationId"], (None, None))
        targets = [m.existing_ec2(action, table)] if table else [Target("route-table", m.arn(action, "route-table", "unknown"))]
        if subnet:
            targets.append(m.existing_ec2(action, subnet))
        m.add(action, targets)
    elif op == "ReplaceRouteTableAssociation":  # the new table, and the subnet whose association moves
        _old, subnet = call.pre.get("associations", {}).get(p["AssociationId"], (None, None))
        m.add(action, existing("RouteTableId") + ([m.existing_ec2(action, subnet)] if subnet else []))
    elif op in ("StopInstances", "StartInstances", "TerminateInstances"):
        for target in existing("InstanceId"):
            m.add(action, [with_instance_keys(m, target)])
    elif op == "CancelSpotInstanceRequests":
        for target in existing("SpotInstanceRequestId"):
            m.add(action, [target])
    elif op == "ModifyInstanceMetadataOptions":
        m.add(action, [with_instance_keys(m, t) for t in existing("InstanceId")])
    elif op in ("AttachVolume", "DetachVolume"):
        m.add(action, [with_instance_keys(m, t) for t in existing("InstanceId")] + existing("VolumeId"))
    elif op.startswith("Describe") and op not in ("DescribeVpcAttribute", "DescribeInstanceAttribute"):
        m.add(action, [Target("", "*")])
    else:
        names = ("VpcId", "SubnetId", "InternetGatewayId", "RouteTableId", "GroupId", "InstanceId", "VolumeId")
        m.add(action, existing(*names))


def with_instance_keys(m, target):
    """The instance's own condition keys, from what the emulator held."""
    item = (m.call.pre.get("instances") or {}).get(target.arn.rsplit("/", 1)[-1])
    if item:
        profile = (item.get("IamInstanceProfile") or {}).get("Arn")
        target.keys = {k: v for k, v in {
            "ec2:InstanceProfile": profile,
            "ec2:InstanceMarketType": "spot" if item.get("InstanceLifecycle") == "spot" else "on-demand",
            "ec2:InstanceType": item.get("InstanceType"),
        }.items() if v is not None}
    return target


def model_run_instances(m, action, specs):
    call, p = m.call, m.call.params
    facts = call.facts
    instance_id = ec2_created_id(call, "instanceId")
    described = facts.instance(instance_id) if call.ok else None
    profile_name = p.get("IamInstanceProfile.Name")
    profile = (call.pre.get("profiles") or {}).get(profile_name) if profile_name else None
    spot = p.get("InstanceMarketOptions.MarketType") == "spot"
    instance = m.created(action, "instance", instance_id, specs.get("instance"))
    instance.keys = {k: v for k, v in {
        "ec2:InstanceType": p.get("InstanceType"),
        "ec2:InstanceMarketType": "spot" if spot else "on-demand",
        "ec2:InstanceProfile": m.profile_arn(profile_name, profile) if profile_name else None,
        "ec2:MetadataHttpTokens": p.get("MetadataOptions.HttpTokens", "optional"),
        "ec2:MetadataHttpPutResponseHopLimit": p.get("MetadataOptions.HttpPutResponseHopLimit", "1"),
        "ec2:MetadataHttpEndpoint": p.get("MetadataOptions.HttpEndpoint", "enabled"),
    }.items() if v is not None}
    interfaces = [eni["NetworkInterfaceId"] for eni in (described or {}).get("NetworkInterfaces", [])] or [NEW]
    volumes = [b["Ebs"]["VolumeId"] for b in (described or {}).get("BlockDeviceMappings", []) if "Ebs" in b] or [NEW]
    encrypted = str(p.get("BlockDeviceMapping.1.Ebs.Encrypted", "false")).lower()
    targets = [Target("image", m.arn(action, "image", p["ImageId"]),
                      resource_tags=call.pre.get("ec2_tags", {}).get(p["ImageId"])), instance]
    targets += [m.created(action, "network-interface", eni, specs.get("network-interface")) for eni in interfaces]
    for volume_id in volumes:
        volume = m.created(action, "volume", volume_id, specs.get("volume"))
        volume.keys = {"ec2:Encrypted": encrypted, "ec2:VolumeType": p.get("BlockDeviceMapping.1.Ebs.VolumeType", "gp2")}
        targets.append(volume)
    targets += [m.existing_ec2(action, p["SubnetId"])]
    targets += [m.existing_ec2(action, g) for g in listed(p, "SecurityGroupId")]
    if p.get("KeyName"):
        targets.append(Target("key-pair", m.arn(action, "key-pair", p["KeyName"])))
    if spot:
        # The reference lists no spot-instances-request for RunInstances (reference-gaps.json says why it is there).
        m.ref.gap(action, "resource_type", "spot-instances-request")
        request_id = (facts.spot.of_instance(instance_id) if facts.spot is not None and call.ok else None) or NEW
        targets.append(m.created(action, "spot-instances-request", request_id, specs.get("spot-instances-request")))
    m.add(action, targets)
    m.tag_on_create(action, [t for t in targets if t.request_tags])
    if profile_name:
        for role in (profile or {}).get("Roles", []):
            found = (call.pre.get("roles") or {}).get(role["RoleName"])
            m.add("iam:PassRole", [Target("role", m.role_arn(role["RoleName"], found), resource_tags=tags_of(
                (found or {}).get("Tags")))], {"iam:PassedToService": "ec2.amazonaws.com"}, via=action)
    if spot and not call.pre.get("spot_role"):
        name = "AWSServiceRoleForEC2Spot"
        m.add("iam:CreateServiceLinkedRole", [Target("role", "arn:{0}:iam::{1}:role/aws-service-role/spot.amazonaws.com/{2}"
                                                     .format(m.partition, m.account, name))],
              {"iam:AWSServiceName": "spot.amazonaws.com"}, via=action)


def model_efs(m):
    call, p = m.call, m.call.params
    op = call.operation
    action = "elasticfilesystem:" + op
    ids = EFS_ID.findall(call.path)
    file_systems = call.pre.get("file_systems") or {}

    def file_system(file_system_id):
        return Target("file-system", m.arn(action, "file-system", file_system_id),
                      resource_tags=file_systems.get(file_system_id))

    if op == "CreateFileSystem":
        tags = tags_of(p.get("Tags"))
        made_id = json.loads(call.response).get("FileSystemId", NEW) if call.ok else NEW
        m.add(action, [Target("", "*", request_tags=tags or None)],
              {"elasticfilesystem:Encrypted": str(p.get("Encrypted", False)).lower()})
        if tags:
            m.add("elasticfilesystem:TagResource", [Target("file-system", m.arn(action, "file-system", made_id),
                                                           request_tags=tags)],
                  {"elasticfilesystem:CreateAction": "CreateFileSystem"}, via=action)
    elif op == "CreateMountTarget":
        m.add(action, [file_system(p["FileSystemId"])])
        eni = json.loads(call.response).get("NetworkInterfaceId", NEW) if call.ok else NEW
        ec2 = "ec2:CreateNetworkInterface"
        targets = [Target("network-interface", m.arn(ec2, "network-interface", eni)),
                   m.existing_ec2(ec2, p["SubnetId"])] + [m.existing_ec2(ec2, g) for g in p.get("SecurityGroups", [])]
        m.add(ec2, targets, via=action)
        m.add("ec2:DescribeSubnets", [Target("", "*")], via=action)
        m.add("ec2:DescribeNetworkInterfaces", [Target("", "*")], via=action)
    elif op == "DeleteMountTarget":
        target = (call.pre.get("mount_targets") or {}).get(ids[0])
        if target is None:
            m.add(action, [Target("file-system", m.arn(action, "file-system", "unknown"))])
            return
        m.add(action, [file_system(target["FileSystemId"])])
        eni = target.get("NetworkInterfaceId") or NEW
        m.add("ec2:DeleteNetworkInterface", [m.existing_ec2("ec2:DeleteNetworkInterface", eni, "network-interface")],
              via=action)
    elif op == "DescribeFileSystems":
        wanted = call.query.get("FileSystemId")
        m.add(action, [file_system(wanted)] if wanted else [Target("", "*")])
    elif op == "DescribeMountTargets":
        wanted = call.query.get("FileSystemId")
        if not wanted and call.query.get("MountTargetId"):
            found = (call.pre.get("mount_targets") or {}).get(call.query["MountTargetId"])
            wanted = (found or {}).get("FileSystemId", "unknown")
        m.add(action, [file_system(wanted)])
    else:  # the file system in the path: policy, tags, delete
        m.add(action, [file_system(ids[0])])


def parameter_arn(m, action, name):
    if name.startswith("/aws/"):  # AWS's public parameters live in no account
        return "arn:{0}:ssm:{1}::parameter{2}".format(m.partition, m.region, name)
    return m.arn(action, "parameter", name.lstrip("/").rstrip("/"))


def model_ssm(m):
    call, p = m.call, m.call.params
    action = "ssm:" + call.operation
    held = call.pre.get("parameters") or {}
    if call.operation == "PutParameter":
        tags = tags_of(p.get("Tags"))
        target = Target("parameter", parameter_arn(m, action, p["Name"]), request_tags=tags or None,
                        resource_tags=held.get(p["Name"]))
        m.add(action, [target], {"ssm:Overwrite": str(p.get("Overwrite", False)).lower()})
        if tags:
            m.add("ssm:AddTagsToResource", [Target("parameter", target.arn, request_tags=tags,
                                                   resource_tags=held.get(p["Name"]))], via=action)
    elif call.operation == "GetParametersByPath":
        m.add(action, [Target("parameter", parameter_arn(m, action, p["Path"]))],
              {"ssm:Recursive": str(p.get("Recursive", False)).lower()})
    elif call.operation == "DescribeParameters":
        m.add(action, [Target("", "*")])
    else:
        for name in call.parameter_names():
            m.add(action, [Target("parameter", parameter_arn(m, action, name), resource_tags=held.get(name))])


def model_iam(m):
    call, p = m.call, m.call.params
    op = call.operation
    action = "iam:" + op
    roles, profiles = call.pre.get("roles") or {}, call.pre.get("profiles") or {}

    def role_target(name):
        found = roles.get(name)
        return Target("role", m.role_arn(name, found), resource_tags=tags_of(found.get("Tags")) if found else None)

    def boundary_of(name):
        found = roles.get(name) or {}
        return (found.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")

    tags = {p[k]: p.get(k.replace(".Key", ".Value"), "") for k in p if re.fullmatch(r"Tags\.member\.\d+\.Key", k)}
    if op == "CreateRole":
        arn = "arn:{0}:iam::{1}:role{2}{3}".format(m.partition, m.account, p.get("Path", "/"), p["RoleName"])
        keys = {"iam:PermissionsBoundary": p["PermissionsBoundary"]} if p.get("PermissionsBoundary") else {}
        m.add(action, [Target("role", arn, request_tags=tags or None)], keys)
        if tags:
            m.add("iam:TagRole", [Target("role", arn, request_tags=tags)], via=action)
    elif op == "CreateInstanceProfile":
        arn = "arn:{0}:iam::{1}:instance-profile{2}{3}".format(
            m.partition, m.account, p.get("Path", "/"), p["InstanceProfileName"])
        m.add(action, [Target("instance-profile", arn, request_tags=tags or None)])
        if tags:
            m.add("iam:TagInstanceProfile", [Target("instance-profile", arn, request_tags=tags)], via=action)
    elif "InstanceProfileName" in p:
        name = p["InstanceProfileName"]
        m.add(action, [Target("instance-profile", m.profile_arn(name, profiles.get(name)))])
        if op == "AddRoleToInstanceProfile":
            # "The caller of this operation must be granted the PassRole permission on the IAM role" (IAM API
            # reference, AddRoleToInstanceProfile); no service is named, so iam:PassedToService is absent.
            m.add("iam:PassRole", [role_target(p["RoleName"])], via=action)
    elif "RoleName" in p:
        keys = {}
        if op in ("PutRolePolicy", "DeleteRolePolicy", "DetachRolePolicy", "PutRolePermissionsBoundary",
                  "DeleteRolePermissionsBoundary", "AttachRolePolicy") and boundary_of(p["RoleName"]):
            keys["iam:PermissionsBoundary"] = boundary_of(p["RoleName"])
        if op == "PutRolePermissionsBoundary":
            keys["iam:PermissionsBoundary"] = p["PermissionsBoundary"]
        if "PolicyArn" in p:
            keys["iam:PolicyARN"] = p["PolicyArn"]
        m.add(action, [role_target(p["RoleName"])], keys)
    elif op == "GetPolicy":
        m.add(action, [Target("policy", p["PolicyArn"])])
    else:
        m.add(action, [Target("", "*")])


def model_s3(m):
    """The state backend's calls (path-style addressing on the emulator)."""
    call = m.call
    path = urlsplit(call.path).path.lstrip("/")
    bucket, _slash, key = path.partition("/")
    if not key:  # the bucket: a listing (HeadBucket needs s3:ListBucket too), or its creation
        action = "s3:CreateBucket" if call.method == "PUT" else "s3:ListBucket"
        keys = {"s3:prefix": call.query.get("prefix", "")} if action == "s3:ListBucket" else {}
        m.add(action, [Target("bucket", "arn:{0}:s3:::{1}".format(m.partition, bucket))], keys)
        return
    action = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}[
        call.method]
    # A conditional write's headers are condition keys a bucket policy can require (s3:if-match, s3:if-none-match).
    headers = {name.lower(): value for name, value in call.headers.items()}
    # If-Match carries the object's ETag, new at every write: only its presence matters to a policy, so the record
    # keeps a placeholder and stays the same from one run to the next.
    keys = {}
    if action == "s3:PutObject":
        if "if-match" in headers:
            keys["s3:if-match"] = "ETAG"
        if "if-none-match" in headers:
            keys["s3:if-none-match"] = headers["if-none-match"]
    m.add(action, [Target("object", "arn:{0}:s3:::{1}/{2}".format(m.partition, bucket, unquote(key)))], keys)


def model_call(call, reference, account, region):
    """The Requests of one recorded Call."""
    m = Model(call, reference, account, region)
    service = call.service
    if service == "ec2":
        model_ec2(m)
    elif service == "elasticfilesystem":
        model_efs(m)
    elif service == "ssm":
        model_ssm(m)
    elif service == "iam":
        model_iam(m)
    elif service == "s3":
        model_s3(m)
    elif service == "sts" and call.operation == "GetCallerIdentity":
        pass  # "No permissions are required to perform this operation" (STS API reference); even a Deny cannot stop it
    elif service == "servicequotas":
        p = call.params
        action = "servicequotas:" + call.operation
        m.add(action, [Target("quota", "arn:{0}:servicequotas:{1}:{2}:{3}/{4}".format(
            m.partition, m.region, m.account, p.get("ServiceCode"), p.get("QuotaCode")))],
            {"servicequotas:service": p.get("ServiceCode")})
    else:
        raise ValueError("the authorization check does not model {0}:{1}".format(service, call.operation))
    return m.requests


class Recorder:
    """A fault-proxy observer that records the authorization requests of every call the collection makes.

    ``recorder.requests``: every Request, in call order; ``recorder.errors``: calls it could not model."""

    def __init__(self, reference, endpoint, account="123456789012", region="us-east-1", spot=None):
        self.reference = reference
        self.facts = Facts(endpoint, region, spot)
        self.account, self.region = account, region
        self.requests, self.errors = [], []
        self._lock = threading.Lock()
        self._count = 0

    def before(self, call):
        with self._lock:
            self._count += 1
            index = self._count
        parsed = Call(call.service, call.operation, call.method, call.path, call.body, self.facts, call.headers)
        parsed.index = index
        try:
            parsed.snapshot()
        except Exception as e:  # recorded, so the check fails with the call named instead of the proxy breaking
            self.errors.append("#{0} {1}: cannot read what it names: {2!r}".format(index, call.operation, e))
        return parsed

    def after(self, call, parsed, status, body):
        parsed.status = status
        parsed.response = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            requests = model_call(parsed, self.reference, self.account, self.region)
        except Exception as e:
            self.errors.append("#{0} {1}:{2}: {3}".format(parsed.index, call.service, call.operation, e))
            return
        with self._lock:
            self.requests.extend(requests)
