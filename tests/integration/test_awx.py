"""Issue 13, jobs as AWX runs them: the state in S3 (found again from a fresh HOME and state_dir), the session token
as AWX injects it on every call (state traffic included), artifacts through ansible-runner, two concurrent deploys
from two HOMEs, local-to-S3 migration, and a cancelled deploy freed by the lock's TTL from another host."""

import json
import os
import signal
import subprocess
import threading
import time

import boto3
import pytest

from tests.integration.conftest import BIN, REGION, ROOT, aws_env
from tests.support.fault_proxy import FaultProxy, Rule

BUCKET = "geusemaker-state"
PREFIX = "geusemaker/stacks/"
TOKEN = "FwoGZXIvYXdzEXAMPLEtoken//with+special/chars=="
S3_VARS = {"state_backend": "s3", "state_bucket": BUCKET}


@pytest.fixture
def bucket(aws):
    client = boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def fresh_container(tmp_path, name):
    """A new HOME and state_dir: what a fresh execution-environment container has."""
    home = tmp_path / name / "home"
    home.mkdir(parents=True)
    return {"HOME": str(home)}, str(tmp_path / name / "stacks")


def s3_document(bucket, stack):
    return json.loads(bucket.get_object(Bucket=BUCKET, Key=PREFIX + stack + ".json")["Body"].read())


def calls_without_token(proxy):
    return [(c.operation, c.path) for c in proxy.calls
            if (c.headers or {}).get("X-Amz-Security-Token") != TOKEN and not c.path.startswith("/moto-api/")]


def awx_credential_env(name):
    """The environment AWX's AWS credential gives a job: keys, and the token under ``name`` (or both names)."""
    names = ["AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"] if name == "both" else [name]
    env = {"AWS_SECURITY_TOKEN": None, "AWS_SESSION_TOKEN": None}
    env.update({n: TOKEN for n in names})
    return env


def test_s3_state_outlives_the_container_and_every_call_carries_the_token(
        aws, proxy, playbook, bucket, deploy_vars, tmp_path):
    stack = "s3-fresh"
    env, state_dir = fresh_container(tmp_path, "first")
    env.update(awx_credential_env("AWS_SECURITY_TOKEN"))
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", status=500))
    failed = playbook("deploy", stack_name=stack, rollback=False, state_dir=state_dir, env_changes=env, **S3_VARS,
                      **deploy_vars)
    assert failed.rc != 0, failed.output[-3000:]
    assert not os.path.exists(state_dir) or os.listdir(state_dir) == [], "nothing may be written locally"
    document = s3_document(bucket, stack)
    assert document["status"] == "failed"
    held = aws.stack_resources(stack)
    assert held, failed.output[-3000:]
    recorded = {}
    for entry in document["resources"]:
        recorded.setdefault(entry["type"], []).append(entry["id"])
    assert {kind: sorted(ids) for kind, ids in recorded.items()} == held
    # The recovery report is beside the state, naming the S3 state in its commands.
    report = bucket.get_object(Bucket=BUCKET, Key=PREFIX + stack + ".recovery.md")["Body"].read().decode()
    assert "-e state_backend=s3 -e state_bucket=" + BUCKET in report
    # The lock was released.
    assert "Contents" not in bucket.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + stack + ".lock")
    # The token AWX gave as AWS_SECURITY_TOKEN went with every call: EC2, IAM, EFS, SSM, STS and S3 (the state).
    assert proxy.count("*") > 20
    assert {c.service for c in proxy.calls} >= {"ec2", "s3", "sts"}
    assert calls_without_token(proxy) == []

    # A brand-new container: another HOME and state_dir, the same bucket.
    proxy.clear()
    env, state_dir = fresh_container(tmp_path, "second")
    listed = playbook("list", state_dir=state_dir, env_changes=env, **S3_VARS)
    assert listed.rc == 0, listed.output[-3000:]
    assert stack in listed.stdout and "failed" in listed.stdout, listed.stdout[-3000:]
    destroyed = playbook("destroy", stack_name=stack, state_dir=state_dir, env_changes=env, **S3_VARS)
    assert destroyed.rc == 0, destroyed.output[-3000:]
    assert aws.stack_resources(stack) == {}, destroyed.output[-3000:]
    assert s3_document(bucket, stack)["status"] == "destroyed"


