import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import (
    MAX_EVENTS,
    TRANSITIONS,
    Ledger,
    LedgerError,
    failure_record,
    owned_entries,
    reused_ids,
)


def test_new_ledger_is_saved_only_on_change(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    assert store.load("s1") is None
    ledger.record("vpc", "vpc-1", "created", key="vpc")
    saved = store.load("s1")
    assert saved["schema_version"] == 2 and saved["region"] == "us-east-1" and saved["status"] == "deploying"
    assert saved["resources"] == [
        {"type": "vpc", "id": "vpc-1", "provenance": "created", "region": "us-east-1", "key": "vpc", "status": "present"}
    ]
    assert saved["events"][0]["action"] == "create" and saved["events"][0]["outcome"] == "ok"


def test_record_keeps_first_provenance_and_updates_attributes(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.record("subnet", "subnet-1", "created", vpc_id="vpc-1")
    ledger.record("subnet", "subnet-1", "adopted", availability_zone="us-east-1a")
    entry = Ledger.open(store, "s1", "us-east-1").find("subnet", "subnet-1")
    assert entry["provenance"] == "created" and entry["availability_zone"] == "us-east-1a" and entry["vpc_id"] == "vpc-1"
    assert len(store.load("s1")["events"]) == 1


def test_bad_values_are_refused(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    with pytest.raises(LedgerError):
        ledger.record("bucket", "b", "created")
    with pytest.raises(LedgerError):
        ledger.record("vpc", "v", "stolen")
    with pytest.raises(LedgerError):
        ledger.set_status("happy")
    with pytest.raises(LedgerError):
        ledger.mark("vpc", "missing", "deleted")
    ledger.record("vpc", "v", "created")
    with pytest.raises(LedgerError):
        ledger.mark("vpc", "v", "vanished")


def test_region_mismatch_and_schema_are_refused(store):
    Ledger.open(store, "s1", "us-east-1").record("vpc", "v", "created")
    with pytest.raises(LedgerError, match="recorded in region us-east-1"):
        Ledger.open(store, "s1", "eu-west-1")
    document = store.load("s1")
    document["schema_version"] = 99
    store.save("s1", document)
    with pytest.raises(LedgerError, match="schema_version 99"):
        Ledger.open(store, "s1", "us-east-1")


def test_events_are_bounded(store):
    ledger = Ledger.open(store, "s1", "us-east-1", persist=False)
    for number in range(MAX_EVENTS + 20):
        ledger.event("delete", "vpc", "v{0}".format(number), "retry", error_code="DependencyViolation", save=False)
    events = ledger.document["events"]
    assert len(events) == MAX_EVENTS and events[-1]["id"] == "v{0}".format(MAX_EVENTS + 19)
    assert events[-1]["error_code"] == "DependencyViolation"


def test_owned_and_reused(store):
    ledger = Ledger.open(store, "s1", "us-east-1", persist=False)
    ledger.record("vpc", "v-user", "reused")
    ledger.record("subnet", "s-new", "created")
    ledger.record("subnet", "s-old", "adopted")
    ledger.record("subnet", "s-gone", "created")
    ledger.mark("subnet", "s-gone", "deleted")
    assert [e["id"] for e in owned_entries(ledger.document)] == ["s-new", "s-old"]
    assert reused_ids(ledger.document) == {"v-user"}
    assert store.load("s1") is None  # persist=False (check mode) writes nothing


def test_status_and_failure(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.set_status("failed", failure={"task": "t"})
    assert store.load("s1")["failure"] == {"task": "t"}
    ledger.set_status("deploying", clear_failure=True)
    assert store.load("s1")["failure"] is None
    assert Ledger.open(store, "s1", None).region == "us-east-1"
    assert Ledger.open(store, "s1", "us-east-1").exists_on_disk


def test_the_status_machine_refuses_moves_it_does_not_allow(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    with pytest.raises(LedgerError, match="stack s1 is deploying and cannot become destroyed"):
        ledger.set_status("destroyed")
    for status in ("failed", "rolling_back", "rolled_back"):
        ledger.set_status(status)
    with pytest.raises(LedgerError, match="is rolled_back and cannot become failed; from rolled_back it may become: deploying"):
        ledger.set_status("failed")
    assert store.load("s1")["status"] == "rolled_back"  # a refused move writes nothing


@pytest.mark.parametrize("finished", ["destroyed", "rolled_back"])
def test_a_finished_stack_may_be_deployed_again(store, finished):
    ledger = Ledger.open(store, "s1", "us-east-1")
    for status in {"destroyed": ("destroying", "destroyed"), "rolled_back": ("failed", "rolling_back", "rolled_back")}[finished]:
        ledger.set_status(status)
    ledger.set_status("deploying")
    assert store.load("s1")["status"] == "deploying"


def test_every_status_can_be_left_and_reached():
    for status, following in TRANSITIONS.items():
        assert set(following) <= set(TRANSITIONS), status
        assert "destroying" in following or status == "destroying", status  # a stack can always be destroyed
    reached = {target for following in TRANSITIONS.values() for target in following}
    assert reached == set(TRANSITIONS)


def test_failure_record_from_a_task_result():
    record = failure_record("Ensure the VPC", {"msg": "x" * 2000, "resource_type": "vpc", "error_code": "VpcLimitExceeded"})
    assert (record["task"], record["resource_type"], record["error_code"], record["critical"]) == (
        "Ensure the VPC", "vpc", "VpcLimitExceeded", True)
    assert len(record["error_message"]) == 1000 and record["at"].endswith("Z")
    bare = failure_record(None, None, critical=False)
    assert (bare["task"], bare["error_message"], bare["critical"], bare["error_code"]) == ("unknown", "unknown error", False, None)


def test_a_document_of_the_previous_schema_is_migrated_on_read(store):
    store.save("s1", {"schema_version": 1, "stack_name": "s1", "region": "us-east-1", "status": "deployed",
                      "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                      "resources": [{"type": "vpc", "id": "vpc-1", "provenance": "created", "status": "present"}],
                      "events": [], "failure": None})
    ledger = Ledger.open(store, "s1", "us-east-1")
    assert ledger.document["schema_version"] == 2 and ledger.document["account_id"] is None
    assert ledger.find("vpc", "vpc-1")["status"] == "present"
    ledger.pin_account("123456789012", "aws")  # the first run that saves pins the account
    ledger.set_status("deploying")
    saved = store.load("s1")
    assert (saved["schema_version"], saved["account_id"], saved["partition"]) == (2, "123456789012", "aws")


def test_the_account_is_pinned_and_another_is_refused_naming_both(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.pin_account("123456789012", "aws")
    ledger.record("vpc", "vpc-1", "created")
    again = Ledger.open(store, "s1", "us-east-1")
    again.pin_account("123456789012", "aws")
    with pytest.raises(LedgerError, match="recorded in AWS account 123456789012 .aws., but these credentials act in account "
                                          "111111111111"):
        again.pin_account("111111111111", "aws")
    assert store.load("s1")["account_id"] == "123456789012"


def test_each_refusal_carries_its_code(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.pin_account("123456789012", "aws")
    ledger.record("vpc", "vpc-1", "created")
    refusals = [
        (lambda: ledger.record("vpc", "vpc-2", "stolen"), "UnknownProvenance"),
        (lambda: ledger.mark("vpc", "vpc-9", "deleted"), "NotInLedger"),
        (lambda: ledger.mark("vpc", "vpc-1", "vanished"), "UnknownStatus"),
        (lambda: ledger.set_status("destroyed"), "TransitionRefused"),
        (ledger.check_startable, "NotStartable"),
        (lambda: ledger.pin_account("111111111111", "aws"), "AccountMismatch"),
        (lambda: Ledger.open(store, "s1", "eu-west-1"), "RegionMismatch"),
    ]
    for refused, code in refusals:
        with pytest.raises(LedgerError) as error:
            refused()
        assert error.value.code == code


@pytest.mark.parametrize("status, startable", [("stopped", True), ("deployed", True), ("degraded", True), ("failed", False),
                                               ("rolled_back", False), ("destroyed", False)])
def test_only_a_stopped_or_running_stack_may_be_started(store, status, startable):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.document["status"] = status
    if startable:
        ledger.check_startable()
    else:
        with pytest.raises(LedgerError, match="is {0}; only a stack that is stopped, deployed, degraded can be started".format(status)):
            ledger.check_startable()


def test_a_failure_is_recorded_once_and_the_status_stays(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.set_status("failed")
    first, second = failure_record("launch", {"msg": "no capacity"}), failure_record("retry", {"msg": "other"})
    assert ledger.record_failure(first) is True
    assert Ledger.open(store, "s1", "us-east-1").record_failure(second) is False
    saved = store.load("s1")
    assert saved["failure"] == first and saved["status"] == "failed"


def test_outputs_are_saved_through_the_ledger(store):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.set_outputs({"service_url": "https://203.0.113.7"})
    assert store.load("s1")["outputs"] == {"service_url": "https://203.0.113.7"}
    ledger.set_outputs({"service_url": "https://203.0.113.8"}, save=False)
    assert store.load("s1")["outputs"] == {"service_url": "https://203.0.113.7"}
