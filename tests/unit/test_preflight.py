"""Preflight: inputs refused with what to do, and the account's limits read before anything is created."""

import os

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import preflight
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import stack_name_problem
from tests.support.aws_calls import after_call, always, answer_in_turn, client_error, on_call
from tests.unit.conftest import make_clients

GOOD = dict(stack_name="unit", vpc_cidr="10.42.0.0/16", rollback_timeout=900, instance_timeout=600, health_check_timeout=900, az_count=2,
            instance_count=1, allowed_cidrs=["203.0.113.0/24"], ssh_cidrs=[], health_check=True, tags={"team": "ai"},
            instance_type="t3.medium", use_spot=True, ami_id=None, root_volume_size=None, key_name=None, vpc_id=None,
            subnet_ids=[], security_group_id=None)


def problems_of(**changes):
    return preflight.input_problems(dict(GOOD, **changes))


def test_good_inputs_pass():
    assert problems_of() == ([], [])


@pytest.mark.parametrize("name", ["ab", "a" * 33, "Bad-Name", "Abc", "abC", "ABC", "1stack", "-abc", "a_b", "../x", "ok;rm -rf /",
                                  "", None, "with space", "abc\n"])
def test_stack_names_outside_the_rule_are_refused(name):
    assert "is invalid: use 3 to 32 lowercase letters" in stack_name_problem(name)


@pytest.mark.parametrize("name", ["abc", "a" * 32, "demo-2", "x9-y"])
def test_stack_names_inside_the_rule_pass(name):
    assert stack_name_problem(name) is None


# The integration tier's bad-input set (tests/integration/test_bad_input.py), for the inputs alone: each is one
# problem, worded as the integration case expects.
@pytest.mark.parametrize("changes, message", [
    (dict(allowed_cidrs=["10.0.0.0/33"]), "allowed_cidrs: '10.0.0.0/33' is not a CIDR block"),
    (dict(ssh_cidrs=["banana"]), "ssh_cidrs: 'banana' is not a CIDR block"),
    (dict(vpc_cidr="10.0.0.0/8"), "vpc_cidr 10.0.0.0/8 must be an IPv4 block from /16 to /24"),
    (dict(vpc_cidr="10.0.0.0/25"), "vpc_cidr 10.0.0.0/25 must be an IPv4 block from /16 to /24"),
    (dict(vpc_cidr="fd00::/56"), "vpc_cidr fd00::/56 must be an IPv4 block"),
    (dict(vpc_cidr="10.0.0.1/16"), "vpc_cidr: '10.0.0.1/16' is not a CIDR block"),
    (dict(instance_timeout=-5), "instance_timeout must be a positive number of seconds, not -5"),
    (dict(rollback_timeout=0), "rollback_timeout must be a positive number of seconds, not 0"),
    (dict(health_check_timeout=0), "health_check_timeout must be a positive number of seconds, not 0"),
    (dict(az_count=0), "az_count must be between 1 and 6, not 0"),
    (dict(az_count=7), "az_count must be between 1 and 6, not 7"),
    (dict(instance_count=0), "instance_count must be 1, not 0"),
    (dict(root_volume_size=7), "root_volume_size must be between 8 and 16384 GiB, not 7"),
    (dict(root_volume_size=16385), "root_volume_size must be between 8 and 16384 GiB, not 16385"),
    (dict(vpc_id="vpc-00000000"), "vpc_id needs subnet_ids"),
    (dict(subnet_ids=["subnet-00000000"]), "subnet_ids needs vpc_id"),
])
def test_each_bad_input_is_one_problem_that_names_it(changes, message):
    problems, _unused = problems_of(**changes)
    assert len(problems) == 1 and message in problems[0], problems


def test_every_problem_is_reported_at_once():
    problems, _unused = problems_of(vpc_cidr="10.0.0.0/8", az_count=0, instance_timeout=-1, tags={"aws:x": "y"})
    assert len(problems) == 4, problems


@pytest.mark.parametrize("changes", [dict(vpc_cidr="10.0.0.0/24"), dict(az_count=1), dict(az_count=6), dict(root_volume_size=8),
                                     dict(root_volume_size=16384), dict(vpc_id="vpc-1", subnet_ids=["subnet-1"])])
def test_the_edges_of_the_rules_pass(changes):
    assert problems_of(**changes) == ([], [])