def test_two_deploys_from_two_homes_one_runs_the_other_touches_nothing(aws, emulator, playbook, bucket, deploy_vars,
                                                                       tmp_path):
    stack = "s3-race"
    proxies = [FaultProxy(upstream=emulator), FaultProxy(upstream=emulator)]
    try:
        started = []
        for index, proxy in enumerate(proxies):
            env, state_dir = fresh_container(tmp_path, "home{0}".format(index))
            env["AWS_ENDPOINT_URL"] = proxy.url
            started.append(playbook.start("deploy", stack_name=stack, state_dir=state_dir, env_changes=env, **S3_VARS,
                                          **deploy_vars))
        outputs = ["".join(process.communicate(timeout=600)) for process in started]
    finally:
        for proxy in proxies:
            proxy.stop()
    codes = [process.returncode for process in started]
    assert sorted(code != 0 for code in codes) == [False, True], [out[-2000:] for out in outputs]
    loser = codes.index(next(code for code in codes if code != 0))
    assert "locked by another run" in outputs[loser], outputs[loser][-3000:]
    mutating = [op for op in proxies[loser].operations(mutating_only=True) if not op.startswith(("PUT ", "DELETE "))]
    assert mutating == [], mutating
    # The loser's only writes were its attempt at the lock (refused by IfNoneMatch): no state write.
    s3_writes = [c.path for c in proxies[loser].calls if c.method in ("PUT", "DELETE") and c.service == "s3"]
    assert all(path.endswith(".lock") for path in s3_writes), s3_writes
    assert s3_document(bucket, stack)["status"] == "deployed"
    destroyed = playbook("destroy", stack_name=stack, **S3_VARS)
    assert destroyed.rc == 0 and aws.stack_resources(stack) == {}, destroyed.output[-3000:]


def test_state_changed_by_someone_else_between_two_saves_is_refused(aws, proxy, playbook, bucket, deploy_vars):
    stack = "s3-conflict"
    key = PREFIX + stack + ".json"

    def overwrite(_call):  # someone else writes the state while the deploy creates its first subnet
        document = s3_document(bucket, stack)
        document["note"] = "written by someone else"
        bucket.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())

    proxy.add(Rule("CreateSubnet", times=1, hook=overwrite))
    run = playbook("deploy", stack_name=stack, rollback=False, **S3_VARS, **deploy_vars)
    assert run.rc != 0, run.output[-3000:]
    assert "was changed by someone else since this run read it" in run.output, run.output[-3000:]
    # Their record is still there; this run's is kept beside it, with the subnet it had just created.
    assert s3_document(bucket, stack)["note"] == "written by someone else"
    kept = [o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET, Prefix=key + ".conflict-")["Contents"]]
    assert len(kept) == 1, kept
    ours = json.loads(bucket.get_object(Bucket=BUCKET, Key=kept[0])["Body"].read())
    assert "note" not in ours
    assert [e["id"] for e in ours["resources"] if e["type"] == "subnet"] == aws.stack_resources(stack)["subnet"][:1]
    assert "RunInstances" not in proxy.operations(), "the run must stop at the refused save"
    destroyed = playbook("destroy", stack_name=stack, **S3_VARS)
    assert destroyed.rc == 0 and aws.stack_resources(stack) == {}, destroyed.output[-3000:]


