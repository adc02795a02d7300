import json
import os

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils import iam_role
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import IAM_PATH, KEY_TAG, STACK_TAG
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import always, answer_in_turn, client_error, lose_responses, on_call


@pytest.fixture(autouse=True)
def managed_policies(aws, monkeypatch):
    """The role attaches AmazonSSMManagedInstanceCore, which the emulator has only with its managed policies."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


NAME = "geusemaker-unit-us-east-1"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
FS_ARN = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0"


def attached(iam):
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=NAME)["AttachedPolicies"]]


def inline(iam):
    return iam_role.as_document(iam.get_role_policy(RoleName=NAME, PolicyName=iam_role.INLINE_POLICY_NAME)["PolicyDocument"])


def foreign_role(iam, path=IAM_PATH, tags=None):
    iam.create_role(
        RoleName=NAME, Path=path, AssumeRolePolicyDocument=json.dumps(iam_role.ASSUME_ROLE_POLICY), Tags=tags or []
    )


def test_inline_policy_scopes():
    policy = iam_role.inline_policy("unit", "eu-west-1", FS_ARN, "123456789012")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert "arn:aws:ssm:eu-west-1:123456789012:parameter/geusemaker/unit/*" in statements["ReadStackParameters"]["Resource"]
    assert statements["DecryptStackParametersThroughSsm"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": "arn:aws:ssm:eu-west-1:123456789012:parameter/geusemaker/unit/*"}}
    assert statements["MountStackFileSystem"]["Resource"] == FS_ARN
    # Without its file system the role mounts nothing (no "*").
    assert "MountStackFileSystem" not in {s["Sid"] for s in iam_role.inline_policy("unit", "eu-west-1")["Statement"]}


def test_as_document_decodes_strings():
    assert iam_role.as_document({"a": 1}) == {"a": 1}
    assert iam_role.as_document('{"a": 1}') == {"a": 1}
    assert iam_role.as_document("%7B%22a%22%3A%201%7D") == {"a": 1}


def test_creates_tagged_role_with_policies_and_records_it(stack, store):
    name, arn = iam_role.ensure(stack, FS_ARN)
    assert name == NAME
    iam = stack.clients.iam
    role = iam.get_role(RoleName=NAME)["Role"]
    assert role["Arn"] == arn and role["Path"] == IAM_PATH
    tags = {t["Key"]: t["Value"] for t in role["Tags"]}
    assert tags[STACK_TAG] == "unit" and tags[KEY_TAG] == "role"
    assert iam_role.as_document(role["AssumeRolePolicyDocument"]) == iam_role.ASSUME_ROLE_POLICY
    assert attached(iam) == []
    assert inline(iam) == iam_role.inline_policy("unit", "us-east-1", FS_ARN, "123456789012")
    # Created only within the boundary the deployer policy insists on (docs/iam/instance-boundary.json).
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == (
        "arn:aws:iam::123456789012:policy/geusemaker/geusemaker-instance-boundary")
    saved = store.load("unit")
    assert [(r["type"], r["id"], r["provenance"], r["key"]) for r in saved["resources"]] == [("iam_role", NAME, "created", "role")]
    assert stack.changed


def test_a_role_of_the_stack_without_the_boundary_is_refused_with_the_administrators_fix(stack):
    foreign_role(stack.clients.iam, tags=[{"Key": STACK_TAG, "Value": "unit"}])
    with pytest.raises(StackFailure) as failure:
        iam_role.ensure(stack, FS_ARN)
    message = str(failure.value)
    assert "has the permissions boundary none" in message
    assert ("aws iam put-role-permissions-boundary --role-name {0} --permissions-boundary "
            "arn:aws:iam::123456789012:policy/geusemaker/geusemaker-instance-boundary".format(NAME)) in message
    assert failure.value.details["error_code"] == "PermissionsBoundaryMissing"
    # Nothing was written to a role the deployer may not bound.
    assert stack.clients.iam.list_role_policies(RoleName=NAME)["PolicyNames"] == []


def test_second_run_without_change(make_stack, store):
    first = iam_role.ensure(make_stack(), FS_ARN)
    again = make_stack()
    assert iam_role.ensure(again, FS_ARN) == first
    assert not again.changed
    assert store.load("unit")["resources"][0]["provenance"] == "created"


def test_lost_ledger_adopts(make_stack, store):
    iam_role.ensure(make_stack())
    os.remove(store.location("unit"))
    again = make_stack()
    iam_role.ensure(again)
    assert not again.changed
    assert store.load("unit")["resources"][0]["provenance"] == "adopted"


def test_converge_detaches_managed_policies_and_rewrites(make_stack):
    iam_role.ensure(make_stack(), FS_ARN)
    iam = make_stack().clients.iam
    iam.attach_role_policy(RoleName=NAME, PolicyArn=SSM_CORE)  # as an older deploy left it
    again = make_stack()
    iam_role.ensure(again, FS_ARN)
    assert again.changed
    assert attached(iam) == []
    # a different file system changes the inline policy
    other = make_stack()
    iam_role.ensure(other, None)
    assert other.changed
    assert inline(iam) == iam_role.inline_policy("unit", "us-east-1", account_id="123456789012")


def test_check_mode_on_existing_role_reports_drift_without_fixing(make_stack):
    iam_role.ensure(make_stack(), FS_ARN)
    iam = make_stack().clients.iam
    iam.attach_role_policy(RoleName=NAME, PolicyArn=SSM_CORE)
    check = make_stack(check_mode=True)
    assert iam_role.ensure(check, FS_ARN)[0] == NAME
    assert check.changed
    assert attached(iam) == [SSM_CORE]
    iam.detach_role_policy(RoleName=NAME, PolicyArn=SSM_CORE)
    clean = make_stack(check_mode=True)
    iam_role.ensure(clean, FS_ARN)
    assert not clean.changed


def test_check_mode_plans_and_creates_nothing(make_stack, store):
    stack = make_stack(check_mode=True)
    name, arn = iam_role.ensure(stack)
    assert name.startswith("(new iam_role") and arn is None
    assert stack.planned == [{"type": "iam_role", "key": "role", "name": NAME}]
    assert iam_role.get_role(stack.clients.iam, NAME) is None
    assert store.load("unit") is None


@pytest.mark.parametrize(
    "path,tags",
    [
        (IAM_PATH, []),
        ("/", [{"Key": STACK_TAG, "Value": "unit"}]),
        (IAM_PATH, [{"Key": STACK_TAG, "Value": "elsewhere"}]),
    ],
)
def test_foreign_role_fails(stack, path, tags):
    foreign_role(stack.clients.iam, path, tags)
    with pytest.raises(StackFailure) as failure:
        iam_role.ensure(stack)
    assert "is not the stack's" in str(failure.value)
    assert stack.ledger.find("iam_role", NAME) is None


def test_lost_response_entity_already_exists_records_created(stack, store):
    lose_responses(stack.clients.iam, "CreateRole", client_error("EntityAlreadyExists", "CreateRole"))
    name, arn = iam_role.ensure(stack)
    assert arn.endswith("/geusemaker/" + NAME)
    assert store.load("unit")["resources"][0]["provenance"] == "created"
    assert inline(stack.clients.iam) == iam_role.inline_policy("unit", "us-east-1", account_id="123456789012")


def test_already_exists_but_foreign_fails(stack, monkeypatch):
    real_create = stack.clients.iam.create_role

    def create_foreign(**kwargs):
        kwargs["Tags"] = []
        real_create(**kwargs)
        raise client_error("EntityAlreadyExists", "CreateRole")

    monkeypatch.setattr(stack.clients.iam, "create_role", create_foreign)
    with pytest.raises(StackFailure):
        iam_role.ensure(stack)


def test_create_failure_is_logged(stack):
    on_call(stack.clients.iam, "CreateRole", always(client_error("AccessDenied", "CreateRole")))
    with pytest.raises(StackFailure) as failure:
        iam_role.ensure(stack)
    assert "cannot create IAM role" in str(failure.value)
    assert stack.ledger.document["events"][-1]["error_code"] == "AccessDenied"


@pytest.mark.parametrize("operation,message", [
    ("get_role", "cannot look up IAM role"),
    ("list_attached_role_policies", "cannot read the policies"),
    ("put_role_policy", "cannot set the policies"),
])
def test_other_errors_fail(stack, operation, message):
    on_call(stack.clients.iam, operation, always(client_error("AccessDenied", operation)))
    with pytest.raises(StackFailure) as failure:
        iam_role.ensure(stack)
    assert message in str(failure.value)


def test_lookup_after_lost_response_failure(stack, monkeypatch):
    real_create = stack.clients.iam.create_role
    calls = []

    def create_twice(**kwargs):
        real_create(**kwargs)
        raise client_error("EntityAlreadyExists", "CreateRole")

    def get_role(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise client_error("NoSuchEntity", "GetRole")
        raise client_error("AccessDenied", "GetRole")

    monkeypatch.setattr(stack.clients.iam, "create_role", create_twice)
    monkeypatch.setattr(stack.clients.iam, "get_role", get_role)
    with pytest.raises(StackFailure) as failure:
        iam_role.ensure(stack)
    assert "cannot look up IAM role" in str(failure.value)


def test_discover_and_delete_with_a_foreign_policy(stack):
    iam_role.ensure(stack, FS_ARN)
    iam = stack.clients.iam
    iam.put_role_policy(RoleName=NAME, PolicyName="extra", PolicyDocument=json.dumps(iam_role.inline_policy("unit", "us-east-1")))
    assert iam_role.discover(stack.clients, "unit", "us-east-1") == [
        {"id": NAME, "key": "role", "arn": iam.get_role(RoleName=NAME)["Role"]["Arn"]}
    ]
    assert iam_role.discover(stack.clients, "other", "us-east-1") == []
    # A policy someone else put on the role does not stop its delete (the rest: test_kind_contract.py).
    entry = stack.ledger.find("iam_role", NAME)
    iam_role.delete(stack.clients, entry)
    assert not iam_role.exists(stack.clients, entry)


def test_discover_ignores_untagged_role(stack):
    foreign_role(stack.clients.iam)
    assert iam_role.discover(stack.clients, "unit", "us-east-1") == []


def test_exists_of_planned_id_is_false(stack):
    assert not iam_role.exists(stack.clients, {"id": "(new iam_role role)"})


def test_get_role_raises_other_errors(stack, monkeypatch):
    def refuse(**kwargs):
        raise client_error("AccessDenied", "GetRole")

    monkeypatch.setattr(stack.clients.iam, "get_role", refuse)
    with pytest.raises(ClientError):
        iam_role.exists(stack.clients, {"id": NAME})


def test_current_inline_policy_raises_other_errors(stack, monkeypatch):
    def refuse(**kwargs):
        raise client_error("AccessDenied", "GetRolePolicy")

    monkeypatch.setattr(stack.clients.iam, "get_role_policy", refuse)
    with pytest.raises(ClientError):
        iam_role.current_inline_policy(stack.clients.iam, NAME)


def test_listings_follow_markers(stack):
    answer_in_turn(stack.clients.iam, "ListAttachedRolePolicies", [
        {"AttachedPolicies": [{"PolicyArn": "a"}], "IsTruncated": True, "Marker": "m"},
        {"AttachedPolicies": [{"PolicyArn": "b"}], "IsTruncated": False},
    ])
    assert iam_role.attached_policies(stack.clients.iam, NAME) == ["a", "b"]
    answer_in_turn(stack.clients.iam, "ListRolePolicies", [
        {"PolicyNames": ["x"], "IsTruncated": True, "Marker": "m"},
        {"PolicyNames": ["y"], "IsTruncated": False},
    ])
    assert iam_role.inline_policy_names(stack.clients.iam, NAME) == ["x", "y"]
