"""Bad input: a clear error naming the problem, before any mutating AWS call, and nothing recorded is lost."""

import json
import os

import pytest

from tests.integration.conftest import UserNetwork
from tests.support.fault_proxy import Rule

pytestmark = pytest.mark.figure("5 bad input")

RECORDED = {
    "schema_version": 1, "stack_name": "ok-name", "region": "us-east-1", "status": "deployed",
    "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
    "resources": [{"type": "vpc", "id": "vpc-0recorded", "provenance": "created", "status": "present", "region": "us-east-1"}],
    "events": [], "failure": None,
}
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None,
                  "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}

# (case id, extra vars, env changes, what the error must say)
CASES = [
    ("name-too-long", dict(stack_name="a" * 33), None, "is invalid: use 3 to 32 lowercase letters"),
    ("name-uppercase", dict(stack_name="Bad-Name"), None, "stack_name 'Bad-Name' is invalid"),
    ("name-path", dict(stack_name="../x"), None, "stack_name '../x' is invalid"),
    ("name-shell", dict(stack_name="ok;rm -rf /"), None, "stack_name 'ok;rm -rf /' is invalid"),
    ("name-missing", dict(), None, "stack_name '' is invalid"),
    ("allowed-cidr", dict(allowed_cidrs=["10.0.0.0/33"]), None, "allowed_cidrs: '10.0.0.0/33' is not a CIDR block"),
    ("ssh-cidr", dict(ssh_cidrs=["banana"]), None, "ssh_cidrs: 'banana' is not a CIDR block"),
    ("vpc-cidr", dict(vpc_cidr="10.0.0.0/8"), None, "vpc_cidr 10.0.0.0/8 must be an IPv4 block from /16 to /24"),
    ("vpc-missing", dict(vpc_id="vpc-00000000", subnet_ids=["subnet-00000000"]), None, "vpc_id vpc-00000000 cannot be used"),
    ("vpc-without-subnets", dict(vpc_id="vpc-00000000"), None, "vpc_id needs subnet_ids"),
    ("subnets-not-in-vpc", "not_in_vpc", None, "not in vpc_id"),
    ("subnets-not-public", "not_public", None, "is not public"),
    ("subnets-one-az", "one_az", None, "subnet_ids must span two availability zones"),
    ("group-missing", dict(security_group_id="sg-00000000"), None, "security_group_id sg-00000000 cannot be used"),
    ("region", dict(stack_name="new-name", aws_region="mars-north-1"), None, "aws_region 'mars-north-1' is not an AWS region"),
    ("no-credentials", dict(), NO_CREDENTIALS, "no AWS credentials found"),
    ("endpoint-silent", dict(), {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "the AWS endpoint does not answer"),
    ("rollback-maybe", dict(rollback="maybe"), None, "rollback"),
    ("on-failure", dict(on_failure="sometimes"), None, "on_failure"),
    ("negative-timeout", dict(instance_timeout=-5), None, "instance_timeout must be a positive number"),
    ("zero-azs", dict(az_count=0), None, "az_count must be between 1 and 6"),
    ("zero-instances", dict(instance_count=0), None, "instance_count must be 1, not 0"),
    ("two-instances", dict(instance_count=2), None, "instance_count must be 1, not 2: the stack is single-node"),
    ("no-allowed-cidrs", dict(allowed_cidrs=[]), None, "allowed_cidrs is empty, so nobody could reach the services on 443"),
    ("tag-aws-prefix", dict(tags={"aws:team": "ai"}), None, "tags: key 'aws:team' uses the aws: prefix"),
    ("tag-key-too-long", dict(tags={"k" * 129: "ai"}), None, "must be 1 to 128 characters"),
    ("tag-characters", dict(tags={"team": "a;b"}), None, "tags: 'a;b' has characters AWS tags do not take"),
    ("subnets-no-public-ip", "no_public_ip", None, "gives instances no public IPv4 address"),
    ("image-arm64", "arm64_image", None, "is built for arm64, but the instance type runs x86_64"),
    ("root-below-snapshot", "small_root", None, "GiB snapshot of ami_id"),
    ("data-volume-size", dict(data_volume_size=0), None, "data_volume_size must be between 1 and 16384 GiB, not 0"),
    ("quota-zero", "quota_zero", None, "(L-34B43A08) is 0, but t3.medium needs 2"),
    ("type-not-offered", "type_not_offered", None, "only 0 availability zone(s) of this region offer t3.medium"),
    ("instance-type", dict(instance_type="x9.huge"), None, "instance_type 'x9.huge' is not offered here"),
    ("image", dict(ami_id="ami-00000000"), None, "ami_id ami-00000000"),
    ("state-dir-unusable", "state_dir_is_a_file", None, "stacks cannot be created: Not a directory"),
    ("no-role-boundary", "no_boundary", None, "geusemaker-instance-boundary does not exist in this account"),
    ("vpc-without-dns", "no_dns", None, "has enableDnsHostnames off, so its instances cannot resolve"),
    ("group-without-nfs", "group_without_nfs", None, "does not let NFS (TCP 2049) in from itself"),
    # What reaches the boot script, run as root on the instance: refused before any AWS call at all.
    ("image-shell", dict(services_n8n_image="n8nio/n8n:1.123.48\nEOF\ntouch /tmp/owned"), None,
     "services_n8n_image is not an image reference"),
    ("compose-version-shell", dict(services_compose_version='v2.40.3"; reboot; "'), None,
     "services_compose_version is not a docker compose release"),
    ("compose-sha-shell", dict(services_compose_sha256={"x86_64": "$(reboot)", "aarch64": "0" * 64}), None,
     "services_compose_sha256.x86_64 is not a SHA-256"),
    ("owner-email", dict(services_n8n_owner_email="owner@localhost"), None,
     "services_n8n_owner_email is not an email address"),
]
BOOT_SCRIPT_INPUTS = ("image-shell", "compose-version-shell", "compose-sha-shell", "owner-email")


# The account's answers the emulator cannot give (Service Quotas is missing; offerings are always there).
QUOTA_ZERO = json.dumps({"Quota": {"ServiceCode": "ec2", "QuotaCode": "L-34B43A08", "Value": 0.0}})
NO_OFFERINGS = ('<DescribeInstanceTypeOfferingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
                '<instanceTypeOfferingSet/></DescribeInstanceTypeOfferingsResponse>')
ACCOUNT_ANSWERS = {
    "quota_zero": Rule("GetServiceQuota", respond=(200, QUOTA_ZERO, {"Content-Type": "application/x-amz-json-1.1"})),
    "type_not_offered": Rule("DescribeInstanceTypeOfferings", respond=(200, NO_OFFERINGS, {"Content-Type": "text/xml"})),
}


def image_case(aws, kind):
    """An arm64 image for the x86_64 t3.medium, or a root volume below the image's snapshot."""
    images = aws.ec2.describe_images(Owners=["amazon"])["Images"]
    if kind == "arm64_image":
        return dict(ami_id=sorted(i["ImageId"] for i in images if i["Architecture"] == "arm64")[0])
    ami_id = aws.ami_id()
    image = next(i for i in images if i["ImageId"] == ami_id)
    snapshot = next(m["Ebs"]["VolumeSize"] for m in image["BlockDeviceMappings"] if m["DeviceName"] == image["RootDeviceName"])
    assert snapshot > 8
    return dict(root_volume_size=snapshot - 1)


def network_case(aws, kind):
    """Reuse vars for a user network that preflight must refuse."""
    ec2 = aws.ec2
    network = UserNetwork(ec2, "10.79")
    if kind == "no_dns":
        ec2.modify_vpc_attribute(VpcId=network.vpc_id, EnableDnsHostnames={"Value": False})
        return dict(vpc_id=network.vpc_id, subnet_ids=network.subnet_ids)
    if kind == "group_without_nfs":
        group = ec2.create_security_group(GroupName="users", Description="the user's", VpcId=network.vpc_id)["GroupId"]
        return dict(vpc_id=network.vpc_id, subnet_ids=network.subnet_ids, security_group_id=group)
    if kind == "no_public_ip":
        ec2.modify_subnet_attribute(SubnetId=network.subnet_ids[1], MapPublicIpOnLaunch={"Value": False})
        return dict(vpc_id=network.vpc_id, subnet_ids=network.subnet_ids)
    if kind == "not_in_vpc":
        other = UserNetwork(ec2, "10.80")
        return dict(vpc_id=network.vpc_id, subnet_ids=[network.subnet_ids[0], other.subnet_ids[1]])
    if kind == "not_public":
        ec2.delete_route(RouteTableId=network.table_id, DestinationCidrBlock="0.0.0.0/0")
        return dict(vpc_id=network.vpc_id, subnet_ids=network.subnet_ids)
    zone = ec2.describe_subnets(SubnetIds=network.subnet_ids[:1])["Subnets"][0]["AvailabilityZone"]
    extra = ec2.create_subnet(VpcId=network.vpc_id, CidrBlock="10.79.9.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
    ec2.associate_route_table(RouteTableId=network.table_id, SubnetId=extra)
    return dict(vpc_id=network.vpc_id, subnet_ids=[network.subnet_ids[0], extra])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(aws, proxy, playbook, deploy_vars, state_dir, tmp_path, case):
    name, extra, env_changes, expected = case
    os.makedirs(state_dir, exist_ok=True)
    recorded_path = os.path.join(state_dir, "ok-name.json")
    with open(recorded_path, "w") as handle:
        json.dump(RECORDED, handle)
    os.chmod(recorded_path, 0o600)
    recorded = open(recorded_path, "rb").read()
    variables = dict(deploy_vars, stack_name="ok-name")
    if extra == "state_dir_is_a_file":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        variables["state_dir"] = str(blocker / "stacks")
    elif extra in ("arm64_image", "small_root"):
        variables.update(image_case(aws, extra))
    elif extra == "no_boundary":  # an account whose administrator has not created the roles' boundary yet
        aws.iam.delete_policy(PolicyArn="arn:aws:iam::123456789012:policy/geusemaker/geusemaker-instance-boundary")
    elif isinstance(extra, dict):
        variables.update(extra)
    elif extra not in ACCOUNT_ANSWERS:
        variables.update(network_case(aws, extra))
    if "stack_name" not in extra and name == "name-missing":
        del variables["stack_name"]
    before = aws.stack_resources("ok-name")
    proxy.clear()
    if isinstance(extra, str) and extra in ACCOUNT_ANSWERS:
        proxy.add(ACCOUNT_ANSWERS[extra])
    run = playbook("deploy", env_changes=env_changes, **variables)
    assert run.rc != 0
    assert expected in run.output, run.output[-2500:]
    assert proxy.operations(mutating_only=True) == []
    if name in BOOT_SCRIPT_INPUTS:
        assert proxy.operations() == []
    assert aws.stack_resources("ok-name") == before
    assert open(recorded_path, "rb").read() == recorded


def test_corrupt_state_is_kept_aside_and_reported(aws, proxy, playbook, deploy_vars, state_dir):
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, "broken.json")
    with open(path, "w") as handle:
        handle.write('{"schema_version": 1, "stack_name": "broken", "resources": [{"type": "vpc", "id": "vpc-0')
    run = playbook("deploy", stack_name="broken", **deploy_vars)
    assert run.rc != 0
    assert proxy.operations(mutating_only=True) == []
    aside = [n for n in os.listdir(state_dir) if n.startswith("broken.json.corrupt-")]
    assert len(aside) == 1 and aside[0] in run.output and "is corrupt" in run.output
    assert open(os.path.join(state_dir, aside[0])).read().endswith('"vpc-0')
    assert not os.path.exists(path)
