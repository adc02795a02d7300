import os

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils import ssm_parameter
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import KEY_TAG, STACK_TAG
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import always, client_error, lose_responses, on_call

KEYS = ["db_password", "n8n_encryption_key", "n8n_owner_password", "qdrant_api_key", "proxy_password"]
NAMES = ["/geusemaker/unit/" + key for key in KEYS]


def tags_of(ssm, name):
    return {t["Key"]: t["Value"] for t in ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]}


def value_of(ssm, name):
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def test_generate_shapes():
    password = ssm_parameter.generate("db_password")
    assert len(password) == 32 and password.isalnum()
    key = ssm_parameter.generate("n8n_encryption_key")
    assert len(key) == 64 and int(key, 16) >= 0
    assert ssm_parameter.generate("db_password") != password
    with pytest.raises(ValueError):
        ssm_parameter.generate("other")


def test_creates_tagged_secure_strings_and_records_them(stack, store):
    path, names = ssm_parameter.ensure(stack)
    assert path == "/geusemaker/unit/"
    assert names == NAMES
    ssm = stack.clients.ssm
    for name, key in zip(names, ssm_parameter.SECRETS):
        parameter = ssm.get_parameter(Name=name)["Parameter"]
        assert parameter["Type"] == "SecureString"
        tags = tags_of(ssm, name)
        assert tags[STACK_TAG] == "unit" and tags[KEY_TAG] == key
    saved = store.load("unit")
    assert [(r["type"], r["id"], r["provenance"], r["key"]) for r in saved["resources"]] == [
        ("ssm_parameter", name, "created", key) for name, key in zip(NAMES, KEYS)
    ]
    assert stack.changed


def test_values_never_reach_state_or_ledger(stack, store):
    ssm_parameter.ensure(stack)
    with open(store.location("unit")) as handle:
        text = handle.read()
    for name in NAMES:
        value = value_of(stack.clients.ssm, name)
        assert value not in text
        assert value not in repr(stack.ledger.document)
        assert value not in repr(stack.planned)


def test_second_run_keeps_values_without_change(make_stack, store):
    first = make_stack()
    ssm_parameter.ensure(first)
    values = [value_of(first.clients.ssm, name) for name in NAMES]
    again = make_stack()
    assert ssm_parameter.ensure(again) == ("/geusemaker/unit/", NAMES)
    assert not again.changed
    assert [value_of(again.clients.ssm, name) for name in NAMES] == values
    assert {r["provenance"] for r in store.load("unit")["resources"]} == {"created"}


def test_lost_ledger_adopts(make_stack, store):
    ssm_parameter.ensure(make_stack())
    os.remove(store.location("unit"))
    again = make_stack()
    ssm_parameter.ensure(again)
    assert not again.changed
    assert [r["provenance"] for r in store.load("unit")["resources"]] == ["adopted"] * len(KEYS)


def test_check_mode_plans_and_creates_nothing(make_stack, store):
    stack = make_stack(check_mode=True)
    path, names = ssm_parameter.ensure(stack)
    assert names == NAMES
    assert stack.changed
    assert stack.planned == [{"type": "ssm_parameter", "key": key, "name": name} for name, key in zip(NAMES, KEYS)]
    assert stack.clients.ssm.get_parameters_by_path(Path=path, Recursive=True)["Parameters"] == []
    assert store.load("unit") is None


def test_untagged_foreign_parameter_fails_and_is_kept(stack):
    ssm = stack.clients.ssm
    ssm.put_parameter(Name=NAMES[0], Value="theirs", Type="SecureString")
    with pytest.raises(StackFailure) as failure:
        ssm_parameter.ensure(stack)
    assert "not tagged for stack unit" in str(failure.value)
    assert value_of(ssm, NAMES[0]) == "theirs"


def test_parameter_of_another_stack_fails(make_stack):
    other = make_stack()
    other.clients.ssm.put_parameter(
        Name=NAMES[0], Value="x", Type="SecureString", Tags=[{"Key": STACK_TAG, "Value": "elsewhere"}]
    )
    with pytest.raises(StackFailure):
        ssm_parameter.ensure(other)


