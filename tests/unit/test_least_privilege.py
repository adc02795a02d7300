"""Issue 11: what the instance role can do, read from every statement it gets (inline and attached managed
policies, AWS's own loaded by the emulator), and the file system policy read back from the emulator.

Issue 18: the same role checked as AWS authorizes it, with the authorization check of the test world, against the
calls its boot script makes, within the permissions boundary docs/iam/instance-boundary.json."""

import fnmatch
import json
import os
import re

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system, iam_role, ssm_parameter
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG, TLS_KEY_TAG
from tests.support.authz.calls import Request, Target
from tests.support.authz.check import Principal, decisions, load_policy
from tests.support.authz.reference import Reference

ACCOUNT = "123456789012"
PARAMETERS = "arn:aws:ssm:us-east-1:{0}:parameter/geusemaker/unit".format(ACCOUNT)
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@pytest.fixture(autouse=True)
def managed_policies(aws, monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements_of_role(iam, role_name):
    """Every Allow statement the role gets, from its inline policies and its attached managed policies."""
    found = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        found += iam_role.as_document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])["Statement"]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        found += iam_role.as_document(version["Document"])["Statement"]
    return [s for s in found if s.get("Effect") == "Allow"]


def grants(statement, action):
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement.get("Action", [])))


def violations(statements, file_system_arn):
    """What the role may do beyond its stack: read other parameters, decrypt outside SSM, mount other file systems."""
    found = []
    for statement in statements:
        resources = as_list(statement.get("Resource", []))
        for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
            if grants(statement, action):
                found += ["{0} on {1}".format(action, r) for r in resources if not (r == PARAMETERS or r.startswith(PARAMETERS + "/"))]
        if grants(statement, "kms:Decrypt"):
            via = (statement.get("Condition") or {}).get("StringEquals", {}).get("kms:ViaService")
            if via != "ssm.us-east-1.amazonaws.com":
                found.append("kms:Decrypt without kms:ViaService ssm ({0})".format(statement.get("Condition")))
        for action in file_system.CLIENT_ACTIONS:
            if grants(statement, action):
                found += ["{0} on {1}".format(action, r) for r in resources if r != file_system_arn]
    return found


@pytest.fixture
def role(make_stack):
    stack = make_stack()
    stack.account_id = ACCOUNT
    file_system_id, file_system_arn = file_system.ensure(stack, timeout=0)
    name, arn = iam_role.ensure(stack, file_system_arn)
    return stack, name, arn, file_system_id, file_system_arn


def test_the_role_reads_only_its_parameters_decrypts_only_through_ssm_and_mounts_only_its_file_system(role):
    stack, name, _arn, _fs, file_system_arn = role
    statements = statements_of_role(stack.clients.iam, name)
    assert statements and violations(statements, file_system_arn) == []
    assert stack.clients.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    # Session Manager still works: its actions are written out.
    assert any(grants(s, "ssmmessages:OpenDataChannel") and grants(s, "ssm:UpdateInstanceInformation") for s in statements)


def test_the_check_catches_what_a_managed_policy_would_add(role):
    stack, name, _arn, _fs, file_system_arn = role
    stack.clients.iam.attach_role_policy(RoleName=name, PolicyArn=SSM_CORE)
    found = violations(statements_of_role(stack.clients.iam, name), file_system_arn)
    assert any(v.startswith("ssm:GetParameter on *") for v in found), found


def test_the_file_system_admits_only_the_role_with_tls(role):
    stack, _name, role_arn, file_system_id, file_system_arn = role
    assert file_system.ensure_client_policy(stack, file_system_id, file_system_arn, role_arn)
    policy = json.loads(stack.clients.efs.describe_file_system_policy(FileSystemId=file_system_id)["Policy"])
    deny, allow = policy["Statement"]
    assert (deny["Effect"], deny["Action"], deny["Condition"]) == ("Deny", "*", {"Bool": {"aws:SecureTransport": "false"}})
    assert deny["Resource"] == allow["Resource"] == file_system_arn
    assert (allow["Effect"], allow["Principal"]) == ("Allow", {"AWS": role_arn})
    assert sorted(allow["Action"]) == sorted(file_system.CLIENT_ACTIONS)
    assert allow["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}
    # A second run changes nothing; another role is a change.
    assert not file_system.ensure_client_policy(stack, file_system_id, file_system_arn, role_arn)
    assert file_system.ensure_client_policy(stack, file_system_id, file_system_arn, role_arn + "-other")


# --- the instance role checked as AWS authorizes it (tests/support/authz) -----------------------------------------

TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles", "services",
                        "templates", "user_data.sh.j2")
INSTANCE = "arn:aws:ec2:us-east-1:{0}:instance/i-0123456789abcdef0".format(ACCOUNT)
KEY = "arn:aws:kms:us-east-1:{0}:key/0123abcd-aws-ssm".format(ACCOUNT)


def boot_secret_names():
    """The parameters the boot script reads (its `secret VAR NAME` lines)."""
    with open(TEMPLATE) as handle:
        return re.findall(r"^secret \w+ (\w+)$", handle.read(), re.M)


