"""Issue 13, in-process: the heartbeat that keeps a run's lock alive from inside a module, and the commands and
summary a job shows and publishes, named as the user runs the playbooks."""

import os

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import (
    commands_of_run,
    leftovers_warning,
    playbook_command,
    recovery_options,
    stack_commands,
    summary,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import Heartbeat, RunGone
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    LockLost,
    state_location,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore

S3 = state_location({"state_backend": "s3", "state_bucket": "team-state"})
S3_PREFIXED = state_location({"state_backend": "s3", "state_bucket": "team-state", "state_prefix": "prod"})


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_heartbeat_refreshes_at_its_interval_and_stops_when_the_lock_is_taken(tmp_path):
    store = LocalStateStore(str(tmp_path), hostname="here")
    other = LocalStateStore(str(tmp_path), hostname="elsewhere")
    lock, _unused = store.acquire_lock("s1", os.getpid(), ttl=8)  # refresh every 2 s
    clock = Clock()
    beat = Heartbeat(store, "s1", lock["token"], clock=clock)
    path = store._lock_path("s1")

    def age(seconds):
        os.utime(path, (os.stat(path).st_mtime - seconds,) * 2)

    beat()  # the first call beats
    age(50)
    clock.now = 1.0
    beat()  # within the interval: nothing read, nothing written
    assert store.read_lock("s1")["age"] > 40
    clock.now = 3.0
    beat()
    assert store.read_lock("s1")["age"] < 5
    # Another run broke the lock as stale and took it: the next beat stops the module, and every later call too.
    age(50)
    taken, _unused = other.acquire_lock("s1", 1)
    clock.now = 6.0
    with pytest.raises(LockLost):
        beat()
    with pytest.raises(LockLost):
        beat(after_save=True)
    assert other.read_lock("s1")["token"] == taken["token"]


def test_heartbeat_stops_a_module_whose_run_is_gone(tmp_path):
    store = LocalStateStore(str(tmp_path), hostname="here")
    lock, _unused = store.acquire_lock("s1", 999999)  # this host, a pid that does not exist: a killed run
    beat = Heartbeat(store, "s1", lock["token"], clock=Clock())
    with pytest.raises(RunGone, match="is gone, killed or cancelled"):
        beat()


def test_heartbeat_without_a_token_does_nothing(tmp_path):
    store = LocalStateStore(str(tmp_path))
    Heartbeat(store, "s1", None)()
    assert store.read_lock("s1") is None


def test_commands_as_each_user_runs_them():
    assert playbook_command("destroy", "demo") == "ansible-playbook playbooks/destroy.yml -e stack_name=demo"
    assert playbook_command("destroy", "demo", {"style": "collection"}, S3) == (
        "ansible-playbook geusemaker.stack.destroy -e stack_name=demo -e state_backend=s3 -e state_bucket=team-state")
    assert playbook_command("check", "demo", {"style": "collection"}, S3_PREFIXED).endswith("-e state_prefix=prod/")
    assert playbook_command("destroy", "demo", {"style": "awx", "destroy_job_template": "Team destroy"}, S3) == (
        'launch the job template "Team destroy" with stack_name=demo, state_bucket=team-state')
    assert set(stack_commands("demo", {"style": "awx"})) == {"deploy", "destroy", "check"}
    local = state_location({"state_dir": "/srv/state dir"})
    assert playbook_command("deploy", "demo", None, local) == (
        "ansible-playbook playbooks/deploy.yml -e stack_name=demo -e state_dir='/srv/state dir'")


DOCUMENT = {
    "stack_name": "demo", "status": "failed", "region": "us-east-1",
    "resources": [{"type": "vpc", "id": "vpc-1", "status": "present", "provenance": "created"},
                  {"type": "subnet", "id": "subnet-1", "status": "present", "provenance": "created"}],
}


@pytest.mark.parametrize("run_vars, commands", [
    ({"playbook_dir": "/home/me/geusemaker/playbooks"}, {"style": "checkout"}),
    ({"playbook_dir": "/home/me/.ansible/collections/ansible_collections/geusemaker/stack/playbooks"},
     {"style": "collection"}),
    ({"playbook_dir": "/runner/project/playbooks", "awx_job_id": 0}, {"style": "awx"}),
    ({"playbook_dir": "/runner/project/playbooks", "tower_job_id": 12, "destroy_job_template": "Team destroy"},
     {"style": "awx", "destroy_job_template": "Team destroy"}),
    ({"playbook_dir": "/x/ansible_collections/geusemaker/stack/playbooks", "awx_job_id": 3, "command_style": "checkout",
      "deploy_job_template": "", "check_job_template": "Team check"},
     {"style": "checkout", "check_job_template": "Team check"}),
    ({}, {"style": "checkout"}),
])
def test_the_commands_of_a_run_come_from_its_variables(run_vars, commands):
    # AWX's job id (0 counts: it is set), the playbook's directory and -e overrides: what the stack_state and
    # state_migrate action plugins give their module, so no play spells the commands out (issue 21).
    assert commands_of_run(run_vars) == commands


def test_summary_is_what_a_job_publishes():
    found = summary(DOCUMENT, "s3://team-state/geusemaker/stacks/demo.json", {"style": "awx"}, S3)
    assert set(found) == {"stack_name", "status", "state_location", "resources", "recovery_options"}
    assert found["resources"] == [{"type": "vpc", "id": "vpc-1", "status": "present"},
                                  {"type": "subnet", "id": "subnet-1", "status": "present"}]
    assert any(option.startswith("Roll back and abort: launch the job template \"GeuseMaker destroy\"")
               for option in found["recovery_options"])
    assert not any("ansible-playbook" in option for option in found["recovery_options"])
    assert summary(dict(DOCUMENT, status="deployed"), "x", None, None)["recovery_options"] == []


def test_recovery_options_and_leftovers_name_the_users_commands():
    options = dict(recovery_options(DOCUMENT, {"style": "collection"}, None))
    assert options["Retry the failed step"].startswith("ansible-playbook geusemaker.stack.deploy -e stack_name=demo")
    awx = dict(recovery_options(DOCUMENT, {"style": "awx"}, S3))
    assert awx["Retry the failed step"].startswith('launch the job template "GeuseMaker deploy"')
    warning = leftovers_warning(DOCUMENT, {"style": "awx"}, S3)
    assert warning.endswith('launch the job template "GeuseMaker destroy" with stack_name=demo, state_bucket=team-state')


def test_recovery_callback_writes_the_report_to_s3_with_the_users_commands(aws):
    import boto3

    from ansible_collections.geusemaker.stack.plugins.callback.recovery import CallbackModule
    from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
    from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_s3 import S3StateStore
    from tests.unit.test_recovery_callback import RUN_INSTANCES_FAILED, Display, Result, Task

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="team-state")
    store = S3StateStore(client, "team-state")
    ledger = Ledger.open(store, "s1", "us-east-1")
    ledger.record("vpc", "vpc-1", "created")
    ledger.set_status("failed")
    found = {"stack_name": "s1", "state": S3, "aws": {"region": "us-east-1", "endpoint_url": None, "profile": None},
             "commands": {"style": "collection"}}
    callback = CallbackModule()
    callback._display = Display()
    callback.v2_runner_on_ok(Result(Task("Lock the stack against concurrent runs", "geusemaker.stack.stack_lock"),
                                    {"geusemaker_stack": found, "token": "t"}))
    callback.v2_runner_on_failed(RUN_INSTANCES_FAILED)
    callback.v2_playbook_on_stats(None)
    assert callback._display.warnings == []
    assert store.load("s1")["failure"]["error_code"] == "InsufficientInstanceCapacity"
    report = store.read_report("s1")
    assert "State file: s3://team-state/geusemaker/stacks/s1.json" in report
    assert "ansible-playbook geusemaker.stack.destroy -e stack_name=s1 -e state_backend=s3 -e state_bucket=team-state" in report
    assert store.read_lock("s1") is None  # the lock it took for the write is released