def test_lost_response_already_exists_records_created(stack, store):
    # Each call lands; its response is lost.
    lose_responses(stack.clients.ssm, "PutParameter", client_error("ParameterAlreadyExists", "PutParameter"))
    assert ssm_parameter.ensure(stack)[1] == NAMES
    assert [r["provenance"] for r in store.load("unit")["resources"]] == ["created"] * len(KEYS)
    assert stack.changed


def test_put_failure_is_logged_without_value(stack, monkeypatch):
    seen = {}

    def refuse(**kwargs):
        seen["value"] = kwargs["Value"]
        raise client_error("AccessDeniedException", "PutParameter")

    monkeypatch.setattr(stack.clients.ssm, "put_parameter", refuse)
    with pytest.raises(StackFailure) as failure:
        ssm_parameter.ensure(stack)
    assert "cannot create SSM parameter /geusemaker/unit/db_password" in str(failure.value)
    assert seen["value"] not in str(failure.value)
    assert seen["value"] not in repr(failure.value.details)
    assert seen["value"] not in repr(stack.ledger.document)
    assert stack.ledger.document["events"][-1]["error_code"] == "AccessDeniedException"


def test_lookup_failure_fails_as_a_permission_problem(stack):
    on_call(stack.clients.ssm, "DescribeParameters", always(client_error("AccessDeniedException", "DescribeParameters")))
    with pytest.raises(StackFailure) as failure:
        ssm_parameter.ensure(stack)
    assert "cannot look up SSM parameter" in str(failure.value)
    assert "a permission problem, not a capacity or input one" in str(failure.value)
    assert "may not the DescribeParameters call" in str(failure.value)


def test_finding_a_secret_reads_no_value(make_stack, store):
    """The deployer finds its stack's secrets without the right to read (or decrypt) any: DescribeParameters."""
    ssm_parameter.ensure(make_stack())
    os.remove(store.location("unit"))
    again = make_stack()
    for operation in ("GetParameter", "GetParameters", "GetParametersByPath"):
        on_call(again.clients.ssm, operation, always(client_error("AccessDeniedException", operation)))
    ssm_parameter.ensure(again)
    assert not again.changed
    assert [r["provenance"] for r in store.load("unit")["resources"]] == ["adopted"] * len(KEYS)
    assert sorted(item["id"] for item in ssm_parameter.discover(again.clients, "unit", "us-east-1")) == sorted(NAMES)


def test_discover_skips_untagged_and_other_paths(make_stack):
    stack = make_stack()
    ssm_parameter.ensure(stack)
    ssm = stack.clients.ssm
    ssm.put_parameter(Name="/geusemaker/unit/stray", Value="x", Type="String")  # untagged: not ours
    ssm.put_parameter(Name="/geusemaker/unitx/db_password", Value="x", Type="String", Tags=[{"Key": STACK_TAG, "Value": "unit"}])
    found = ssm_parameter.discover(stack.clients, "unit", "us-east-1")
    assert sorted(found, key=lambda item: item["id"]) == sorted(
        ({"id": name, "key": key} for name, key in zip(NAMES, KEYS)), key=lambda item: item["id"])


def test_discover_pages(stack, monkeypatch):
    ssm = stack.clients.ssm
    for index in range(14):
        ssm.put_parameter(Name="/geusemaker/unit/p{0:02d}".format(index), Value="x", Type="String", Tags=[{"Key": STACK_TAG, "Value": "unit"}])
    found = ssm_parameter.discover(stack.clients, "unit", "us-east-1")
    assert len(found) == 14


def test_exists_raises_other_errors(stack, monkeypatch):
    on_call(stack.clients.ssm, "DescribeParameters", always(client_error("AccessDeniedException", "DescribeParameters")))
    with pytest.raises(ClientError):
        ssm_parameter.exists(stack.clients, {"id": NAMES[0]})
