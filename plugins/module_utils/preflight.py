# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks a deploy's inputs and the AWS account with read-only calls, before anything is created.

Every problem found is reported at once, each naming the input at fault and what to do. What is allowed but
risky (a /0 source) is a warning.
"""

import ipaddress
import re
import shlex

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system, instance, volume, vpc
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import (
    AWS_ERRORS,
    PERMISSION_CODES,
    error_code,
    is_boto3_error_code,
    list_all,
    permission_problem,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.instance import IMAGE_HEADROOM_GIB, ROOT_VOLUME_GIB
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import (
    IAM_PATH,
    KEY_TAG,
    STACK_TAG,
    boundary_arn,
    boundary_setup_command,
    iam_name,
)

# The current Deep Learning Base OSS NVIDIA driver GPU AMI (Amazon Linux 2023), for the instance type's architecture:
# AWS keeps this parameter on its latest image, so no retired image is pinned here.
DLAMI_PARAMETER = "/aws/service/deeplearning/ami/{0}/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
TIMEOUT_OPTIONS = ("rollback_timeout", "instance_timeout", "health_check_timeout")
NFS_PORT = 2049
# One Postgres and one Qdrant on their own storage: the stack is single-node.
MAX_INSTANCES = 1

# EC2 vCPU quotas (Service Quotas, service code ec2) by instance family: (on-demand, spot).
VCPU_QUOTAS = {
    "G and VT": ("L-DB2E81BA", "L-3819A6DF"),
    "P": ("L-417A185B", "L-7212CCBC"),
    "Standard (A, C, D, H, I, M, R, T, Z)": ("L-1216C47A", "L-34B43A08"),  # STANDARD
}
STANDARD = "Standard (A, C, D, H, I, M, R, T, Z)"
# Families by the letters a type name starts with; the standard quota covers the rest of A, C, D, H, I, M, R, T, Z.
FAMILIES = {"g": "G and VT", "gr": "G and VT", "vt": "G and VT", "p": "P"}
NOT_STANDARD = ("inf", "dl", "trn", "hpc", "mac")

# Tags every service here accepts (EC2, EFS, IAM and SSM agree on this much).
TAG_KEY_MAX, TAG_VALUE_MAX, USER_TAGS_MAX = 128, 256, 47  # 50 per resource, 3 are the stack's own
TAG_CHARACTERS = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)


def cidr_problems_and_warnings(option, cidrs, port):
    problems, warnings = [], []
    for cidr in cidrs or []:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as e:
            problems.append("{0}: {1!r} is not a CIDR block ({2})".format(option, cidr, e))
            continue
        if network.prefixlen == 0:
            warnings.append("{0} has {1}: port {2} is open to the whole internet".format(option, cidr, port))
    return problems, warnings


def tag_problems(tags):
    problems = []
    reserved = {STACK_TAG, KEY_TAG}
    if len(tags or {}) > USER_TAGS_MAX:
        problems.append("tags: {0} tags, but AWS allows {1} besides the stack's own".format(len(tags), USER_TAGS_MAX))
    for key, value in (tags or {}).items():
        key, value = str(key), "" if value is None else str(value)
        if not 1 <= len(key) <= TAG_KEY_MAX:
            problems.append("tags: key {0!r} must be 1 to {1} characters".format(key[:40], TAG_KEY_MAX))
        if len(value) > TAG_VALUE_MAX:
            problems.append("tags: the value of {0!r} is longer than {1} characters".format(key, TAG_VALUE_MAX))
        if key.lower().startswith("aws:"):
            problems.append("tags: key {0!r} uses the aws: prefix, which AWS reserves".format(key))
        if key in reserved:
            problems.append("tags: key {0!r} is the stack's own ownership tag".format(key))
        for text in (key, value):
            if not TAG_CHARACTERS.match(text):
                problems.append("tags: {0!r} has characters AWS tags do not take (letters, digits, spaces and "
                                "_ . : / = + - @ only)".format(text))
    return problems


def input_problems(params):
    """(problems, warnings) in the inputs alone, without AWS."""
    problems, warnings = [], []
    for option, port in (("allowed_cidrs", 443), ("ssh_cidrs", 22)):
        found, warned = cidr_problems_and_warnings(option, params.get(option), port)
        problems += found
        warnings += warned
    if params.get("health_check") and not params.get("allowed_cidrs"):
        problems.append("allowed_cidrs is empty, so nobody could reach the services on 443 and the health check would "
                        "wait out health_check_timeout: give who may reach HTTPS, e.g. -e '{\"allowed_cidrs\": "
                        "[\"203.0.113.10/32\"]}', or set health_check=false")
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
    if params["instance_count"] != MAX_INSTANCES:
        problems.append("instance_count must be 1, not {0}: the stack is single-node (one PostgreSQL and one Qdrant "
                        "on the instance's data volume)".format(params["instance_count"]))
    if params.get("root_volume_size") is not None and not 8 <= params["root_volume_size"] <= 16384:
        problems.append("root_volume_size must be between 8 and 16384 GiB, not {0}".format(params["root_volume_size"]))
    if params.get("data_volume_size") is not None and not 1 <= params["data_volume_size"] <= 16384:
        problems.append("data_volume_size must be between 1 and 16384 GiB, not {0}".format(params["data_volume_size"]))
    if params.get("subnet_ids") and not params.get("vpc_id"):
        problems.append("subnet_ids needs vpc_id: reuse names the VPC and its public subnets together")
    if params.get("vpc_id") and not params.get("subnet_ids"):
        problems.append("vpc_id needs subnet_ids: name the VPC's public subnets to use, in two AZs")
    problems += tag_problems(params.get("tags"))
    return problems, warnings


def estimated_cost(instance_type, count, data_volume_size=volume.DEFAULT_SIZE_GIB):
    """What a deploy will cost by the hour, from the kinds' estimates, for people."""
    price = instance.KIND.hourly_usd({"instance_type": instance_type})
    disk = "the {0} GiB data volume USD {1:.3f}/hour".format(data_volume_size, volume.KIND.hourly_usd({"size": data_volume_size}))
    storage = file_system.KIND.cost_note({})
    if price is None:
        return "hourly cost of {0} unknown (see aws.amazon.com/ec2/pricing), plus {1} and EFS storage {2}".format(
            instance_type, disk, storage)
    return "about USD {0:.3f}/hour for {1} x {2} on-demand (spot is usually much less), plus {3} and EFS storage {4}".format(
        price * count, count, instance_type, disk, storage)


