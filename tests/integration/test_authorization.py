"""Issue 18: every AWS call the collection makes, checked against AWS's authorization rules.

The emulator grants every call. Here the fault proxy records each one (tests/support/authz), with what the
emulator held of the resources it names at that moment, and the check evaluates it against
docs/iam/deployer-policy.json as AWS would: the action, each resource type it authorizes with its ARN, request
tags, resource tags and condition keys, and the actions it needs in turn. Then the same calls made against what is
not the stack's must be refused.

The runs: a spot stack's whole life (check mode, deploy, a no-change re-run, a re-run that converges a tampered
instance and role, list, check, stop, start, destroy keeping data, the deploy that adopts it, destroy); a rollback
after every launch was refused; and the AWX path (ansible-runner, S3 state, AWX's credential variables, on-demand).

What each run asks of IAM is kept in tests/integration/authz_calls/<run>.json: reviewable, and what the fast
mutation check of the policy (tests/unit/test_deployer_policy.py) evaluates. A change in the calls fails here until
it is re-recorded: GEUSEMAKER_RERECORD=1.
"""

import os

import boto3
import pytest

from tests.integration.conftest import REGION, assert_rolled_back
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
    """What an older deploy, or a person, left: IMDS open to two hops, and a managed policy on the role."""
    [instance_id] = aws.stack_resources(stack)["instance"]
    aws.ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpPutResponseHopLimit=2)
    role = "geusemaker-{0}-{1}".format(stack, REGION)
    aws.iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")


def test_a_spot_stacks_whole_life_is_authorized(aws, recorder, playbook, deploy_vars, healthy_url):
    stack = "authz-spot"
    steps = [
        ("deploy", ("--check",), deploy_vars),
        ("deploy", (), deploy_vars),
        ("deploy", (), deploy_vars),
        ("tamper", (), None),
        ("deploy", (), deploy_vars),
        ("list", (), {}),
        ("check", (), dict(health_check_url=healthy_url, health_check_timeout=10)),
        ("stop", (), {}),
        ("start", (), dict(health_check_url=healthy_url, health_check_timeout=20)),
        ("destroy", (), dict(keep_data=True)),
        ("deploy", (), deploy_vars),
        ("destroy", (), {}),
    ]
    for name, options, extra in steps:
        if extra is None:
            tamper(aws, stack)
            continue
        run = playbook(name, *options, stack_name=stack, **extra)
        assert run.rc == 0, (name, run.output[-3000:])
    assert aws.stack_resources(stack) == {}
    operations = {r.action for r in recorder.requests}
    assert {"ec2:CancelSpotInstanceRequests", "ec2:ModifyInstanceMetadataOptions", "iam:DetachRolePolicy",
            "ec2:StopInstances", "ec2:StartInstances", "elasticfilesystem:DeleteMountTarget"} <= operations
    assert_authorized(recorder, "spot")


def test_a_rollback_after_every_launch_was_refused_is_authorized(aws, proxy, recorder, playbook, deploy_vars, state_dir):
    stack = "authz-refused"
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", status=500))
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    assert_rolled_back(aws, state_dir, stack, run)
    launches = [r for r in recorder.requests if r.action == "ec2:RunInstances"]
    assert {t.keys.get("ec2:InstanceMarketType") for r in launches for t in r.targets} >= {"spot", "on-demand"}
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
