"""Issue 11: what the instance role can do, read from every statement it gets (inline and attached managed
policies, AWS's own loaded by the emulator), and the file system policy read back from the emulator."""

import fnmatch
import json

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system, iam_role

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