def test_ipv6_blocks_are_cidrs_too():
    assert problems_of(allowed_cidrs=["2001:db8::/32"], ssh_cidrs=["2001:db8:1::/48"]) == ([], [])


@pytest.mark.parametrize("option, cidr, port", [("allowed_cidrs", "0.0.0.0/0", 443), ("allowed_cidrs", "::/0", 443),
                                                ("ssh_cidrs", "0.0.0.0/0", 22), ("ssh_cidrs", "::/0", 22)])
def test_the_whole_internet_is_allowed_with_a_warning(option, cidr, port):
    problems, warnings = problems_of(**{option: [cidr] + (GOOD[option] if option == "allowed_cidrs" else [])})
    assert problems == [] and warnings == ["{0} has {1}: port {2} is open to the whole internet".format(option, cidr, port)]


def test_no_allowed_cidr_while_the_health_check_is_on_is_refused_with_the_fix():
    [problem], _unused = problems_of(allowed_cidrs=[])
    assert "allowed_cidrs is empty" in problem and "203.0.113.10/32" in problem and "health_check=false" in problem
    assert problems_of(allowed_cidrs=[], health_check=False) == ([], [])


@pytest.mark.parametrize("tags, message", [
    ({"aws:owner": "x"}, "uses the aws: prefix"),
    ({"k" * 129: "x"}, "must be 1 to 128 characters"),
    ({"": "x"}, "must be 1 to 128 characters"),
    ({"team": "v" * 257}, "longer than 256 characters"),
    ({"team<": "x"}, "has characters AWS tags do not take"),
    ({"team": "a;b"}, "has characters AWS tags do not take"),
    ({"geusemaker:stack": "other"}, "is the stack's own ownership tag"),
    ({"t{0}".format(i): "x" for i in range(48)}, "48 tags, but AWS allows 47"),
])
def test_tags_follow_aws_rules(tags, message):
    problems, _unused = problems_of(tags=tags)
    assert any(message in problem for problem in problems), problems


def test_tags_aws_accepts_pass():
    assert problems_of(tags={"Cost Center": "ai-42", "owner": "me@example.com", "path": "/a/b:c=d+e_f.g"}) == ([], [])


def test_more_than_one_instance_is_refused_while_single_node():
    [problem], _unused = problems_of(instance_count=2)
    assert "instance_count must be 1, not 2: the stack is single-node" in problem


def test_the_cost_estimate_comes_from_the_registry():
    assert preflight.estimated_cost("g4dn.xlarge", 1).startswith("about USD 0.526/hour for 1 x g4dn.xlarge")
    assert "the 200 GiB data volume USD 0.022/hour" in preflight.estimated_cost("g4dn.xlarge", 1, 200)


@pytest.mark.parametrize("size", [0, 16385])
def test_a_data_volume_size_outside_what_ebs_takes_is_refused(size):
    [problem], _unused = problems_of(data_volume_size=size)
    assert problem == "data_volume_size must be between 1 and 16384 GiB, not {0}".format(size)


# The account, on the in-process emulator.


BOUNDARY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "iam",
                        "instance-boundary.json")


@pytest.fixture
def clients(aws):
    found = make_clients()
    with open(BOUNDARY) as handle:  # what an administrator creates once per account
        found.iam.create_policy(Path="/geusemaker/", PolicyName="geusemaker-instance-boundary", PolicyDocument=handle.read())
    return found


def account(clients, **changes):
    if "ami_id" not in changes:
        changes["ami_id"] = image(clients)
    return preflight.account_problems(clients, dict(GOOD, **changes), "123456789012", "aws")


def test_an_account_without_the_roles_boundary_is_refused_with_how_to_create_it(clients):
    arn = "arn:aws:iam::123456789012:policy/geusemaker/geusemaker-instance-boundary"
    clients.iam.delete_policy(PolicyArn=arn)
    _facts, problems, _warnings = account(clients)
    assert problems == ["the permissions boundary {0} does not exist in this account; the stack's role is created only "
                        "with it. An administrator creates it once per account: aws iam create-policy --policy-document "
                        "file://ansible_collections/geusemaker/stack/docs/iam/instance-boundary.json --path /geusemaker/ "
                        "--policy-name geusemaker-instance-boundary".format(arn)]