def test_migrate_state_keeps_every_field(aws, proxy, playbook, bucket, deploy_vars, state_dir):
    stack = "migrated"
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", status=500))
    failed = playbook("deploy", stack_name=stack, rollback=False, **deploy_vars)
    assert failed.rc != 0
    with open(os.path.join(state_dir, stack + ".json")) as handle:
        local = json.load(handle)
    with open(os.path.join(state_dir, stack + ".recovery.md")) as handle:
        local_report = handle.read()
    proxy.clear()
    moved = playbook("migrate_state", stack_name=stack, source_dir=state_dir, **S3_VARS)
    assert moved.rc == 0, moved.output[-3000:]
    assert s3_document(bucket, stack) == local
    # The report is the same, written for its new place: its state location and its commands name the bucket.
    report = bucket.get_object(Bucket=BUCKET, Key=PREFIX + stack + ".recovery.md")["Body"].read().decode()
    assert "State file: s3://{0}/{1}{2}.json".format(BUCKET, PREFIX, stack) in report
    assert "-e stack_name={0} -e state_backend=s3 -e state_bucket={1}".format(stack, BUCKET) in report
    assert state_dir not in report
    assert report.split("State file:")[0] == local_report.split("State file:")[0]
    assert report.split("## Recovery options")[0].split("\n", 3)[3] == local_report.split("## Recovery options")[0].split("\n", 3)[3]
    assert not os.path.exists(os.path.join(state_dir, stack + ".json"))
    assert [n for n in os.listdir(state_dir) if n.startswith(stack + ".json.migrated-")]
    again = playbook("migrate_state", stack_name=stack, source_dir=state_dir, **S3_VARS)
    assert again.rc != 0 and "has no state" in again.output, again.output[-3000:]
    destroyed = playbook("destroy", stack_name=stack, **S3_VARS)
    assert destroyed.rc == 0 and aws.stack_resources(stack) == {}, destroyed.output[-3000:]


# ---------------------------------------------------------------------------------------------------------------
# Through ansible-runner, as AWX runs a job
# ---------------------------------------------------------------------------------------------------------------

