"""The recovery callback on a recorded set of events: failure added, status kept, report written and shown."""

import os
import subprocess
import stat

import pytest

from ansible_collections.geusemaker.stack.plugins.callback.recovery import CallbackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import STACK_RESULT
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import state_location


class Task:
    def __init__(self, name, action):
        self.name = name
        self.action = action

    def get_name(self):
        return self.name


class Result:
    def __init__(self, task, result):
        self._task = task
        self._result = result


class Display:
    def __init__(self):
        self.shown, self.warnings = [], []

    def display(self, text, stderr=False):
        self.shown.append(text)

    def warning(self, text):
        self.warnings.append(text)


RUN_INSTANCES_FAILED = Result(
    Task("Ensure the instances are running", "geusemaker.stack.instance"),
    {"msg": "cannot launch instance-0: InsufficientInstanceCapacity", "resource_type": "instance",
     "error_code": "InsufficientInstanceCapacity"},
)
RESCUE_FAIL = Result(Task("Stop the run as failed", "ansible.builtin.fail"), {"msg": "Deploy of s1 failed"})


def lock_taken(stack_name, state_dir):
    """The lock task's result, which (like every task of the collection) names the stack and its state location."""
    return Result(Task("Lock the stack against concurrent runs", "geusemaker.stack.stack_lock"),
                  {STACK_RESULT: {"stack_name": stack_name, "state": state_location({"state_dir": state_dir})}, "token": "t"})


def replay(state_dir, events, stack_name="s1"):
    callback = CallbackModule()
    callback._display = Display()
    if stack_name:
        callback.v2_runner_on_ok(lock_taken(stack_name, state_dir))
    for event in events:
        callback.v2_runner_on_failed(event)
    callback.v2_playbook_on_stats(None)
    return callback._display


# How a run reaches each status from a new document.
PATHS = {"rolled_back": ("failed", "rolling_back", "rolled_back"), "destroyed": ("destroying", "destroyed")}


def leave_stack(store, status, failure=None):
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.record("vpc", "vpc-1", "created")
    ledger.record("instance", "i-1", "created", instance_type="g4dn.xlarge")
    ledger.record("subnet", "subnet-user", "reused")
    for step in PATHS.get(status, (status,)):
        ledger.set_status(step, failure=failure if step == status else None)
    return ledger


def test_failed_run_gets_its_failure_and_a_report(store):
    leave_stack(store, "failed")
    shown = replay(store.root, [RUN_INSTANCES_FAILED, RESCUE_FAIL]).shown
    document = store.load("s1")
    assert document["status"] == "failed"
    failure = document["failure"]
    assert failure["task"] == "Ensure the instances are running"
    assert (failure["resource_type"], failure["error_code"], failure["critical"]) == ("instance", "InsufficientInstanceCapacity", True)
    assert failure["at"].endswith("Z") or "+00:00" in failure["at"]
    path = os.path.join(store.root, "s1.recovery.md")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert "i-1" in text and "vpc-1" in text and "subnet-user" not in text
    assert text.index("i-1") < text.index("vpc-1")  # deletion order
    assert "aws ec2 terminate-instances --region us-east-1 --instance-ids i-1" in text
    assert "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId=i-1" in text
    for option in ("Retry the failed step", "Roll back and abort", "Manual intervention"):
        assert option in text
    assert text.strip() in shown[0]


def test_recorded_failure_and_teardown_status_are_kept(store):
    recorded = {"task": "Ensure the VPC", "resource_type": "vpc", "error_code": "VpcLimitExceeded",
                "error_message": "limit", "critical": True, "at": "2026-01-01T00:00:00Z"}
    leave_stack(store, "rolled_back", failure=recorded)
    replay(store.root, [RUN_INSTANCES_FAILED])
    document = store.load("s1")
    assert document["status"] == "rolled_back"
    assert document["failure"] == recorded


def test_degraded_run_offers_continue_and_keeps_status(store):
    leave_stack(store, "degraded")
    replay(store.root, [])
    assert store.load("s1")["status"] == "degraded"
    text = open(os.path.join(store.root, "s1.recovery.md")).read()
    assert "Continue with warning" in text and "playbooks/check.yml -e stack_name=s1" in text


@pytest.mark.parametrize("status", ["deployed", "destroyed"])
def test_healthy_or_destroyed_stack_gets_no_report(store, status):
    leave_stack(store, status)
    assert replay(store.root, [RUN_INSTANCES_FAILED]).shown == []
    assert not os.path.exists(os.path.join(store.root, "s1.recovery.md"))
    assert store.load("s1")["failure"] is None


