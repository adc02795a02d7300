import json
import os

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils import iam_role, instance_profile
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import IAM_PATH
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import client_error, lose_responses


@pytest.fixture(autouse=True)
def managed_policies(aws, monkeypatch):
    """The role attaches AmazonSSMManagedInstanceCore, which the emulator has only with its managed policies."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


NAME = "geusemaker-unit-us-east-1"


def profile_roles(iam):
    return [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=NAME)["InstanceProfile"]["Roles"]]


def make_role(iam, name=NAME):
    iam.create_role(RoleName=name, Path=IAM_PATH, AssumeRolePolicyDocument=json.dumps(iam_role.ASSUME_ROLE_POLICY))
    return name


def test_creates_profile_with_role_and_records_it(stack, store):
    role_name, _unused = iam_role.ensure(stack)
    stack.changed = False
    name, arn = instance_profile.ensure(stack, role_name)
    assert name == NAME
    iam = stack.clients.iam
    profile = iam.get_instance_profile(InstanceProfileName=NAME)["InstanceProfile"]
    assert profile["Arn"] == arn and profile["Path"] == IAM_PATH
    assert profile_roles(iam) == [role_name]
    entry = store.load("unit")["resources"][-1]
    assert (entry["type"], entry["id"], entry["provenance"], entry["key"], entry["role_name"]) == (
        "instance_profile", NAME, "created", "instance-profile", role_name,
    )
    assert stack.changed


def test_second_run_without_change(make_stack, store):
    first = make_stack()
    role_name = make_role(first.clients.iam)
    result = instance_profile.ensure(first, role_name)
    again = make_stack()
    assert instance_profile.ensure(again, role_name) == result
    assert not again.changed
    assert store.load("unit")["resources"][0]["provenance"] == "created"


def test_lost_ledger_adopts_and_puts_role_back(make_stack, store):
    first = make_stack()
    role_name = make_role(first.clients.iam)
    instance_profile.ensure(first, role_name)
    first.clients.iam.remove_role_from_instance_profile(InstanceProfileName=NAME, RoleName=role_name)
    os.remove(store.location("unit"))
    again = make_stack()
    instance_profile.ensure(again, role_name)
    assert again.changed
    assert profile_roles(again.clients.iam) == [role_name]
    assert store.load("unit")["resources"][0]["provenance"] == "adopted"


def test_replaces_a_different_role(make_stack):
    first = make_stack()
    iam = first.clients.iam
    make_role(iam)
    other = make_role(iam, "somebody-else")
    iam.create_instance_profile(InstanceProfileName=NAME, Path=IAM_PATH)
    iam.add_role_to_instance_profile(InstanceProfileName=NAME, RoleName=other)
    check = make_stack(check_mode=True)
    instance_profile.ensure(check, NAME)
    assert check.changed and profile_roles(iam) == [other]
    instance_profile.ensure(first, NAME)
    assert first.changed
    assert profile_roles(iam) == [NAME]


def test_check_mode_plans_and_creates_nothing(make_stack, store):
    stack = make_stack(check_mode=True)
    role_name, _unused = iam_role.ensure(stack)
    name, arn = instance_profile.ensure(stack, role_name)
    assert name.startswith("(new instance_profile") and arn is None
    assert stack.planned[-1] == {"type": "instance_profile", "key": "instance-profile", "name": NAME, "role_name": role_name}
    assert instance_profile.get_profile(stack.clients.iam, NAME) is None
    assert store.load("unit") is None


def test_planned_role_is_never_sent_to_aws(make_stack, monkeypatch):
    stack = make_stack()
    stack.clients.iam.create_instance_profile(InstanceProfileName=NAME, Path=IAM_PATH)
    check = make_stack(check_mode=True)

    def refuse(**kwargs):
        raise AssertionError("called with {0}".format(kwargs))

    monkeypatch.setattr(check.clients.iam, "add_role_to_instance_profile", refuse)
    assert instance_profile.ensure(check, "(new iam_role role)")[0] == NAME
    assert profile_roles(stack.clients.iam) == []


def test_profile_outside_the_path_fails(stack):
    stack.clients.iam.create_instance_profile(InstanceProfileName=NAME, Path="/")
    with pytest.raises(StackFailure) as failure:
        instance_profile.ensure(stack, make_role(stack.clients.iam))
    assert "is not the stack's" in str(failure.value)
    assert stack.ledger.find("instance_profile", NAME) is None


def test_lost_response_entity_already_exists_records_created(stack, store):
    lose_responses(stack.clients.iam, "CreateInstanceProfile", client_error("EntityAlreadyExists", "CreateInstanceProfile"))
    role_name = make_role(stack.clients.iam)
    instance_profile.ensure(stack, role_name)
    assert store.load("unit")["resources"][0]["provenance"] == "created"
    assert profile_roles(stack.clients.iam) == [role_name]


def test_already_exists_lookup_failure(stack, monkeypatch):
    calls = []

    def get_profile(**kwargs):
        calls.append(kwargs)
        raise client_error("NoSuchEntity" if len(calls) == 1 else "AccessDenied", "GetInstanceProfile")

    def create(**kwargs):
        raise client_error("EntityAlreadyExists", "CreateInstanceProfile")

    monkeypatch.setattr(stack.clients.iam, "get_instance_profile", get_profile)
    monkeypatch.setattr(stack.clients.iam, "create_instance_profile", create)
    with pytest.raises(StackFailure) as failure:
        instance_profile.ensure(stack, NAME)
    assert "cannot look up IAM instance profile" in str(failure.value)


@pytest.mark.parametrize("operation,message", [
    ("get_instance_profile", "cannot look up IAM instance profile"),
    ("create_instance_profile", "cannot create IAM instance profile"),
    ("add_role_to_instance_profile", "cannot put IAM role"),
])
def test_other_errors_fail(stack, monkeypatch, operation, message):
    role_name = make_role(stack.clients.iam)

    def refuse(**kwargs):
        raise client_error("AccessDenied", operation)

    monkeypatch.setattr(stack.clients.iam, operation, refuse)
    with pytest.raises(StackFailure) as failure:
        instance_profile.ensure(stack, role_name)
    assert message in str(failure.value)
    assert stack.ledger.document["events"][-1]["error_code"] == "AccessDenied"


def test_discover_and_delete_with_a_foreign_role_inside(stack):
    role_name = make_role(stack.clients.iam)
    name, arn = instance_profile.ensure(stack, role_name)
    assert instance_profile.discover(stack.clients, "unit", "us-east-1") == [
        {"id": NAME, "key": "instance-profile", "arn": arn, "role_name": role_name}
    ]
    # A profile holding a role that is not the stack's goes, and the role is free (the rest: test_kind_contract.py).
    entry = stack.ledger.find("instance_profile", NAME)
    instance_profile.delete(stack.clients, entry)
    assert not instance_profile.exists(stack.clients, entry)
    # the role itself can go now that no profile holds it
    iam_role.delete(stack.clients, {"id": role_name})
    assert not iam_role.exists(stack.clients, {"id": role_name})


def test_discover_empty_profile_and_foreign_path(stack):
    iam = stack.clients.iam
    iam.create_instance_profile(InstanceProfileName=NAME, Path=IAM_PATH)
    assert instance_profile.discover(stack.clients, "unit", "us-east-1") == [
        {"id": NAME, "key": "instance-profile", "arn": iam.get_instance_profile(InstanceProfileName=NAME)["InstanceProfile"]["Arn"]}
    ]
    iam.create_instance_profile(InstanceProfileName="geusemaker-other-us-east-1", Path="/")
    assert instance_profile.discover(stack.clients, "other", "us-east-1") == []


def test_exists_of_planned_id_and_other_errors(stack, monkeypatch):
    assert not instance_profile.exists(stack.clients, {"id": "(new instance_profile instance-profile)"})

    def refuse(**kwargs):
        raise client_error("AccessDenied", "GetInstanceProfile")

    monkeypatch.setattr(stack.clients.iam, "get_instance_profile", refuse)
    with pytest.raises(ClientError):
        instance_profile.exists(stack.clients, {"id": NAME})
