"""Issue 2 acceptance: real ansible-playbook runs against the emulator, asserting on what it holds."""

import base64
import gzip
import json
import os
import stat
import subprocess

from tests.integration.conftest import UserNetwork, load_state
from tests.support import consistency

ALL_TYPES = {
    "vpc", "subnet", "internet_gateway", "route_table", "security_group", "file_system", "mount_target",
    "ssm_parameter", "iam_role", "instance_profile", "instance", "volume",
}


def user_data_of(aws, instance_id):
    encoded = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    return gzip.decompress(base64.b64decode(encoded)).decode("utf-8")


def assert_wiring(aws, held):
    ec2 = aws.ec2
    vpc_id = held["vpc"][0]
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"]
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    subnets = ec2.describe_subnets(SubnetIds=held["subnet"])["Subnets"]
    assert len(subnets) == 2 and {s["VpcId"] for s in subnets} == {vpc_id}
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    igw = ec2.describe_internet_gateways(InternetGatewayIds=held["internet_gateway"])["InternetGateways"][0]
    assert [a["VpcId"] for a in igw["Attachments"]] == [vpc_id]
    table = ec2.describe_route_tables(RouteTableIds=held["route_table"])["RouteTables"][0]
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == igw["InternetGatewayId"] for r in table["Routes"])
    assert sorted(a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")) == held["subnet"]
    group = ec2.describe_security_groups(GroupIds=held["security_group"])["SecurityGroups"][0]
    rules = sorted(
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), tuple(r["CidrIp"] for r in p.get("IpRanges", [])),
         tuple(g["GroupId"] for g in p.get("UserIdGroupPairs", [])))
        for p in group["IpPermissions"]
    )
    assert rules == [("tcp", 443, 443, ("203.0.113.0/24",), ()), ("tcp", 2049, 2049, (), (group["GroupId"],))]
    mount_targets = aws.efs.describe_mount_targets(FileSystemId=held["file_system"][0])["MountTargets"]
    assert sorted(m["SubnetId"] for m in mount_targets) == held["subnet"]
    for mount_target in mount_targets:
        groups = aws.efs.describe_mount_target_security_groups(MountTargetId=mount_target["MountTargetId"])["SecurityGroups"]
        assert groups == [group["GroupId"]]
    assert aws.efs.describe_file_systems(FileSystemId=held["file_system"][0])["FileSystems"][0]["Encrypted"]
    instance = ec2.describe_instances(InstanceIds=held["instance"])["Reservations"][0]["Instances"][0]
    assert instance["SubnetId"] in held["subnet"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group["GroupId"]]
    assert instance["IamInstanceProfile"]["Arn"].endswith("/geusemaker/" + held["instance_profile"][0])
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    role = aws.iam.get_role(RoleName=held["iam_role"][0])["Role"]
    assert aws.iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    policy = json.loads(aws.efs.describe_file_system_policy(FileSystemId=held["file_system"][0])["Policy"])
    assert [s["Principal"] for s in policy["Statement"]] == [{"AWS": "*"}, {"AWS": role["Arn"]}]


def assert_user_data(aws, instance_id, secrets, tmp_path):
    script = user_data_of(aws, instance_id)
    path = tmp_path / "user_data.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True, check=False).returncode == 0
    for service in ("n8n", "ollama", "qdrant", "crawl4ai", "postgres"):
        assert service in script.lower()
    for value in secrets.values():
        assert value not in script


def test_deploy_rerun_adopt_destroy(aws, proxy, playbook, deploy_vars, state_dir, tmp_path):
    stack = "life"
    late = consistency.turned_on(proxy)  # AWS's late consistency (on by default, tests/support/consistency.py)
    first = playbook("deploy", stack_name=stack, tags={"team": "ai"}, **deploy_vars)
    assert first.rc == 0, first.output[-4000:]
    assert consistency.acted(late) == []
    held = aws.stack_resources(stack)
    assert set(held) == ALL_TYPES, held
    for resource_type, tags in aws.stack_tags(stack).items():
        assert tags["geusemaker:stack"] == stack and tags["team"] == "ai", (resource_type, tags)
    assert len(held["subnet"]) == 2 and len(held["mount_target"]) == 2 and len(held["instance"]) == 1
    assert_wiring(aws, held)
    secrets = aws.secrets(stack)
    assert set(secrets) == {"db_password", "n8n_encryption_key", "n8n_owner_password", "qdrant_api_key", "proxy_password"}
    assert_user_data(aws, held["instance"][0], secrets, tmp_path)
    assert "aws ssm get-parameters-by-path" in first.stdout and "/ollama/" in first.stdout

    # The state lists every created resource, and nothing else, as created; mode 0600.
    state_path = os.path.join(state_dir, stack + ".json")
    assert stat.S_IMODE(os.stat(state_path).st_mode) == 0o600
    state = load_state(state_dir, stack)
    assert state["status"] == "deployed"
    recorded = {}
    for entry in state["resources"]:
        assert entry["provenance"] == "created" and entry["status"] == "present", entry
        recorded.setdefault(entry["type"], []).append(entry["id"])
    assert {k: sorted(v) for k, v in recorded.items()} == held
    for value in secrets.values():
        assert value not in open(state_path).read() and value not in first.output

    # A re-run creates and changes nothing; the secrets keep their values. It runs seconds after the create, when
    # AWS's tag filters may not show the resources yet: the ledger's ids are read by id.
    hidden = consistency.late_tags(proxy)
    again = playbook("deploy", stack_name=stack, **deploy_vars)
    assert again.rc == 0, again.output[-4000:]
    assert consistency.acted(hidden) == []
    assert again.recap()["changed"] == 0, again.stdout[-6000:]
    assert aws.stack_resources(stack) == held
    assert aws.secrets(stack) == secrets

    # Without its ledger, the stack is adopted, not duplicated.
    os.remove(state_path)
    adopted = playbook("deploy", stack_name=stack, **deploy_vars)
    assert adopted.rc == 0, adopted.output[-4000:]
    assert aws.stack_resources(stack) == held
    state = load_state(state_dir, stack)
    assert {e["provenance"] for e in state["resources"]} == {"adopted"}
    assert {k: sorted(e["id"] for e in state["resources"] if e["type"] == k) for k in held} == held

    listed = playbook("list")
    assert listed.rc == 0 and stack in listed.stdout and "deployed" in listed.stdout
    # t3.medium on demand 0.0416, the 100 GiB gp3 data volume 100 * 0.08 / 730
    assert "USD/HOUR" in listed.stdout and " 0.053 " in listed.stdout, listed.stdout[-2000:]

    # destroy leaves nothing of the stack.
    destroyed = playbook("destroy", stack_name=stack)
    assert destroyed.rc == 0, destroyed.output[-4000:]
    assert aws.stack_resources(stack) == {}
    state = load_state(state_dir, stack)
    assert state["status"] == "destroyed"
    assert {e["status"] for e in state["resources"]} == {"deleted"}