def test_ignored_and_bookkeeping_failures_are_not_the_failure(store):
    leave_stack(store, "failed")
    callback = CallbackModule()
    callback._display = Display()
    callback.v2_runner_on_ok(lock_taken("s1", store.root))
    callback.v2_runner_on_failed(RUN_INSTANCES_FAILED, ignore_errors=True)
    callback.v2_runner_on_failed(RESCUE_FAIL)
    assert callback.first_failure is None


def test_run_locked_out_leaves_the_holders_state_and_report_alone(store):
    leave_stack(store, "failed")
    before = open(os.path.join(store.root, "s1.json")).read()
    refused = Result(Task("Lock the stack against concurrent runs", "geusemaker.stack.stack_lock"),
                     {"msg": "stack s1 is locked by another run"})
    assert replay(store.root, [refused]).shown == []
    assert open(os.path.join(store.root, "s1.json")).read() == before
    assert not os.path.exists(os.path.join(store.root, "s1.recovery.md"))


def test_no_stack_or_no_state_does_nothing(store, tmp_path):
    assert replay(store.root, [RUN_INSTANCES_FAILED], stack_name=None).shown == []
    assert replay(str(tmp_path / "empty"), [RUN_INSTANCES_FAILED]).shown == []


def test_failure_is_added_when_the_run_recorded_none(store):
    leave_stack(store, "rolled_back")
    replay(store.root, [RUN_INSTANCES_FAILED])
    document = store.load("s1")
    assert document["status"] == "rolled_back"
    assert document["failure"]["error_code"] == "InsufficientInstanceCapacity"


def test_corrupt_state_is_left_alone(store):
    os.makedirs(store.root, exist_ok=True)
    with open(os.path.join(store.root, "s1.json"), "w") as handle:
        handle.write("{not json")
    assert replay(store.root, [RUN_INSTANCES_FAILED]).shown == []
    assert open(os.path.join(store.root, "s1.json")).read() == "{not json"


def test_unwritable_store_still_shows_the_report(store, monkeypatch):
    from ansible_collections.geusemaker.stack.plugins.module_utils import state_store, state_store_local

    leave_stack(store, "failed")

    def refuse(self, *args, **kwargs):
        raise state_store.StateError("read-only file system")

    monkeypatch.setattr(state_store_local.LocalStateStore, "save", refuse)
    monkeypatch.setattr(state_store_local.LocalStateStore, "save_report", refuse)
    display = replay(store.root, [RUN_INSTANCES_FAILED])
    assert "cannot record the failure" in display.warnings[0]
    assert "Recovery report: not written (read-only file system)" in display.shown[0]
    assert "i-1" in display.shown[0]


def test_writes_under_a_lock_it_takes_and_then_releases(store):
    leave_stack(store, "failed")
    replay(store.root, [RUN_INSTANCES_FAILED])
    assert os.path.exists(os.path.join(store.root, "s1.recovery.md"))
    assert store.read_lock("s1") is None


def test_writes_under_the_runs_own_lock_and_leaves_it(store):
    leave_stack(store, "failed")
    lock, _unused = store.acquire_lock("s1", os.getpid())
    replay(store.root, [RUN_INSTANCES_FAILED])
    assert store.load("s1")["failure"]["error_code"] == "InsufficientInstanceCapacity"
    assert store.read_lock("s1")["token"] == lock["token"]


def test_another_live_run_holding_the_lock_gets_nothing_written(store):
    leave_stack(store, "failed")
    before = open(os.path.join(store.root, "s1.json")).read()
    holder = subprocess.Popen(["sleep", "60"])
    try:
        store.acquire_lock("s1", holder.pid)
        display = replay(store.root, [RUN_INSTANCES_FAILED])
    finally:
        holder.kill()
        holder.wait()
    assert display.shown == [] and "another run holds it" in display.warnings[0]
    assert open(os.path.join(store.root, "s1.json")).read() == before
    assert not os.path.exists(os.path.join(store.root, "s1.recovery.md"))


def test_a_change_between_the_callbacks_read_and_its_save_is_kept(store, monkeypatch):
    # The callback adds the failure over the version it read: a run that wrote in between (another host's
    # cleanup, a retry) keeps its document, and the callback's copy is only kept beside it.
    from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore

    ledger = leave_stack(store, "failed")
    read, writes = LocalStateStore.load_versioned, ["rolling_back"]

    def read_then_another_run_writes(self, stack_name, quarantine=True):
        answer = read(self, stack_name, quarantine=quarantine)
        if writes:
            ledger.set_status(writes.pop())
        return answer

    monkeypatch.setattr(LocalStateStore, "load_versioned", read_then_another_run_writes)
    display = replay(store.root, [RUN_INSTANCES_FAILED])
    document = store.load("s1")
    assert document["status"] == "rolling_back" and document["failure"] is None
    assert "cannot record the failure" in display.warnings[0] and "changed" in display.warnings[0]
    assert [name for name in os.listdir(store.root) if ".conflict-" in name]
