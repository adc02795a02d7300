import os

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils import file_system
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import KEY_TAG, STACK_TAG, efs_creation_token
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import after_call, always, answer_in_turn, client_error, on_call, spy, states_in_turn
from tests.unit.conftest import SESSION, wrapped_client

REGION = "us-east-1"
TOKEN = efs_creation_token("unit", REGION)


def tags_of(efs, file_system_id):
    # The emulator answers ListTagsForResource by id only (an ARN gives no tags); AWS takes both.
    return {t["Key"]: t["Value"] for t in efs.list_tags_for_resource(ResourceId=file_system_id)["Tags"]}


def run(stack, fake_time, timeout=30):
    return file_system.ensure(stack, timeout=timeout, clock=fake_time.clock, sleep=fake_time.sleep)


def states_on_describe(monkeypatch, stack, states):
    """Answer DescribeFileSystems(FileSystemId=...) with the given states in turn (the last repeats); pass the rest through."""
    return states_in_turn(stack.clients.efs, "DescribeFileSystems", "FileSystems", states, when=lambda params: "FileSystemId" in params)


def creating_on_create(monkeypatch, stack):
    efs = stack.clients.efs
    real = efs.create_file_system

    def fake(**kwargs):
        response = real(**kwargs)
        response["LifeCycleState"] = "creating"
        return response

    monkeypatch.setattr(efs, "create_file_system", fake)


def test_creates_encrypted_tagged_file_system_and_records_it(stack, store, fake_time):
    file_system_id, arn = run(stack, fake_time, timeout=0)
    efs = stack.clients.efs
    described = efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0]
    assert described["Encrypted"] is True
    assert described["CreationToken"] == TOKEN
    assert described["PerformanceMode"] == "generalPurpose"
    assert described["ThroughputMode"] == "bursting"
    assert arn == described["FileSystemArn"]
    tags = tags_of(efs, file_system_id)
    assert tags[STACK_TAG] == "unit" and tags[KEY_TAG] == file_system.KEY and tags["Name"] == "unit-file-system"
    saved = store.load("unit")
    assert [(r["type"], r["id"], r["provenance"], r["key"], r["creation_token"]) for r in saved["resources"]] == [
        ("file_system", file_system_id, "created", file_system.KEY, TOKEN)
    ]
    assert stack.changed
    assert fake_time.sleeps == []


def test_user_tags_are_applied(make_stack, fake_time):
    stack = make_stack(tags={"team": "ml"})
    file_system_id, _unused = run(stack, fake_time)
    assert tags_of(stack.clients.efs, file_system_id)["team"] == "ml"


def test_second_run_adopts_without_change(make_stack, store, fake_time):
    first = run(make_stack(), fake_time)
    again = make_stack()
    assert run(again, fake_time) == first
    assert not again.changed
    assert store.load("unit")["resources"][0]["provenance"] == "created"
    assert len(again.clients.efs.describe_file_systems()["FileSystems"]) == 1


def test_lost_ledger_adopts(make_stack, store, fake_time):
    first = run(make_stack(), fake_time)
    os.remove(store.location("unit"))
    again = make_stack()
    assert run(again, fake_time) == first
    assert store.load("unit")["resources"][0]["provenance"] == "adopted"
    assert not again.changed


def test_check_mode_plans_and_creates_nothing(make_stack, store, fake_time):
    stack = make_stack(check_mode=True)
    planned, arn = run(stack, fake_time)
    assert planned.startswith("(new file_system")
    assert arn is None
    assert stack.planned == [{"type": "file_system", "key": file_system.KEY, "encrypted": True}]
    assert stack.changed
    assert stack.clients.efs.describe_file_systems()["FileSystems"] == []
    assert store.load("unit") is None


def test_check_mode_finds_an_existing_one(make_stack, store, fake_time):
    first = run(make_stack(), fake_time)
    checking = make_stack(check_mode=True)
    assert run(checking, fake_time) == first
    assert not checking.changed and checking.planned == []


def test_lost_create_response_is_looked_up_and_recorded_created(stack, store, monkeypatch, fake_time):
    existing = SESSION.client("efs", region_name=REGION).create_file_system(CreationToken=TOKEN, Encrypted=True)
    calls = []

    def not_found_once(efs, stack_name, region):
        calls.append(stack_name)
        return None

    monkeypatch.setattr(file_system, "find_owned", not_found_once)
    file_system_id, arn = run(stack, fake_time)
    assert calls == ["unit"]
    assert file_system_id == existing["FileSystemId"] and arn == existing["FileSystemArn"]
    assert store.load("unit")["resources"][0]["provenance"] == "created"
    assert len(stack.clients.efs.describe_file_systems()["FileSystems"]) == 1


def test_already_exists_but_not_found_fails(stack, fake_time):
    on_call(stack.clients.efs, "CreateFileSystem", always(client_error("FileSystemAlreadyExists")))
    with pytest.raises(StackFailure) as failure:
        run(stack, fake_time)
    assert failure.value.details["error_code"] == "FileSystemAlreadyExists"