def refusal(problem, operation, **params):
    """None when AWS accepts the read-only call, else ``problem`` with AWS's error code."""
    try:
        operation(aws_retry=True, **params)
    except AWS_ERRORS as e:
        return "{0}: {1}".format(problem, error_code(e))
    return None


def public_subnet_problems(ec2, vpc_id, subnet_ids):
    """(problems, zones): a reused VPC must resolve AWS names (DNS support and hostnames: the file system is mounted
    by name); its subnets must be in the VPC, in two AZs or more, route 0.0.0.0/0 to an internet gateway, and give
    instances a public IPv4 address."""
    problems = []
    problem = refusal("vpc_id {0} cannot be used".format(vpc_id), ec2.describe_vpcs, VpcIds=[vpc_id])
    if problem:
        return [problem], []
    try:
        support, hostnames = vpc.dns_attributes(ec2, vpc_id)
    except AWS_ERRORS as e:
        return ["vpc_id {0}: its DNS attributes cannot be read: {1}".format(vpc_id, error_code(e))], []
    off = [name for name, on in (("enableDnsSupport", support), ("enableDnsHostnames", hostnames)) if not on]
    if off:
        problems.append("vpc_id {0} has {1} off, so its instances cannot resolve the EFS file system's name and the "
                        "boot fails: turn it on (aws ec2 modify-vpc-attribute --vpc-id {0} --{2})".format(
                            vpc_id, " and ".join(off), " / --".join(
                                {"enableDnsSupport": "enable-dns-support", "enableDnsHostnames": "enable-dns-hostnames"}[
                                    name] for name in off)))
    try:
        subnets = ec2.describe_subnets(aws_retry=True, SubnetIds=list(subnet_ids))["Subnets"]
        tables = list_all(ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    except AWS_ERRORS as e:
        return ["subnet_ids {0} cannot be used: {1}".format(", ".join(subnet_ids), error_code(e))], []
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
        elif not subnet.get("MapPublicIpOnLaunch"):
            problems.append("subnet {0} gives instances no public IPv4 address, so the services would have no address to "
                            "reach: turn it on with aws ec2 modify-subnet-attribute --subnet-id {0} --map-public-ip-on-launch, "
                            "or name subnets that do".format(subnet["SubnetId"]))
    zones = {subnet["AvailabilityZone"] for subnet in subnets}
    if len(zones) < 2:
        problems.append("subnet_ids must span two availability zones; they are all in {0}".format(", ".join(sorted(zones))))
    return problems, sorted(zones)


WORLD = ("0.0.0.0/0", "::/0")


def world_open_ports(group):
    """The ingress of ``group`` that anyone on the internet reaches, as 'tcp 22', 'udp 53', 'all'."""
    found = []
    for permission in group.get("IpPermissions", []):
        ranges = [r.get("CidrIp") for r in permission.get("IpRanges", [])] + [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", [])]
        if not any(cidr in WORLD for cidr in ranges):
            continue
        protocol = permission.get("IpProtocol")
        if protocol == "-1":
            found.append("all")
        elif permission.get("FromPort") == permission.get("ToPort"):
            found.append("{0} {1}".format(protocol, permission.get("FromPort")))
        else:
            found.append("{0} {1}-{2}".format(protocol, permission.get("FromPort"), permission.get("ToPort")))
    return found


def security_group_problem(ec2, group_id, vpc_id, warnings=None):
    """Why the reused group cannot serve the stack, or None; what it opens to the whole internet goes to ``warnings``
    (the user's group, left as it is, but the instance gets it)."""
    try:
        group = ec2.describe_security_groups(aws_retry=True, GroupIds=[group_id])["SecurityGroups"][0]
    except AWS_ERRORS as e:
        return "security_group_id {0} cannot be used: {1}".format(group_id, error_code(e))
    if vpc_id and group["VpcId"] != vpc_id:
        return "security_group_id {0} is in {1}, not in vpc_id {2}".format(group_id, group["VpcId"], vpc_id)
    opened = world_open_ports(group)
    if opened and warnings is not None:
        warnings.append("security_group_id {0} lets anyone on the internet in on {1}; the stack's instance gets this "
                        "group as it is (the collection never changes a group you bring)".format(group_id, ", ".join(opened)))
    if not any(permission.get("IpProtocol") in ("-1", "tcp") and permission.get("FromPort", 0) <= NFS_PORT <=
               permission.get("ToPort", 65535) and any(pair.get("GroupId") == group_id
                                                       for pair in permission.get("UserIdGroupPairs", []))
               for permission in group.get("IpPermissions", [])):
        # The mount targets carry the same group: NFS must come in from the group itself.
        return ("security_group_id {0} does not let NFS (TCP {1}) in from itself, so the instance cannot reach the "
                "file system's mount targets: add aws ec2 authorize-security-group-ingress --group-id {0} --protocol "
                "tcp --port {1} --source-group {0}".format(group_id, NFS_PORT))
    return None


def instance_type_info(ec2, instance_type):
    """(description, problem) of the instance type in this region. A GPU type must have NVIDIA GPUs: the image is
    NVIDIA's driver AMI and Ollama runs on CUDA."""
    try:
        found = ec2.describe_instance_types(aws_retry=True, InstanceTypes=[instance_type])["InstanceTypes"]
    except AWS_ERRORS as e:
        return None, "instance_type {0!r} is not offered here: {1}".format(instance_type, error_code(e))
    if not found:
        return None, "instance_type {0!r} is not offered here".format(instance_type)
    makers = sorted({gpu.get("Manufacturer") or "an unknown maker" for gpu in (found[0].get("GpuInfo") or {}).get("Gpus", [])})
    if makers and makers != ["NVIDIA"]:
        return found[0], ("instance_type {0!r} has GPUs by {1}, but the stack needs NVIDIA GPUs (the NVIDIA driver image, "
                          "CUDA for Ollama): choose a G or P type such as g4dn.xlarge, g5.xlarge or g6.xlarge".format(
                              instance_type, ", ".join(m for m in makers if m != "NVIDIA")))
    return found[0], None


def offered_zones(ec2, instance_type):
    """The availability zones of the region that offer ``instance_type``, sorted. Local Zones and Wavelength
    Zones (which an account may have opted in to, and which the offerings list too) are left out: EFS has no mount
    targets there."""
    zones = {zone["ZoneName"] for zone in ec2.describe_availability_zones(
        aws_retry=True, Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])["AvailabilityZones"]}
    offerings = list_all(ec2, "describe_instance_type_offerings", "InstanceTypeOfferings", LocationType="availability-zone",
                         Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    return sorted({offering["Location"] for offering in offerings} & zones)


def zone_problems(ec2, instance_type, az_count, reused_zones, data_zone=None):
    """(zones the stack may use, problems): the type must be offered in az_count zones, or in every reused subnet's;
    a kept data volume's zone comes first and must be among them (the instance must go where its volume is)."""
    try:
        zones = offered_zones(ec2, instance_type)
    except AWS_ERRORS as e:
        return [], ["the availability zones offering {0} cannot be read: {1}".format(instance_type, error_code(e))]
    if data_zone is not None:
        if data_zone not in zones or (reused_zones and data_zone not in reused_zones):
            return zones, ["the stack's data volume is in {0}, but {1}; the instance must go where its volume is: choose an "
                           "instance_type offered there{2}, or destroy the stack without keep_data".format(
                               data_zone, "no subnet of subnet_ids is there" if data_zone in zones else
                               "{0} is not offered there".format(instance_type), " and a subnet there" if reused_zones else "")]
        zones = [data_zone] + [zone for zone in zones if zone != data_zone]
    if reused_zones:
        missing = [zone for zone in reused_zones if zone not in zones]
        if missing:
            return zones, ["instance_type {0} is not offered in {1}, where subnet_ids are; it is offered in {2}".format(
                instance_type, ", ".join(missing), ", ".join(zones) or "no zone of this region")]
        return list(reused_zones), []
    if len(zones) < az_count:
        return zones, ["az_count is {0}, but only {1} availability zone(s) of this region offer {2} ({3}): lower az_count "
                       "or choose another instance_type or region".format(az_count, len(zones), instance_type, ", ".join(zones) or "none")]
    return zones[:az_count], []


def quota_family(instance_type):
    """The vCPU quota family of an instance type (a key of VCPU_QUOTAS), or None when none here covers it."""
    letters = re.match(r"[a-z]*", instance_type.lower()).group(0)
    if letters in FAMILIES:
        return FAMILIES[letters]
    if letters[:1] in "acdhimrtz" and letters and not letters.startswith(NOT_STANDARD):
        return STANDARD
    return None


def read_quota(service_quotas, code):
    """The quota's value, or None when Service Quotas cannot say."""
    try:
        return service_quotas.get_service_quota(aws_retry=True, ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except AWS_ERRORS:
        return None


def quota_problems(service_quotas, instance_type, vcpus, use_spot):
    """(problems, warnings): the vCPU quota must cover the instance, for spot or on-demand as configured."""
    family = quota_family(instance_type)
    if family is None:
        return [], ["the vCPU quota of {0} instances is not checked; make sure it covers {1} vCPUs".format(instance_type, vcpus)]
    on_demand, spot = VCPU_QUOTAS[family]
    markets = [("spot", spot), ("on-demand", on_demand)] if use_spot else [("on-demand", on_demand)]
    short, unknown = [], []
    for market, code in markets:
        value = read_quota(service_quotas, code)
        if value is None:
            unknown.append(code)
        elif value >= vcpus:
            return [], []  # the launch falls back from spot to on-demand, so one market that fits is enough
        else:
            short.append((market, code, value))
    if unknown:
        return [], ["the EC2 vCPU quota {0} cannot be read (Service Quotas); make sure it covers {1} vCPUs of {2}".format(
            " or ".join(unknown), vcpus, instance_type)]
    return ["the {0} vCPU quota for {1} instances ({2}) is {3:g}, but {4} needs {5}: request an increase with aws "
            "service-quotas request-service-quota-increase --service-code ec2 --quota-code {2} --desired-value {5} "
            "(or in the Service Quotas console), then deploy again".format(market, family, code, value, instance_type, vcpus)
            for market, code, value in short], []


def owner_problem(image, owners, account_id):
    """None when ``image`` comes from an owner of the allow-list ``owners``: ``amazon`` (AWS's own images, alias
    amazon), ``self`` (this account's) or an account id. Anyone can publish a public image; the instance runs it as
    root with the stack's role."""
    allowed = ("amazon" in owners and image.get("ImageOwnerAlias") == "amazon") or \
        ("self" in owners and account_id is not None and image.get("OwnerId") == account_id) or image.get("OwnerId") in owners
    if allowed:
        return None
    return ("ami_id {0} belongs to account {1}, which is not in ami_owners ({2}): the instance would run it as root with the "
            "stack's role. Use an image of Amazon or of this account, or add its owner to ami_owners if you trust it".format(
                image.get("ImageId"), image.get("OwnerId"), ", ".join(owners)))


def image_problems(ec2, ssm, ami_id, architectures, root_volume_size, owners=("amazon", "self"), account_id=None):
    """(facts, problems, warnings): the image exists, comes from an allowed owner, fits the instance type's
    architecture, and its root snapshot fits with room for the container images."""
    if not ami_id:
        parameter = DLAMI_PARAMETER.format("arm64" if architectures and "x86_64" not in architectures else "x86_64")
        try:
            ami_id = ssm.get_parameter(aws_retry=True, Name=parameter)["Parameter"]["Value"]
        except AWS_ERRORS as e:
            return {}, ["the Deep Learning AMI could not be looked up ({0}: {1}); pass ami_id".format(parameter, error_code(e))], []
    try:
        images = ec2.describe_images(aws_retry=True, ImageIds=[ami_id])["Images"]
    except AWS_ERRORS as e:
        return {}, ["ami_id {0} cannot be used: {1}".format(ami_id, error_code(e))], []
    if not images:
        return {}, ["ami_id {0} does not exist in this region".format(ami_id)], []
    image, problems, warnings = images[0], [], []
    problem = owner_problem(image, owners, account_id)
    if problem:
        problems.append(problem)
    architecture = image.get("Architecture")
    if architectures and architecture not in architectures:
        problems.append("ami_id {0} is built for {1}, but the instance type runs {2}: choose an image for {2}, or an "
                        "instance type for {1}".format(ami_id, architecture, " or ".join(architectures)))
    root = next((m for m in image.get("BlockDeviceMappings", []) if m.get("DeviceName") == image.get("RootDeviceName")), {})
    snapshot_gib = (root.get("Ebs") or {}).get("VolumeSize") or 0
    roomy = max(ROOT_VOLUME_GIB, snapshot_gib + IMAGE_HEADROOM_GIB)
    size = root_volume_size or roomy
    if size < snapshot_gib:
        problems.append("root_volume_size {0} GiB is smaller than the {1} GiB snapshot of ami_id {2}: use at least {1}".format(
            size, snapshot_gib, ami_id))
    elif size < roomy:
        warnings.append("root_volume_size {0} GiB leaves less than {1} GiB beside the {2} GiB image for the container "
                        "images; the pull may fill the disk (the default is {3})".format(size, IMAGE_HEADROOM_GIB, snapshot_gib, roomy))
    return {"ami_id": ami_id, "architecture": architecture, "root_volume_size": size}, problems, warnings


def boundary_problem(iam, partition, account_id):
    """None when the permissions boundary the stack's role is created with exists, else what to do."""
    arn = boundary_arn(partition, account_id)
    try:
        iam.get_policy(aws_retry=True, PolicyArn=arn)
    except is_boto3_error_code("NoSuchEntity"):
        return ("the permissions boundary {0} does not exist in this account; the stack's role is created only with "
                "it. An administrator creates it once per account: {1}".format(arn, boundary_setup_command()))
    except AWS_ERRORS as e:
        if error_code(e) in PERMISSION_CODES:
            return "the permissions boundary {0} cannot be read: {1}".format(arn, permission_problem(e))
        return "the permissions boundary {0} cannot be read: {1}".format(arn, error_code(e))
    return None


# What `aws iam simulate-principal-policy` checks for a deploy, destroy and check: the calls the deployer policy
# guards with conditions, each on the resource it authorizes, with the context AWS gives it. (action, resource
# ARN template, context entries); {p} partition, {r} region, {a} account, {s} stack, {n} role and profile name.
POLICY_PROBES = [
    ("ec2:CreateVpc", "arn:{p}:ec2:{r}:{a}:vpc/*", {"aws:RequestTag/" + STACK_TAG: "{s}"}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}:{a}:instance/*", {
        "aws:RequestTag/" + STACK_TAG: "{s}", "ec2:InstanceProfile": "arn:{p}:iam::{a}:instance-profile" + IAM_PATH + "{n}",
        "ec2:MetadataHttpTokens": "required"}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}:{a}:spot-instances-request/*", {"aws:RequestTag/" + STACK_TAG: "{s}"}),
    ("ec2:CreateTags", "arn:{p}:ec2:{r}:{a}:instance/*", {"ec2:CreateAction": "RunInstances"}),
    ("iam:PassRole", "arn:{p}:iam::{a}:role" + IAM_PATH + "{n}", {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("iam:CreateRole", "arn:{p}:iam::{a}:role" + IAM_PATH + "{n}", {
        "aws:RequestTag/" + STACK_TAG: "{s}", "iam:PermissionsBoundary": "{b}"}),
    ("iam:PutRolePolicy", "arn:{p}:iam::{a}:role" + IAM_PATH + "{n}", {"iam:PermissionsBoundary": "{b}"}),
    ("elasticfilesystem:CreateFileSystem", "*", {"aws:RequestTag/" + STACK_TAG: "{s}"}),
    ("ssm:PutParameter", "arn:{p}:ssm:{r}:{a}:parameter/geusemaker/{s}/db_password", {"aws:RequestTag/" + STACK_TAG: "{s}"}),
    ("ec2:CancelSpotInstanceRequests", "arn:{p}:ec2:{r}:{a}:spot-instances-request/*", {"aws:ResourceTag/" + STACK_TAG: "{s}"}),
    ("ec2:TerminateInstances", "arn:{p}:ec2:{r}:{a}:instance/*", {"aws:ResourceTag/" + STACK_TAG: "{s}"}),
    ("elasticfilesystem:DeleteMountTarget", "arn:{p}:elasticfilesystem:{r}:{a}:file-system/*", {
        "aws:ResourceTag/" + STACK_TAG: "{s}"}),
    ("ec2:DeleteNetworkInterface", "arn:{p}:ec2:{r}:{a}:network-interface/*", {}),
]


def policy_probes(partition, region, account_id, stack_name):
    """POLICY_PROBES filled in for this account and stack: [(action, resource ARN, {key: value})]."""
    values = dict(p=partition or "aws", r=region, a=account_id, s=stack_name, n=iam_name(stack_name, region),
                  b=boundary_arn(partition, account_id))
    return [(action, resource.format(**values), {k: v.format(**values) for k, v in context.items()})
            for action, resource, context in POLICY_PROBES]


def policy_check_commands(caller_arn, partition, region, account_id, stack_name):
    """The `aws iam simulate-principal-policy` commands that check, on the account, that the caller's policies allow
    what a deploy, check and destroy of this stack ask (they print only what is not allowed)."""
    source = caller_arn
    if source and ":assumed-role/" in source:  # a role session: simulate the role itself
        role = source.split(":assumed-role/", 1)[1].split("/", 1)[0]
        source = "arn:{0}:iam::{1}:role/{2}".format(partition or "aws", account_id, role)
    commands = []
    for action, resource, context in policy_probes(partition, region, account_id, stack_name):
        words = ["aws", "iam", "simulate-principal-policy", "--policy-source-arn", source, "--action-names", action,
                 "--resource-arns", resource]
        if context:
            words.append("--context-entries")
            words += ["ContextKeyName={0},ContextKeyValues={1},ContextKeyType=string".format(k, v)
                      for k, v in sorted(context.items())]
        words += ["--query", "EvaluationResults[?EvalDecision!='allowed'].[EvalActionName,EvalResourceName,EvalDecision]",
                  "--output", "text"]
        commands.append(" ".join(shlex.quote(word) for word in words))
    return commands


def key_pair_problem(ec2, key_name):
    return refusal("key_name {0!r} cannot be used".format(key_name), ec2.describe_key_pairs, KeyNames=[key_name])


def account_problems(clients, params, account_id=None, partition="aws"):
    """(facts, problems, warnings) from read-only calls."""
    ec2 = clients.ec2
    problems, warnings, reused_zones = [], [], []
    if account_id:
        problem = boundary_problem(clients.iam, partition, account_id)
        if problem:
            problems.append(problem)
    if params.get("vpc_id"):
        found, reused_zones = public_subnet_problems(ec2, params["vpc_id"], params["subnet_ids"])
        problems += found
    if params.get("security_group_id"):
        problem = security_group_problem(ec2, params["security_group_id"], params.get("vpc_id"), warnings)
        if problem:
            problems.append(problem)
    try:
        data_zone, problem = volume.kept(ec2, params["stack_name"])
        facts = {"data_zone": data_zone}
        if problem:
            problems.append(problem)
    except AWS_ERRORS as e:
        return {}, ["the stack's data volume cannot be looked up: {0}".format(error_code(e))], warnings
    instance_type, problem = instance_type_info(ec2, params["instance_type"])
    facts["gpus"] = sum(gpu.get("Count", 0) for gpu in ((instance_type or {}).get("GpuInfo") or {}).get("Gpus", []))
    if problem:
        problems.append(problem)
    else:
        zones, found = zone_problems(ec2, params["instance_type"], params["az_count"], reused_zones, facts["data_zone"])
        problems += found
        facts["availability_zones"] = zones
        vcpus = instance_type["VCpuInfo"]["DefaultVCpus"] * params["instance_count"]
        found, warned = quota_problems(clients.service_quotas, params["instance_type"], vcpus, params["use_spot"])
        problems += found
        warnings += warned
    architectures = (instance_type or {}).get("ProcessorInfo", {}).get("SupportedArchitectures")
    image_facts, found, warned = image_problems(ec2, clients.ssm, params.get("ami_id"), architectures, params.get("root_volume_size"),
                                                owners=params.get("ami_owners") or ("amazon", "self"), account_id=account_id)
    warnings += warned
    facts.update(image_facts)
    problems += found
    if params.get("key_name"):
        problem = key_pair_problem(ec2, params["key_name"])
        if problem:
            problems.append(problem)
    return facts, problems, warnings
