"""Issue 18: every AWS call the collection makes, checked against AWS's authorization rules.

The emulator grants every call. Here the fault proxy records each one (tests/support/authz), with what the
emulator held of the resources it names at that moment, and the check evaluates it against
docs/iam/deployer-policy.json as AWS would: the action, each resource type it authorizes with its ARN, request
tags, resource tags and condition keys, and the actions it needs in turn. Then the same calls made against what is
not the stack's must be refused.

The runs: a spot stack's whole life (check mode, deploy, a no-change re-run, a re-run that converges a tampered
instance and role, list, check, stop, start, destroy keeping data, the deploy that adopts it, destroy); a rollback
in a user's VPC after every launch was refused; and the AWX path (ansible-runner, S3 state, AWX's credential variables, on-demand).

What each run asks of IAM is kept in tests/integration/authz_calls/<run>.json: reviewable, and what the fast
mutation check of the policy (tests/unit/test_deployer_policy.py) evaluates. A change in the calls fails here until
it is re-recorded: GEUSEMAKER_RERECORD=1.
"""

import json
import os

import boto3
import pytest

from tests.integration.conftest import REGION, UserNetwork, load_state
from tests.support.health_stub import connect_to
from tests.integration.test_awx import BUCKET, PREFIX, runner_job, survey
from tests.support.authz.calls import Recorder
from tests.support.authz.check import check
from tests.support.authz.principals import BOUNDARY_ARN, deployer, load_calls, normalized, save_calls
from tests.support.authz.reference import Reference
from tests.support.fault_proxy import Rule
from tests.support.spot import SpotRequests

pytestmark = pytest.mark.timeout(1500)


@pytest.fixture
def recorder(aws, proxy):
    spot = SpotRequests(proxy)
    found = Recorder(Reference(), aws.endpoint, spot=spot)
    proxy.observers.append(found)
    return found


def assert_authorized(recorder, name, **principal):
    assert recorder.errors == [], recorder.errors
    assert recorder.requests, "nothing was recorded"
    calls = normalized(recorder.requests)
    if os.environ.get("GEUSEMAKER_RERECORD"):
        save_calls(name, calls)
    failures = check(recorder.requests, deployer(**principal), boundary_arn=BOUNDARY_ARN)
    assert failures == [], "{0}: {1} authorization failure(s):\n\n{2}".format(name, len(failures), "\n\n".join(failures))
    assert calls == load_calls(name), (
        "the calls of the {0} run changed; review them and re-record with GEUSEMAKER_RERECORD=1".format(name))


def tamper(aws, stack):
    """What an older deploy, or a person, left, for the next deploy to converge: IMDS open to two hops, a managed
    policy on the role, the default route sent elsewhere, a subnet moved to someone else's route table, an extra
    rule in the group. Returns that other route table (the person's own, left to them)."""
    held = aws.stack_resources(stack)
    [instance_id] = held["instance"]
    aws.ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpPutResponseHopLimit=2)
    aws.iam.attach_role_policy(RoleName=ROLE.format(stack), PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    [table_id] = held["route_table"]
    [instance] = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    aws.ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0",
                          NetworkInterfaceId=instance["NetworkInterfaces"][0]["NetworkInterfaceId"])
    other = aws.ec2.create_route_table(VpcId=held["vpc"][0])["RouteTable"]["RouteTableId"]
    [table] = aws.ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"]
    association = next(a["RouteTableAssociationId"] for a in table["Associations"] if a.get("SubnetId"))
    aws.ec2.replace_route_table_association(AssociationId=association, RouteTableId=other)
    [group_id] = held["security_group"]
    aws.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}])
    return other