def test_create_failure_is_logged_and_fails(stack, store, monkeypatch, fake_time):
    def refuse(**kwargs):
        raise client_error("FileSystemLimitExceeded")

    monkeypatch.setattr(stack.clients.efs, "create_file_system", refuse)
    with pytest.raises(StackFailure) as failure:
        run(stack, fake_time)
    assert "cannot create the EFS file system" in str(failure.value)
    details = failure.value.details
    assert details["resource_type"] == "file_system" and details["error_code"] == "FileSystemLimitExceeded"
    event = store.load("unit")["events"][-1]
    assert (event["action"], event["type"], event["outcome"], event["error_code"]) == (
        "create", "file_system", "error", "FileSystemLimitExceeded"
    )
    assert store.load("unit")["resources"] == []


def test_lookup_failure_fails(stack, fake_time):
    on_call(stack.clients.efs, "DescribeFileSystems", always(client_error("AccessDeniedException", "DescribeFileSystems")))
    with pytest.raises(StackFailure) as failure:
        run(stack, fake_time)
    assert failure.value.details["error_code"] == "AccessDeniedException"
    assert stack.ledger.document["events"][-1]["action"] == "describe"


def test_waits_until_available(stack, monkeypatch, fake_time):
    creating_on_create(monkeypatch, stack)
    seen = states_on_describe(
        monkeypatch, stack, [client_error("FileSystemNotFound", "DescribeFileSystems"), "creating", "available"]
    )
    file_system_id, arn = run(stack, fake_time)
    assert seen == [seen[0], "creating", "available"]
    assert fake_time.sleeps == [1.5, 1.5]
    assert arn.endswith(file_system_id)


def test_timeout_fails_critically_after_recording(stack, monkeypatch, fake_time):
    creating_on_create(monkeypatch, stack)
    states_on_describe(monkeypatch, stack, ["creating"])
    with pytest.raises(StackFailure) as failure:
        run(stack, fake_time, timeout=10)
    details = failure.value.details
    assert details["resource_type"] == "file_system" and details["critical"] and details["error_code"] == "Timeout"
    assert stack.ledger.find("file_system", details["resource_id"])["provenance"] == "created"
    assert fake_time.now <= 10


def test_error_state_fails_critically(stack, monkeypatch, fake_time):
    creating_on_create(monkeypatch, stack)
    states_on_describe(monkeypatch, stack, ["creating", "error"])
    with pytest.raises(StackFailure) as failure:
        run(stack, fake_time)
    details = failure.value.details
    assert details["error_code"] == "FileSystemError" and details["critical"]
    assert stack.ledger.find("file_system", details["resource_id"])["provenance"] == "created"


def test_describe_failure_while_waiting_fails(stack, monkeypatch, fake_time):
    creating_on_create(monkeypatch, stack)
    states_on_describe(monkeypatch, stack, [client_error("AccessDeniedException", "DescribeFileSystems")])
    with pytest.raises(StackFailure) as failure:
        run(stack, fake_time)
    assert failure.value.details["error_code"] == "AccessDeniedException"
    event = stack.ledger.document["events"][-1]
    assert (event["action"], event["outcome"]) == ("wait", "error")


def test_adopted_file_system_still_creating_is_waited_for(make_stack, fake_time):
    first = run(make_stack(), fake_time)
    again = make_stack()
    efs = again.clients.efs
    polls = []

    def creating_when_found_by_token(params, parsed):
        if "CreationToken" in params:
            parsed["FileSystems"][0]["LifeCycleState"] = "creating"
        else:
            polls.append(params)

    after_call(efs, "DescribeFileSystems", creating_when_found_by_token)
    assert run(again, fake_time) == first
    assert polls == [{"FileSystemId": first[0]}]


def test_discover_finds_the_stacks_own_and_its_strays(stack, fake_time):
    file_system_id, _unused = run(stack, fake_time)
    other = SESSION.client("efs", region_name=REGION)
    tagged = other.create_file_system(
        CreationToken="stray", Tags=[{"Key": STACK_TAG, "Value": "unit"}]
    )["FileSystemId"]
    other.create_file_system(CreationToken="foreign", Tags=[{"Key": STACK_TAG, "Value": "other"}])
    other.create_file_system(CreationToken=efs_creation_token("other", REGION))
    found = file_system.discover(stack.clients, "unit", REGION)
    assert sorted(found, key=lambda item: item["creation_token"]) == sorted(
        [
            {"id": file_system_id, "key": file_system.KEY, "creation_token": TOKEN},
            {"id": tagged, "key": file_system.KEY, "creation_token": "stray"},
        ],
        key=lambda item: item["creation_token"],
    )
    # Only the stack's own goes; the stray stays for the teardown to find (the rest: test_kind_contract.py).
    file_system.delete(stack.clients, stack.ledger.find("file_system", file_system_id))
    assert not file_system.exists(stack.clients, {"id": "fs-00000000"})
    assert [item["id"] for item in file_system.discover(stack.clients, "unit", REGION)] == [tagged]