def test_a_boundary_the_credentials_may_not_read_is_a_permission_problem(clients):
    on_call(clients.iam, "GetPolicy", always(client_error("AccessDenied", "GetPolicy")))
    _facts, problems, _warnings = account(clients)
    assert len(problems) == 1 and "a permission problem, not a capacity or input one" in problems[0], problems


def image(clients, architecture="x86_64", snapshot_gib=75):
    ec2 = clients.ec2
    for item in ec2.describe_images(Owners=["amazon"])["Images"]:
        root = next((m for m in item.get("BlockDeviceMappings", []) if m.get("DeviceName") == item.get("RootDeviceName")), {})
        if item.get("Architecture") == architecture and (root.get("Ebs") or {}).get("VolumeSize", 0) <= snapshot_gib:
            return item["ImageId"]
    raise AssertionError("no {0} image in the emulator".format(architecture))


def test_a_good_account_gives_the_zones_that_offer_the_type_and_a_root_size(clients):
    facts, problems, warnings = account(clients)
    assert problems == []
    zones = facts["availability_zones"]
    assert len(zones) == 2 and zones == sorted(zones)
    assert facts["architecture"] == "x86_64" and facts["root_volume_size"] == 75
    # Service Quotas is not on the emulator: the run is warned and goes on.
    assert len(warnings) == 1 and "L-34B43A08 or L-1216C47A cannot be read" in warnings[0]


def test_zones_are_chosen_among_those_that_offer_the_type(clients):
    offered = [{"Location": "us-east-1f", "LocationType": "availability-zone", "InstanceType": "t3.medium"},
               {"Location": "us-east-1c", "LocationType": "availability-zone", "InstanceType": "t3.medium"}]
    answer_in_turn(clients.ec2, "DescribeInstanceTypeOfferings", [{"InstanceTypeOfferings": offered}])
    facts, problems, _unused = account(clients)
    assert problems == [] and facts["availability_zones"] == ["us-east-1c", "us-east-1f"]


def test_a_type_offered_in_fewer_zones_than_az_count_is_refused(clients):
    answer_in_turn(clients.ec2, "DescribeInstanceTypeOfferings", [{"InstanceTypeOfferings": [
        {"Location": "us-east-1a", "LocationType": "availability-zone", "InstanceType": "t3.medium"}]}])
    _unused, problems, _warned = account(clients)
    assert problems == ["az_count is 2, but only 1 availability zone(s) of this region offer t3.medium (us-east-1a): lower "
                        "az_count or choose another instance_type or region"]


@pytest.mark.parametrize("use_spot, codes", [(True, ["L-34B43A08", "L-1216C47A"]), (False, ["L-1216C47A"])])
def test_a_quota_below_the_vcpus_needed_is_refused_with_its_code_and_the_fix(clients, use_spot, codes):
    asked = answer_in_turn(clients.service_quotas, "GetServiceQuota",
                           [{"Quota": {"QuotaCode": code, "Value": 0.0}} for code in codes])
    _unused, problems, _warned = account(clients, use_spot=use_spot)
    assert [call["QuotaCode"] for call in asked] == codes
    assert len(problems) == len(codes)
    for problem, code in zip(problems, codes):
        assert "({0}) is 0, but t3.medium needs 2".format(code) in problem
        assert "request-service-quota-increase --service-code ec2 --quota-code {0} --desired-value 2".format(code) in problem


def test_spot_short_but_on_demand_enough_passes(clients):
    answer_in_turn(clients.service_quotas, "GetServiceQuota",
                   [{"Quota": {"Value": 0.0}}, {"Quota": {"Value": 64.0}}])
    assert account(clients)[1:] == ([], [])


@pytest.mark.parametrize("use_spot", [True, False])
def test_a_quota_that_fits_exactly_passes_and_one_vcpu_less_is_refused(clients, use_spot):
    # A new account's G and VT quota is often 4, and g4dn.xlarge needs exactly 4 (issue 21: ">=" must not become ">").
    answer_in_turn(clients.service_quotas, "GetServiceQuota", [{"Quota": {"Value": 4.0}}, {"Quota": {"Value": 3.0}}])
    assert preflight.quota_problems(clients.service_quotas, "g4dn.xlarge", 4, use_spot) == ([], [])
    problems, warnings = preflight.quota_problems(clients.service_quotas, "g4dn.xlarge", 4, use_spot)
    assert warnings == [] and len(problems) == (2 if use_spot else 1)
    assert "is 3, but g4dn.xlarge needs 4" in problems[-1]


