"""Issue 10: a stack acts only in the AWS account it is recorded in. Deployed in one account, it is refused by
destroy, deploy and check run with another account's credentials, naming both accounts, before any change in
either; list shows it without counting its resources. The emulator puts AssumeRole credentials in the role's
account (see /work/shared/aws-on-moto.md)."""

import json

import boto3

from tests.integration.conftest import REGION, load_state
from tests.support.health_stub import connect_to

HOME_ACCOUNT, OTHER_ACCOUNT = "123456789012", "111111111111"


def other_account(endpoint):
    credentials = boto3.client(
        "sts", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    ).assume_role(RoleArn="arn:aws:iam::{0}:role/deployer".format(OTHER_ACCOUNT), RoleSessionName="wrong-profile")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"]}


def vpcs_of_the_stack(endpoint, environment, stack_name):
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint, aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=environment["AWS_SESSION_TOKEN"])
    return ec2.describe_vpcs(Filters=[{"Name": "tag:geusemaker:stack", "Values": [stack_name]}])["Vpcs"]


def test_another_accounts_credentials_are_refused_and_change_nothing(aws, emulator, proxy, playbook, deploy_vars, state_dir,
                                                                     healthy_url):
    deployed = playbook("deploy", stack_name="pinned", **deploy_vars)
    assert deployed.rc == 0, deployed.output[-3000:]
    state = load_state(state_dir, "pinned")
    assert (state["account_id"], state["partition"], state["schema_version"]) == (HOME_ACCOUNT, "aws", 2)
    held = aws.stack_resources("pinned")
    recorded = open(state_dir + "/pinned.json").read()
    other = other_account(emulator)
    runs = {"destroy": {}, "deploy": deploy_vars, "check": dict(health_check_connect_to=connect_to(healthy_url), health_check_timeout=5)}
    for name, extra in runs.items():
        proxy.clear()
        run = playbook(name, stack_name="pinned", env_changes=other, **extra)
        assert run.rc != 0, (name, run.output[-3000:])
        assert "stack pinned is recorded in AWS account {0} (aws), but these credentials act in account {1}".format(
            HOME_ACCOUNT, OTHER_ACCOUNT) in run.output, (name, run.output[-3000:])
        assert proxy.operations(mutating_only=True) == [], name
        assert aws.stack_resources("pinned") == held, name
        assert open(state_dir + "/pinned.json").read() == recorded, name
        assert vpcs_of_the_stack(emulator, other, "pinned") == [], name

    proxy.clear()
    listed = playbook("list", env_changes=other)
    assert listed.rc == 0, listed.output[-3000:]
    line = next(line for line in listed.stdout.splitlines() if "pinned" in line and "deployed" in line)
    assert "recorded in AWS account {0}; these credentials act in {1}".format(HOME_ACCOUNT, OTHER_ACCOUNT) in line
    assert " ? " in line  # its resources are not counted as gone
    assert proxy.operations(mutating_only=True) == []

    destroyed = playbook("destroy", stack_name="pinned")
    assert destroyed.rc == 0 and aws.stack_resources("pinned") == {}, destroyed.output[-3000:]


def test_a_state_of_the_previous_schema_is_migrated_and_destroyed(aws, playbook, deploy_vars, state_dir):
    deployed = playbook("deploy", stack_name="older", **deploy_vars)
    assert deployed.rc == 0, deployed.output[-3000:]
    path = state_dir + "/older.json"
    document = json.load(open(path))
    for field in ("account_id", "partition"):
        del document[field]
    document["schema_version"] = 1
    json.dump(document, open(path, "w"))
    destroyed = playbook("destroy", stack_name="older")
    assert destroyed.rc == 0, destroyed.output[-3000:]
    assert aws.stack_resources("older") == {}
    state = load_state(state_dir, "older")
    assert (state["schema_version"], state["account_id"], state["status"]) == (2, HOME_ACCOUNT, "destroyed")