class FakeClients:
    def __init__(self, efs):
        self.efs = efs


def fake_efs(pages=None, error=None, state="available"):
    """An EFS client answering pages and states the emulator does not produce; returns it and its calls' params."""
    efs = wrapped_client("efs")
    answers = [error] if error else pages or [{}]
    calls = answer_in_turn(efs, "DescribeFileSystems", answers, when=lambda params: "FileSystemId" not in params)
    by_id = answer_in_turn(efs, "DescribeFileSystems", [error] if error else [{"FileSystems": [{"FileSystemId": "fs-1", "LifeCycleState": state}]}],
                           when=lambda params: "FileSystemId" in params)
    return efs, calls, by_id


def test_discover_pages_and_skips_deleted(aws):
    item = {"FileSystemId": "fs-1", "CreationToken": TOKEN, "LifeCycleState": "available"}
    gone = {"FileSystemId": "fs-2", "CreationToken": TOKEN, "LifeCycleState": "deleted"}
    efs, calls, _unused = fake_efs(pages=[{"FileSystems": [gone], "NextMarker": "m1"}, {"FileSystems": [item, item]}])
    assert file_system.discover(FakeClients(efs), "unit", REGION) == [
        {"id": "fs-1", "key": file_system.KEY, "creation_token": TOKEN}
    ]
    assert calls == [{}, {"Marker": "m1"}]


def test_exists_states_and_errors(aws):
    assert not file_system.exists(FakeClients(fake_efs(state="deleted")[0]), {"id": "fs-1"})
    assert file_system.exists(FakeClients(fake_efs(state="deleting")[0]), {"id": "fs-1"})
    with pytest.raises(ClientError):
        file_system.exists(FakeClients(fake_efs(error=client_error("AccessDeniedException"))[0]), {"id": "fs-1"})


def test_find_owned_skips_file_systems_being_deleted(aws):
    deleting = {"FileSystemId": "fs-1", "LifeCycleState": "deleting"}
    assert file_system.find_owned(fake_efs(pages=[{"FileSystems": [deleting]}])[0], "unit", REGION) is None


INVALID_PRINCIPAL = "Policy contains invalid Principal block."


def test_a_role_iam_has_not_propagated_yet_is_waited_for(stack, fake_time):
    """AWS answers InvalidPolicyException for a role made seconds ago; the deploy waits, bounded, instead of failing
    critically and rolling the whole stack back (issue 19)."""
    file_system_id, arn = run(stack, fake_time)
    role = "arn:aws:iam::123456789012:role/geusemaker/geusemaker-unit-us-east-1"
    refusals = [client_error("InvalidPolicyException", "PutFileSystemPolicy", message=INVALID_PRINCIPAL)] * 3
    calls = spy(stack.clients.efs, "PutFileSystemPolicy", refusals)
    before = fake_time.clock()
    assert file_system.ensure_client_policy(stack, file_system_id, arn, role, clock=fake_time.clock, sleep=fake_time.sleep)
    assert len(calls) == 4
    assert fake_time.clock() - before >= 3 * file_system.PRINCIPAL_POLL_INTERVAL
    assert not file_system.ensure_client_policy(stack, file_system_id, arn, role)  # it is in place now


def test_a_principal_still_invalid_after_the_limit_fails_and_another_policy_error_at_once(stack, fake_time):
    file_system_id, arn = run(stack, fake_time)
    role = "arn:aws:iam::123456789012:role/geusemaker/geusemaker-unit-us-east-1"
    on_call(stack.clients.efs, "PutFileSystemPolicy",
            always(client_error("InvalidPolicyException", "PutFileSystemPolicy", message=INVALID_PRINCIPAL)))
    before = fake_time.clock()
    with pytest.raises(StackFailure) as failure:
        file_system.ensure_client_policy(stack, file_system_id, arn, role, clock=fake_time.clock, sleep=fake_time.sleep)
    assert failure.value.details["error_code"] == "InvalidPolicyException"
    assert fake_time.clock() - before >= file_system.PRINCIPAL_PROPAGATION_LIMIT


def test_a_policy_refused_for_another_reason_is_not_retried(stack, fake_time):
    file_system_id, arn = run(stack, fake_time)
    calls = spy(stack.clients.efs, "PutFileSystemPolicy",
                [client_error("InvalidPolicyException", "PutFileSystemPolicy", message="Policy has too many statements")])
    before = fake_time.clock()
    with pytest.raises(StackFailure):
        file_system.ensure_client_policy(stack, file_system_id, arn, "arn:aws:iam::123456789012:role/geusemaker/x",
                                         clock=fake_time.clock, sleep=fake_time.sleep)
    assert len(calls) == 1 and fake_time.clock() == before