def test_a_gpu_type_uses_the_g_and_vt_quotas():
    assert preflight.quota_family("g4dn.xlarge") == "G and VT" and preflight.VCPU_QUOTAS["G and VT"] == ("L-DB2E81BA", "L-3819A6DF")
    assert preflight.quota_family("vt1.3xlarge") == "G and VT"
    assert preflight.quota_family("p4d.24xlarge") == "P"
    assert preflight.quota_family("inf2.xlarge") is None


def test_an_unknown_family_is_a_warning(clients):
    assert preflight.quota_problems(clients.service_quotas, "inf2.xlarge", 4, True) == (
        [], ["the vCPU quota of inf2.xlarge instances is not checked; make sure it covers 4 vCPUs"])


def test_an_image_for_another_architecture_is_refused(clients):
    _unused, problems, _warned = account(clients, ami_id=image(clients, "arm64"))
    assert len(problems) == 1 and "is built for arm64, but the instance type runs x86_64" in problems[0]


def test_the_root_volume_follows_a_larger_snapshot_and_a_smaller_size_is_refused(clients):
    ami_id = image(clients)
    answer_in_turn(clients.ec2, "DescribeImages", [{"Images": [{
        "ImageId": ami_id, "OwnerId": "801119661308", "ImageOwnerAlias": "amazon", "Architecture": "x86_64", "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 120}}]}]}])
    facts, problems, warned = account(clients, ami_id=ami_id)
    assert problems == [] and facts["root_volume_size"] == 150 and not any("root_volume_size" in w for w in warned)
    _unused, problems, _warned = account(clients, ami_id=ami_id, root_volume_size=100)
    assert problems == ["root_volume_size 100 GiB is smaller than the 120 GiB snapshot of ami_id {0}: use at least 120".format(ami_id)]


@pytest.mark.parametrize("snapshot, chosen, size, warning", [
    (75, None, 105, None),  # the DLAMI's own 75 GiB, and room for the container images beside it
    (8, None, 75, None),  # a small image: the 75 GiB floor holds the images
    (75, 80, 80, "root_volume_size 80 GiB leaves less than 30 GiB beside the 75 GiB image for the container images; "
                 "the pull may fill the disk (the default is 105)"),
    (75, 105, 105, None),
])
def test_the_root_volume_leaves_room_for_the_container_images(clients, snapshot, chosen, size, warning):
    ami_id = image(clients)
    answer_in_turn(clients.ec2, "DescribeImages", [{"Images": [{
        "ImageId": ami_id, "OwnerId": "801119661308", "ImageOwnerAlias": "amazon", "Architecture": "x86_64", "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": snapshot}}]}]}])
    facts, problems, warned = account(clients, ami_id=ami_id, root_volume_size=chosen)
    assert problems == [] and facts["root_volume_size"] == size
    assert [w for w in warned if "root_volume_size" in w] == ([warning] if warning else [])


def test_an_unknown_type_is_refused(clients):
    on_call(clients.ec2, "DescribeInstanceTypes", always(client_error("InvalidInstanceType", "DescribeInstanceTypes")))
    _unused, problems, _warned = account(clients)
    assert problems == ["instance_type 't3.medium' is not offered here: InvalidInstanceType"]


def users_vpc(ec2, dns_hostnames=True):
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": dns_hostnames})
    return vpc_id


def test_a_reused_subnet_without_public_addresses_is_refused_with_the_fix(clients):
    ec2 = clients.ec2
    vpc_id = users_vpc(ec2)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    subnets = []
    for index, zone in enumerate(("us-east-1a", "us-east-1b")):
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.{0}.0/24".format(index), AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)
        subnets.append(subnet_id)
    ec2.modify_subnet_attribute(SubnetId=subnets[0], MapPublicIpOnLaunch={"Value": True})
    facts, problems, _warned = account(clients, vpc_id=vpc_id, subnet_ids=subnets)
    assert len(problems) == 1 and "subnet {0} gives instances no public IPv4 address".format(subnets[1]) in problems[0]
    assert "modify-subnet-attribute --subnet-id {0} --map-public-ip-on-launch".format(subnets[1]) in problems[0]
    assert facts["availability_zones"] == ["us-east-1a", "us-east-1b"]


def public_subnets(ec2, vpc_id):
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    subnets = []
    for index, zone in enumerate(("us-east-1a", "us-east-1b")):
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.{0}.0/24".format(index), AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)
        ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        subnets.append(subnet_id)
    return subnets


def test_a_reused_vpc_without_dns_hostnames_is_refused_with_the_fix(clients):
    """Without DNS the instance cannot resolve the file system's name: refused now, not as efs_failed minutes into
    the boot (issue 19)."""
    vpc_id = users_vpc(clients.ec2, dns_hostnames=False)
    _facts, problems, _warned = account(clients, vpc_id=vpc_id, subnet_ids=public_subnets(clients.ec2, vpc_id))
    assert problems == ["vpc_id {0} has enableDnsHostnames off, so its instances cannot resolve the EFS file system's name "
                        "and the boot fails: turn it on (aws ec2 modify-vpc-attribute --vpc-id {0} "
                        "--enable-dns-hostnames)".format(vpc_id)]


def test_a_reused_group_without_nfs_from_itself_is_refused_with_the_fix(clients):
    ec2 = clients.ec2
    vpc_id = users_vpc(ec2)
    subnets = public_subnets(ec2, vpc_id)
    group = ec2.create_security_group(GroupName="users", Description="the user's", VpcId=vpc_id)["GroupId"]
    _facts, problems, _warned = account(clients, vpc_id=vpc_id, subnet_ids=subnets, security_group_id=group)
    assert problems == ["security_group_id {0} does not let NFS (TCP 2049) in from itself, so the instance cannot reach "
                        "the file system's mount targets: add aws ec2 authorize-security-group-ingress --group-id {0} "
                        "--protocol tcp --port 2049 --source-group {0}".format(group)]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "UserIdGroupPairs": [{"GroupId": group}]}])
    assert account(clients, vpc_id=vpc_id, subnet_ids=subnets, security_group_id=group)[1] == []


