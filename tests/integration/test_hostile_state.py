"""The state is advice; AWS's marks are the truth (issue 20). A state document names whatever its writer wants:
destroy deletes none of what does not carry the stack's own marks."""

import json
import os

from tests.integration.conftest import REGION, load_state
from tests.support.health_stub import connect_to, spki_sha256, start_stub

HOME_ACCOUNT = "123456789012"


def marks(stack_name, resource_type, key):
    tags = {"Name": "{0}-{1}".format(stack_name, key), "geusemaker:stack": stack_name, "geusemaker:key": key}
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def test_a_state_naming_another_stacks_resources_deletes_none_of_them(aws, proxy, playbook, state_dir):
    # Another stack's VPC, role and secret, named in a state document as this stack's own.
    vpc = aws.ec2.create_vpc(CidrBlock="10.91.0.0/16", TagSpecifications=marks("victim", "vpc", "vpc"))["Vpc"]["VpcId"]
    role = "geusemaker-victim-{0}".format(REGION)
    aws.iam.create_role(RoleName=role, Path="/geusemaker/", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    secret = "/geusemaker/victim/db_password"
    aws.ssm.put_parameter(Name=secret, Value="victims-own", Type="SecureString")
    foreign = [("vpc", vpc), ("iam_role", role), ("ssm_parameter", secret)]
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, "thief.json")
    with open(path, "w") as handle:
        json.dump({
            "schema_version": 2, "stack_name": "thief", "region": REGION, "account_id": HOME_ACCOUNT, "partition": "aws",
            "status": "deployed", "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
            "resources": [{"type": t, "id": i, "provenance": "created", "status": "present", "region": REGION}
                          for t, i in foreign],
            "events": [], "failure": None,
        }, handle)
    os.chmod(path, 0o600)
    proxy.clear()
    run = playbook("destroy", stack_name="thief")
    assert run.rc != 0
    assert aws.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert aws.iam.get_role(RoleName=role)["Role"]["RoleName"] == role
    assert aws.ssm.get_parameter(Name=secret)["Parameter"]["Name"] == secret
    mutated = [c.operation for c in proxy.calls if c.operation.startswith(("Delete", "Detach", "Remove", "Terminate"))]
    assert mutated == []
    state = load_state(state_dir, "thief")
    assert {(r["type"], r["id"]): r["status"] for r in state["resources"]} == {key: "not_owned" for key in foreign}
    refusals = {(e["type"], e["id"]) for e in state["events"] if e.get("outcome") == "refused" and e.get("error_code") == "NotOwned"}
    assert refusals == set(foreign)
    assert "victims-own" not in run.output
    assert "not the stack's, so left untouched (was the state altered?)" in run.output
    report = open(os.path.join(state_dir, "thief.recovery.md")).read()
    assert "delete-role" not in report and "delete-vpc" not in report and "delete-parameter" not in report


def credentials_sent(seen):
    return [r["path"] for r in seen if {k.lower() for k in r["headers"]} & {"authorization", "api-key"}]


def test_no_credential_reaches_a_server_that_is_not_the_stacks_instance(aws, playbook, deploy_vars, state_dir):
    """The credentials go only over a connection that presents the key the stack's instance published: not to an
    impostor at the address the probes go to, not to a plain URL, and not to another stack's instance that a state
    document names as its own."""
    run = playbook("deploy", stack_name="honest", **deploy_vars)
    assert run.rc == 0, run.output[-3000:]
    [instance_id] = aws.stack_resources("honest")["instance"]
    [item] = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    assert {t["Key"]: t["Value"] for t in item["Tags"]}["geusemaker:tls-spki-sha256"] == spki_sha256("instance")

    impostor, stop = start_stub("healthy", key="impostor", publish=False)
    try:
        checked = playbook("check", stack_name="honest", health_check_connect_to=connect_to(impostor), health_check_timeout=2)
    finally:
        stop()
    assert checked.rc == 0 and load_state(state_dir, "honest")["status"] == "degraded", checked.output[-3000:]
    assert "presented the key {0}, not the instance's".format(spki_sha256("impostor")) in checked.output
    assert stop.seen == []  # the handshake ended before any request

    plain, stop = start_stub("healthy", publish=False)
    try:
        checked = playbook("check", stack_name="honest", health_check_url=plain, health_check_timeout=2)
    finally:
        stop()
    assert checked.rc == 0, checked.output[-3000:]
    assert stop.seen and credentials_sent(stop.seen) == []

    # A state document of another stack that names honest's instance: nothing is probed, nothing is sent.
    with open(os.path.join(state_dir, "honest.json")) as handle:
        stolen = json.load(handle)
    stolen.update(stack_name="thief", resources=[r for r in stolen["resources"] if r["type"] == "instance"], events=[])
    path = os.path.join(state_dir, "thief.json")
    with open(path, "w") as handle:
        json.dump(stolen, handle)
    os.chmod(path, 0o600)
    aws.ssm.put_parameter(Name="/geusemaker/thief/proxy_password", Value="thief-proxy-password-0123456789", Type="SecureString")
    aws.ssm.put_parameter(Name="/geusemaker/thief/qdrant_api_key", Value="thief-qdrant-key-0123456789abcd", Type="SecureString")
    stub, stop = start_stub("healthy", publish=False)
    try:
        refused = playbook("check", stack_name="thief", health_check_connect_to=connect_to(stub), health_check_timeout=2)
    finally:
        stop()
    assert refused.rc != 0 and "is not stack thief's (its geusemaker:stack tag says 'honest')" in refused.output, refused.output[-3000:]
    assert stop.seen == []
    destroyed = playbook("destroy", stack_name="honest")
    assert destroyed.rc == 0, destroyed.output[-3000:]