def test_check_mode_creates_nothing(aws, playbook, deploy_vars, state_dir):
    run = playbook("deploy", "--check", stack_name="dry", **deploy_vars)
    assert run.rc == 0, run.output[-4000:]
    assert aws.stack_resources("dry") == {}
    assert not os.path.exists(os.path.join(state_dir, "dry.json"))
    for planned in ("vpc vpc", "file_system", "instance instance-0", "security_group"):
        assert planned in run.stdout, run.stdout[-4000:]
    assert "Estimated cost: about USD 0.042/hour for 1 x t3.medium on-demand" in run.stdout


def test_reused_vpc_is_recorded_and_untouched(aws, playbook, deploy_vars, state_dir):
    ec2 = aws.ec2
    network = UserNetwork(ec2, "10.77")
    group_id = ec2.create_security_group(GroupName="users-own", Description="the user's", VpcId=network.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "UserIdGroupPairs": [{"GroupId": group_id}]}])

    def snapshot():
        return network.snapshot(), ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]

    before = snapshot()
    run = playbook("deploy", stack_name="reuse", vpc_id=network.vpc_id, subnet_ids=network.subnet_ids,
                   security_group_id=group_id, **deploy_vars)
    assert run.rc == 0, run.output[-4000:]
    assert snapshot() == before
    held = aws.stack_resources("reuse")
    for network_type in ("vpc", "subnet", "internet_gateway", "route_table", "security_group"):
        assert network_type not in held
    state = load_state(state_dir, "reuse")
    reused = sorted((e["type"], e["id"]) for e in state["resources"] if e["provenance"] == "reused")
    assert reused == sorted([("vpc", network.vpc_id), ("security_group", group_id)] + [("subnet", s) for s in network.subnet_ids])
    instance = ec2.describe_instances(InstanceIds=held["instance"])["Reservations"][0]["Instances"][0]
    assert instance["SubnetId"] in network.subnet_ids
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group_id]

    destroyed = playbook("destroy", stack_name="reuse")
    assert destroyed.rc == 0, destroyed.output[-4000:]
    assert aws.stack_resources("reuse") == {}
    assert snapshot() == before


def test_failing_health_check_is_degraded_not_torn_down(aws, proxy, playbook, deploy_vars, state_dir):
    from tests.support.health_stub import connect_to, start_stub

    url, stop = start_stub("unhealthy")
    try:
        run = playbook("deploy", stack_name="sick", **dict(deploy_vars, health_check_connect_to=connect_to(url), health_check_timeout=3))
    finally:
        stop()
    assert run.rc == 0, run.output[-4000:]
    assert load_state(state_dir, "sick")["status"] == "degraded"
    assert set(aws.stack_resources("sick")) == ALL_TYPES
    assert "DEGRADED" in run.stdout
    state = load_state(state_dir, "sick")
    assert state["failure"]["error_code"] == "ServicesUnhealthy" and state["failure"]["critical"] is False
    report = open(os.path.join(state_dir, "sick.recovery.md")).read()
    assert "Continue with warning" in report and "status.json" in report
    assert "ansible-playbook playbooks/check.yml -e stack_name=sick" in report and "check.yml" in run.stdout

    # The re-check changes nothing in AWS and clears the degraded status once the services answer.
    proxy.clear()
    url, stop = start_stub("healthy")
    try:
        checked = playbook("check", stack_name="sick", health_check_connect_to=connect_to(url), health_check_timeout=10)
    finally:
        stop()
    assert checked.rc == 0, checked.output[-3000:]
    assert proxy.operations(mutating_only=True) == []
    state = load_state(state_dir, "sick")
    assert state["status"] == "deployed" and state["failure"] is None