def test_a_reused_group_open_to_the_internet_is_used_as_it_is_with_a_warning(clients):
    ec2 = clients.ec2
    vpc_id = users_vpc(ec2)
    subnets = public_subnets(ec2, vpc_id)
    group = ec2.create_security_group(GroupName="users", Description="the user's", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "UserIdGroupPairs": [{"GroupId": group}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8999, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    _facts, problems, warned = account(clients, vpc_id=vpc_id, subnet_ids=subnets, security_group_id=group)
    assert problems == []
    assert [w for w in warned if group in w] == [
        "security_group_id {0} lets anyone on the internet in on tcp 22, all; the stack's instance gets this group as "
        "it is (the collection never changes a group you bring)".format(group)]


def test_local_zones_are_left_out_of_the_stacks_zones(clients):
    """An opted-in Local Zone is listed by the offerings and sorts first; EFS has no mount targets there."""
    offered = [{"Location": zone, "LocationType": "availability-zone", "InstanceType": "t3.medium"}
               for zone in ("us-east-1-bos-1a", "us-east-1b", "us-east-1c")]
    answer_in_turn(clients.ec2, "DescribeInstanceTypeOfferings", [{"InstanceTypeOfferings": offered}])
    facts, problems, _unused = account(clients)
    assert problems == [] and facts["availability_zones"] == ["us-east-1b", "us-east-1c"]


def test_a_gpu_type_that_is_not_nvidias_is_refused(clients):
    answer_in_turn(clients.ec2, "DescribeInstanceTypes", [{"InstanceTypes": [{
        "InstanceType": "g4ad.xlarge", "VCpuInfo": {"DefaultVCpus": 4}, "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
        "GpuInfo": {"Gpus": [{"Name": "Radeon Pro V520", "Manufacturer": "AMD", "Count": 1}]}}]}],
        when=lambda params: params.get("InstanceTypes") == ["g4ad.xlarge"])
    _facts, problems, _warned = account(clients, instance_type="g4ad.xlarge")
    assert len(problems) == 1, problems
    assert problems[0].startswith("instance_type 'g4ad.xlarge' has GPUs by AMD, but the stack needs NVIDIA GPUs"), problems
    facts, problems, _warned = account(clients, instance_type="g4dn.xlarge")
    assert problems == [] and facts["gpus"] == 1  # so the boot fails where the driver never shows it
    facts, problems, _warned = account(clients)
    assert problems == [] and facts["gpus"] == 0  # t3.medium: Ollama on the CPU is expected


def test_a_kept_data_volume_pins_the_zone_and_must_be_offered_there(clients):
    ec2 = clients.ec2
    ec2.create_volume(AvailabilityZone="us-east-1c", Size=100, Encrypted=True, TagSpecifications=[{"ResourceType": "volume", "Tags": [
        {"Key": "geusemaker:stack", "Value": "unit"}, {"Key": "geusemaker:key", "Value": "data"}]}])
    facts, problems, _warned = account(clients)
    assert problems == [] and facts["data_zone"] == "us-east-1c" and facts["availability_zones"][0] == "us-east-1c"
    answer_in_turn(ec2, "DescribeInstanceTypeOfferings", [{"InstanceTypeOfferings": [
        {"Location": zone, "LocationType": "availability-zone", "InstanceType": "t3.medium"} for zone in ("us-east-1a", "us-east-1b")]}])
    _unused, problems, _warned = account(clients)
    assert problems == ["the stack's data volume is in us-east-1c, but t3.medium is not offered there; the instance must go "
                        "where its volume is: choose an instance_type offered there, or destroy the stack without keep_data"]


def test_an_unencrypted_data_volume_tagged_for_the_stack_is_refused(clients):
    # Tagged by hand, or kept from a deploy of an older collection: the databases would land on it unencrypted.
    volume_id = clients.ec2.create_volume(AvailabilityZone="us-east-1a", Size=100, Encrypted=False, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "geusemaker:stack", "Value": "unit"},
                                            {"Key": "geusemaker:key", "Value": "data"}]}])["VolumeId"]
    _unused, problems, _warned = account(clients)
    assert [p for p in problems if volume_id in p] == [
        "data volume {0}, tagged for this stack, is not encrypted; the stack keeps its databases only on an encrypted "
        "volume. Make an encrypted copy (aws ec2 copy-snapshot --encrypted, then create-volume from it, tagged like "
        "this one), then remove this one's geusemaker:stack tag".format(volume_id)]