def converged(aws, stack, other):
    """The deploy after tamper() put every one of the stack's things back, and left the person's table alone."""
    held = aws.stack_resources(stack)
    [instance] = aws.ec2.describe_instances(InstanceIds=held["instance"])["Reservations"][0]["Instances"]
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert aws.iam.list_attached_role_policies(RoleName=ROLE.format(stack))["AttachedPolicies"] == []
    [table] = aws.ec2.describe_route_tables(RouteTableIds=held["route_table"])["RouteTables"]
    assert [r.get("GatewayId") for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"] == held[
        "internet_gateway"]
    assert sorted(a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")) == held["subnet"]
    [group] = aws.ec2.describe_security_groups(GroupIds=held["security_group"])["SecurityGroups"]
    assert 8080 not in [p.get("FromPort") for p in group["IpPermissions"]]
    aws.ec2.delete_route_table(RouteTableId=other)  # the person's own, which the stack never touches


ROLE = "geusemaker-{0}-" + REGION


def test_a_spot_stacks_whole_life_is_authorized(aws, recorder, playbook, deploy_vars, healthy_url):
    stack = "authz-spot"
    aws.ec2.create_key_pair(KeyName="authz-key")
    deploy_vars = dict(deploy_vars, key_name="authz-key")
    steps = [
        ("deploy", ("--check",), deploy_vars),
        ("deploy", (), deploy_vars),
        ("deploy", (), deploy_vars),
        ("tamper", (), None),
        ("deploy", (), deploy_vars),
        ("converged", (), None),
        ("list", (), {}),
        ("check", (), dict(health_check_connect_to=connect_to(healthy_url), health_check_timeout=10)),
        ("stop", (), {}),
        ("start", (), dict(health_check_connect_to=connect_to(healthy_url), health_check_timeout=20)),
        ("destroy", (), dict(keep_data=True)),
        ("deploy", (), deploy_vars),
        ("destroy", (), {}),
    ]
    other = None
    for name, options, extra in steps:
        if name == "tamper":
            other = tamper(aws, stack)
            continue
        if name == "converged":
            converged(aws, stack, other)
            continue
        run = playbook(name, *options, stack_name=stack, **extra)
        assert run.rc == 0, (name, run.output[-3000:])
        if options == ("--check",):  # a dry run prints how to check the deployer policy on the account
            assert "aws iam simulate-principal-policy --policy-source-arn" in run.output, run.output[-3000:]
    assert aws.stack_resources(stack) == {}
    operations = {r.action for r in recorder.requests}
    assert {"ec2:CancelSpotInstanceRequests", "ec2:ModifyInstanceMetadataOptions", "iam:DetachRolePolicy",
            "ec2:StopInstances", "ec2:StartInstances", "elasticfilesystem:DeleteMountTarget", "ec2:ReplaceRoute",
            "ec2:ReplaceRouteTableAssociation", "ec2:RevokeSecurityGroupIngress", "ec2:DescribeKeyPairs"} <= operations
    assert_authorized(recorder, "spot")


def test_a_rollback_in_a_users_network_after_every_launch_was_refused_is_authorized(
        aws, proxy, recorder, playbook, deploy_vars, state_dir):
    """A stack in a VPC the user brings, on AWS's current Deep Learning image (the public SSM parameter, which the
    emulator lacks and the proxy answers as AWS does), whose every launch is refused: it rolls back, leaving the
    user's network as it was."""
    stack = "authz-refused"
    network = UserNetwork(aws.ec2, "10.77")
    before = network.snapshot()
    image = deploy_vars.pop("ami_id")
    parameter = {"Parameter": {"Name": "/aws/service/deeplearning/...", "Type": "String", "Value": image, "Version": 1}}
    proxy.add(Rule("GetParameter", body_contains="/aws/service/deeplearning/",
                   respond=(200, json.dumps(parameter), {"Content-Type": "application/x-amz-json-1.1"})))
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", status=500))
    run = playbook("deploy", stack_name=stack, vpc_id=network.vpc_id, subnet_ids=network.subnet_ids, **deploy_vars)
    assert run.rc != 0 and aws.stack_resources(stack) == {}, run.output[-3000:]
    assert load_state(state_dir, stack)["status"] == "rolled_back"
    assert network.snapshot() == before
    launches = [r for r in recorder.requests if r.action == "ec2:RunInstances"]
    assert {t.keys.get("ec2:InstanceMarketType") for r in launches for t in r.targets} >= {"spot", "on-demand"}
    assert any(r.action == "ssm:GetParameter" for r in recorder.requests)
    assert_authorized(recorder, "refused")


def test_the_awx_path_is_authorized(aws, proxy, recorder, deploy_vars, tmp_path, monkeypatch):
    stack = "authz-awx"
    boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint).create_bucket(Bucket=BUCKET)
    job_vars = dict(deploy_vars, use_spot="false", health_check_timeout="20")
    for playbook_name, extra in (("deploy.yml", job_vars), ("destroy.yml", {})):
        runner, out, _artifact = runner_job(tmp_path, monkeypatch, proxy.url, playbook_name, survey(stack, **extra),
                                            "AWS_SESSION_TOKEN", name=playbook_name)
        assert runner.status == "successful", out[-3000:]
    assert aws.stack_resources(stack) == {}
    assert any(r.action == "s3:PutObject" for r in recorder.requests)
    assert_authorized(recorder, "awx", state_bucket=BUCKET, state_prefix=PREFIX)