def boot_requests(stack_name, file_system_arn, from_instance=True, secure=True):
    """What the boot script asks of IAM with the instance's credentials: each secret from SSM (decrypted by KMS on
    SSM's behalf), the file system mounted with tls,iam as root through a mount target, Session Manager."""
    keys = {"ec2:SourceInstanceARN": INSTANCE} if from_instance else {}
    requests = []
    for name in boot_secret_names():
        parameter = "arn:aws:ssm:us-east-1:{0}:parameter/geusemaker/{1}/{2}".format(ACCOUNT, stack_name, name)
        requests.append(Request("ssm:GetParameter", [Target("parameter", parameter)], dict(keys), "#1 boot"))
        requests.append(Request("kms:Decrypt", [Target("key", KEY)], dict(keys, **{
            "kms:ViaService": "ssm.us-east-1.amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN": parameter}),
            "#2 boot", "ssm:GetParameter"))
    with open(TEMPLATE) as handle:
        assert "mount -t efs -o tls,iam" in handle.read()  # IAM authorization, over TLS, as root
    for action in ("ClientMount", "ClientWrite", "ClientRootAccess"):
        requests.append(Request("elasticfilesystem:" + action, [Target("file-system", file_system_arn)], dict(keys, **{
            "elasticfilesystem:AccessedViaMountTarget": "true", "aws:SecureTransport": "true" if secure else "false"}),
            "#3 mount"))
    for action in iam_role.SESSION_MANAGER_ACTIONS:
        requests.append(Request(action, [Target("", "*")], dict(keys), "#4 session manager"))
    with open(TEMPLATE) as handle:
        assert 'aws ec2 create-tags --region "$REGION" --resources "$iid" --tags "Key=geusemaker:tls-spki-sha256,' in handle.read()
    requests.append(Request("ec2:CreateTags", [Target("instance", INSTANCE, request_tags={TLS_KEY_TAG: "ab" * 32},
                                                      resource_tags={STACK_TAG: stack_name})], dict(keys), "#5 publish key"))
    return requests


def instance_principal(stack, role_name, role_arn, file_system_arn):
    from tests.support.authz.principals import BOUNDARY_POLICY

    identity = [load_policy(document, name) for name, document in (
        (n, iam_role.as_document(stack.clients.iam.get_role_policy(RoleName=role_name, PolicyName=n)["PolicyDocument"]))
        for n in stack.clients.iam.list_role_policies(RoleName=role_name)["PolicyNames"])]
    file_system_policy = json.loads(stack.clients.efs.describe_file_system_policy(
        FileSystemId=file_system_arn.rsplit("/", 1)[1])["Policy"])
    boundary = [load_policy(BOUNDARY_POLICY, "instance-boundary")]
    policy = load_policy(file_system_policy, "file-system", resource_policy=True)
    return Principal("instance", identity, role_arn, ACCOUNT, boundary=boundary, resource_policies={file_system_arn: [policy]})


def refused(requests, principal):
    reference = Reference()
    return [r.label + " " + r.action + " " + t.arn for r in requests
            for t, d in decisions(r, principal, reference) if not d.allowed]


def test_the_instance_role_may_make_every_call_of_the_boot_script_and_no_other_stacks(role):
    stack, name, arn, file_system_id, file_system_arn = role
    assert file_system.ensure_client_policy(stack, file_system_id, file_system_arn, arn)
    assert boot_secret_names() == list(ssm_parameter.SECRETS)
    principal = instance_principal(stack, name, arn, file_system_arn)
    assert refused(boot_requests("unit", file_system_arn), principal) == []
    # Another stack's parameter, another file system: every one refused.
    other = "arn:aws:elasticfilesystem:us-east-1:{0}:file-system/fs-0fedcba9876543210".format(ACCOUNT)
    foreign = [r for r in boot_requests("other-stack", other) if r.action != "kms:Decrypt" and r.label != "#4 session manager"]
    assert len(refused(foreign, principal)) == len(foreign)
    decrypt_other = [r for r in boot_requests("other-stack", file_system_arn) if r.action == "kms:Decrypt"]
    assert len(refused(decrypt_other, principal)) == len(decrypt_other)
    # The one tag it may write, on its stack's instances: no other tag (its ownership mark least of all), nowhere else.
    [publish] = [r for r in boot_requests("unit", file_system_arn) if r.action == "ec2:CreateTags"]
    for tags in ({STACK_TAG: "unit"}, {TLS_KEY_TAG: "ab" * 32, "Name": "x"}):
        publish.targets[0].request_tags = tags
        assert len(refused([publish], principal)) == 1, tags


def test_the_boundary_keeps_the_role_useless_outside_an_instance_and_the_file_system_refuses_plain_nfs(role):
    stack, name, arn, file_system_id, file_system_arn = role
    file_system.ensure_client_policy(stack, file_system_id, file_system_arn, arn)
    principal = instance_principal(stack, name, arn, file_system_arn)
    # The role's credentials used anywhere but on an EC2 instance (a trust the deployer was tricked into): nothing.
    outside = boot_requests("unit", file_system_arn, from_instance=False)
    assert len(refused(outside, principal)) == len([r for r in outside if not r.action.startswith("elasticfilesystem:")])
    # EFS's own policy still admits the role through a mount target; the identity side is what the boundary cuts.
    mounts = [r for r in outside if r.action.startswith("elasticfilesystem:")]
    without_policy = Principal("instance", principal.identity, arn, ACCOUNT, boundary=principal.boundary)
    assert len(refused(mounts, without_policy)) == len(mounts)
    # Without TLS the file system's policy denies, whoever asks.
    plain = [r for r in boot_requests("unit", file_system_arn, secure=False) if r.action.startswith("elasticfilesystem:")]
    assert len(refused(plain, principal)) == len(plain)
    # KMS only through SSM.
    direct = [r for r in boot_requests("unit", file_system_arn) if r.action == "kms:Decrypt"]
    for request in direct:
        del request.keys["kms:ViaService"]
    assert len(refused(direct, principal)) == len(direct)