def owned_by(clients, owner_id, alias=None):
    """Every image the account describes looks published by ``owner_id`` (with ``alias``, or none)."""
    def change(params, parsed):
        for item in parsed["Images"]:
            item["OwnerId"] = owner_id
            item.pop("ImageOwnerAlias", None)
            if alias:
                item["ImageOwnerAlias"] = alias

    after_call(clients.ec2, "DescribeImages", change)


def test_an_image_of_an_owner_outside_the_allow_list_is_refused(clients):
    ami_id = image(clients)
    owned_by(clients, "999988887777")  # anyone can publish a public image
    _unused, problems, _warned = account(clients, ami_id=ami_id)
    assert problems == [
        "ami_id {0} belongs to account 999988887777, which is not in ami_owners (amazon, self): the instance would run "
        "it as root with the stack's role. Use an image of Amazon or of this account, or add its owner to ami_owners "
        "if you trust it".format(ami_id)]
    assert account(clients, ami_id=ami_id, ami_owners=["amazon", "999988887777"])[1] == []


def test_images_of_amazon_and_of_the_account_itself_are_allowed_by_default(clients):
    ami_id = image(clients)
    assert account(clients, ami_id=ami_id)[1] == []  # the emulator's images are Amazon's
    owned_by(clients, "123456789012")
    assert account(clients, ami_id=ami_id)[1] == []
    assert account(clients, ami_id=ami_id, ami_owners=["amazon"])[1] != []


def test_the_default_image_follows_the_architecture(clients):
    # The Deep Learning AMI parameters are not on the emulator (and /aws/ names are reserved): answer them here.
    images = {arch: image(clients, arch) for arch in ("x86_64", "arm64")}
    asked = []

    def public_parameter(params):
        asked.append(params["Name"])
        arch = params["Name"].split("/")[5]
        return {"Parameter": {"Name": params["Name"], "Type": "String", "Value": images[arch]}}

    on_call(clients.ssm, "GetParameter", public_parameter)
    facts, problems, _warned = account(clients, ami_id=None)
    assert problems == [] and facts["ami_id"] == images["x86_64"] and facts["architecture"] == "x86_64"
    facts, problems, _warned = account(clients, ami_id=None, instance_type="t4g.medium")
    assert problems == [] and facts["ami_id"] == images["arm64"], problems
    assert asked == [preflight.DLAMI_PARAMETER.format("x86_64"), preflight.DLAMI_PARAMETER.format("arm64")]