def runner_job(tmp_path, monkeypatch, endpoint, playbook, extravars, credential, cancel=None, name="job"):
    """Run a playbook as AWX does: ansible-runner, a private data dir, survey-style extra vars (strings), AWX's
    credential variables in the environment. Returns (runner, stdout, artifacts of the geusemaker key)."""
    import ansible_runner

    home = tmp_path / name / "home"
    home.mkdir(parents=True)
    # This process keeps its own AWS_* (the health stub reads SSM through AWS_ENDPOINT_URL); the job gets its own.
    for key in [k for k in os.environ if k.startswith("ANSIBLE_") or k in ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    envvars = dict(aws_env(endpoint), HOME=str(home), ANSIBLE_NOCOLOR="1")
    envvars.update({k: v for k, v in awx_credential_env(credential).items() if v is not None})
    pdd = tmp_path / name / "runner"
    pdd.mkdir(parents=True)
    runner = ansible_runner.run(
        private_data_dir=str(pdd), project_dir=ROOT, playbook=os.path.join(ROOT, "playbooks", playbook),
        inventory=os.path.join(ROOT, "inventory", "hosts.yml"), extravars=extravars, envvars=envvars, quiet=True,
        timeout=600, cancel_callback=cancel)
    stdout = runner.stdout.read()
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    artifacts = stats[-1]["event_data"].get("artifact_data", {}) if stats else {}
    return runner, stdout, artifacts.get("geusemaker")


def survey(stack, **more):
    """Extra vars as an AWX survey gives them: text answers, multiple choice 'true'/'false'."""
    values = {"stack_name": stack, "aws_region": REGION, "state_backend": "s3", "state_bucket": BUCKET,
              "state_prefix": PREFIX, "awx_job_id": 4711, "lock_ttl": 120}
    values.update(more)
    for name in ("allowed_cidrs", "ssh_cidrs"):  # a textarea answer: one CIDR per line
        if isinstance(values.get(name), list):
            values[name] = "\n".join(values[name])
    return values


def credentials():
    for index, name in enumerate(["AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN", "both"]):
        yield pytest.param(name, marks=[] if index == 0 else [pytest.mark.full_only], id=name)


@pytest.mark.parametrize("credential", list(credentials()))
def test_runner_job_artifacts_hints_and_token(aws, proxy, bucket, deploy_vars, tmp_path, monkeypatch, credential):
    stack = "awx-" + credential.lower().replace("_", "-")[:12]
    job_vars = dict(deploy_vars, rollback="false", use_spot="false", health_check_timeout="20",
                    allowed_cidrs=["203.0.113.0/24", "198.51.100.0/24"])
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", status=500))
    runner, out, artifact = runner_job(tmp_path, monkeypatch, proxy.url, "deploy.yml", survey(stack, **job_vars),
                                       credential, name="fail")
    assert runner.status == "failed" and runner.rc != 0, out[-3000:]
    # The failed job's artifacts, and its hints in the job output, named as AWX users run them.
    assert artifact["stack_name"] == stack and artifact["status"] == "failed", artifact
    assert artifact["state_location"] == "s3://{0}/{1}{2}.json".format(BUCKET, PREFIX, stack)
    assert {r["type"] for r in artifact["resources"]} >= {"vpc", "subnet", "security_group"}
    # The survey's CIDRs, one per line, are the group's sources of HTTPS.
    [group_id] = aws.stack_resources(stack)["security_group"]
    [group] = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    https = [p for p in group["IpPermissions"] if p.get("FromPort") == 443]
    assert {r["CidrIp"] for p in https for r in p["IpRanges"]} == {"203.0.113.0/24", "198.51.100.0/24"}, group
    assert all(set(r) == {"type", "id", "status"} for r in artifact["resources"])
    assert any('job template "GeuseMaker destroy"' in option for option in artifact["recovery_options"]), artifact
    assert "Recovery options" in out and 'job template "GeuseMaker destroy"' in out, out[-3000:]
    assert "ansible-playbook playbooks/" not in out
    assert calls_without_token(proxy) == []
    with_state = [c for c in proxy.calls if c.service == "s3"]
    assert with_state and all(c.headers.get("X-Amz-Security-Token") == TOKEN for c in with_state)

    proxy.clear()
    runner, out, artifact = runner_job(tmp_path, monkeypatch, proxy.url, "destroy.yml", survey(stack), credential,
                                       name="destroy")
    assert runner.status == "successful", out[-3000:]
    assert artifact["status"] == "destroyed" and artifact["recovery_options"] == [], artifact
    assert aws.stack_resources(stack) == {}
    assert calls_without_token(proxy) == []


def test_runner_job_success_publishes_the_stack(aws, proxy, bucket, deploy_vars, tmp_path, monkeypatch):
    stack = "awx-ok"
    job_vars = dict(deploy_vars, use_spot="false", health_check_timeout="20")
    runner, out, artifact = runner_job(tmp_path, monkeypatch, proxy.url, "deploy.yml", survey(stack, **job_vars),
                                       "AWS_SESSION_TOKEN")
    assert runner.status == "successful", out[-3000:]
    assert artifact["status"] == "deployed" and artifact["recovery_options"] == [], (artifact, out[-4000:])
    assert {r["status"] for r in artifact["resources"]} == {"present"}
    # The debug output is JSON: its quotes are escaped.
    assert ('Destroy: launch the job template \\"GeuseMaker destroy\\" with stack_name=awx-ok, state_bucket={0}'.format(BUCKET)
            in out), out[-3000:]
    destroyed = runner_job(tmp_path, monkeypatch, proxy.url, "destroy.yml", survey(stack), "AWS_SESSION_TOKEN",
                           name="destroy")
    assert destroyed[0].status == "successful" and aws.stack_resources(stack) == {}, destroyed[1][-3000:]


# ---------------------------------------------------------------------------------------------------------------
# Cancel: a deploy on S3 killed mid-run; a destroy from a fresh container on another host frees it by the TTL
# ---------------------------------------------------------------------------------------------------------------

LOCK_TTL = 8
# (moment, the call at which the deploy is killed, how)
# (moment, the call the deploy is killed in (and how many of it to let by), how). The call is held a second, then
# forwarded; the kill comes while the deploy waits for its answer.
KILLS = [
    ("network", "CreateSubnet", 1, "cancel"),
    ("storage", "CreateMountTarget", 0, "sigkill"),
    ("instance-wait", "DescribeInstanceStatus", 0, "cancel"),
    ("rollback", "DeleteSubnet", 0, "sigkill"),
]


def playbook_pids(pdd):
    """The ansible-playbook processes of the runner job whose private data dir is ``pdd``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/{0}/cmdline".format(name), "rb") as handle:
                    cmdline = handle.read().decode("utf-8", "replace")
            except OSError:
                continue
            if "ansible-playbook" in cmdline and str(pdd) in cmdline:
                found.append(int(name))
    return found


def kills():
    for index, (moment, _operation, _skip, how) in enumerate(KILLS):
        marks = [pytest.mark.figure("2 crash")] + ([] if index == 2 else [pytest.mark.full_only])
        yield pytest.param(index, id="{0}-{1}".format(moment, how), marks=marks)


@pytest.mark.parametrize("index", list(kills()))
def test_cancelled_deploy_is_freed_by_the_ttl_and_destroy_leaves_nothing(aws, proxy, bucket, deploy_vars, tmp_path,
                                                                         monkeypatch, index):
    moment, operation, skip, how = KILLS[index]
    stack = "cancel-" + moment
    reached = threading.Event()
    proxy.add(Rule(operation, delay=1, skip=skip, times=1, hook=lambda _call: reached.set()))
    if moment == "rollback":  # fail at the instance, so the rollback runs, and is killed in it
        proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", status=500))
    job_vars = dict(deploy_vars, use_spot="false", lock_ttl=LOCK_TTL)

    def cancel():
        if not reached.is_set():
            return False
        if how == "sigkill":  # the whole process group, at once: no rescue, no always
            for pid in playbook_pids(pdd):
                try:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return False
        return True  # ansible-runner's cancel: what AWX does

    import ansible_runner

    home = tmp_path / "deploy" / "home"
    home.mkdir(parents=True)
    # This process keeps its own AWS_* (the health stub reads SSM through AWS_ENDPOINT_URL); the job gets its own.
    for key in [k for k in os.environ if k.startswith("ANSIBLE_") or k in ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    pdd = tmp_path / "deploy" / "runner"
    pdd.mkdir(parents=True)
    envvars = dict(aws_env(proxy.url), HOME=str(home), ANSIBLE_NOCOLOR="1", AWS_SESSION_TOKEN=TOKEN)
    runner = ansible_runner.run(
        private_data_dir=str(pdd), project_dir=ROOT, playbook=os.path.join(ROOT, "playbooks", "deploy.yml"),
        inventory=os.path.join(ROOT, "inventory", "hosts.yml"), extravars=survey(stack, **job_vars),
        envvars=envvars, quiet=True, timeout=600, cancel_callback=cancel, settings={"pexpect_timeout": 0.2})
    out = runner.stdout.read()
    assert reached.is_set(), out[-3000:]
    assert runner.status in ("canceled", "failed"), (runner.status, out[-3000:])
    assert "PLAY RECAP" not in out, "the deploy was not killed mid-run"
    lock = bucket.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + stack + ".lock").get("Contents")
    assert lock, "the killed deploy should have left its lock"

    # A fresh container on another host: the lock's pid check cannot help; only the TTL frees it.
    proxy.clear()
    env = dict(aws_env(aws.endpoint), AWS_SESSION_TOKEN=TOKEN, PATH=BIN + os.pathsep + os.environ["PATH"],
               HOME=str(tmp_path / "destroy"), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    os.makedirs(env["HOME"])
    command = ["unshare", "-u", "--", "bash", "-c", 'hostname "$1"; shift; exec "$@"', "destroy", "fresh-container",
               os.path.join(BIN, "ansible-playbook"), "playbooks/destroy.yml", "-e",
               json.dumps(dict(stack_name=stack, state_dir=str(tmp_path / "destroy" / "stacks"), **S3_VARS))]
    deadline = time.monotonic() + LOCK_TTL + 60
    attempts = []
    while True:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        attempts.append(done)
        if done.returncode == 0 or time.monotonic() > deadline or "locked by another run" not in done.stdout + done.stderr:
            break
        time.sleep(2)
    last = attempts[-1]
    assert last.returncode == 0, (len(attempts), last.stdout[-3000:], last.stderr[-2000:])
    assert "force_unlock" not in " ".join(command)
    assert "over the {0}s TTL".format(LOCK_TTL) in last.stdout + last.stderr, (last.stdout + last.stderr)[-3000:]
    assert aws.stack_resources(stack) == {}, last.stdout[-3000:]
    assert s3_document(bucket, stack)["status"] == "destroyed"
