"""Issue 12 acceptance: the data outlives what it runs on. keep_data keeps the file system, the data volume and the
secrets, and the next deploy uses them; spot instances are persistent and stop on interruption, and their request
is cancelled before they are terminated; a stack can be stopped and started."""

import time

from tests.integration.conftest import assert_rolled_back, load_state
from tests.support.fault_proxy import Rule
from tests.support.health_stub import start_stub

DATA = {"file_system", "volume", "ssm_parameter"}
CANCELLED = (
    '<CancelSpotInstanceRequestsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId>'
    '<spotInstanceRequestSet/></CancelSpotInstanceRequestsResponse>'
)


def data_volume(aws, stack):
    [volume] = aws.ec2.describe_volumes(VolumeIds=aws.stack_resources(stack)["volume"])["Volumes"]
    return volume


def test_keep_data_keeps_data_and_the_next_deploy_uses_it(aws, playbook, deploy_vars, state_dir):
    stack = "keep"
    first = playbook("deploy", stack_name=stack, **deploy_vars)
    assert first.rc == 0, first.output[-4000:]
    held, secrets, volume = aws.stack_resources(stack), aws.secrets(stack), data_volume(aws, stack)
    assert volume["Encrypted"] and volume["VolumeType"] == "gp3" and volume["Size"] == 100
    assert [a["InstanceId"] for a in volume["Attachments"]] == held["instance"]

    kept = playbook("destroy", stack_name=stack, keep_data=True)
    assert kept.rc == 0, kept.output[-4000:]
    assert aws.stack_resources(stack) == {kind: ids for kind, ids in held.items() if kind in DATA}
    state = load_state(state_dir, stack)
    assert {e["type"] for e in state["resources"] if e["status"] == "retained"} == DATA

    # The next deploy finds the kept data by its tags, in the volume's zone, with the same secrets.
    again = playbook("deploy", stack_name=stack, **deploy_vars)
    assert again.rc == 0, again.output[-4000:]
    now = aws.stack_resources(stack)
    assert {kind: now[kind] for kind in DATA} == {kind: held[kind] for kind in DATA}
    assert now["instance"] != held["instance"]
    assert aws.secrets(stack) == secrets
    [instance] = aws.ec2.describe_instances(InstanceIds=now["instance"])["Reservations"][0]["Instances"]
    assert instance["Placement"]["AvailabilityZone"] == volume["AvailabilityZone"]
    assert [a["InstanceId"] for a in data_volume(aws, stack)["Attachments"]] == now["instance"]

    # A plain destroy removes the data too.
    gone = playbook("destroy", stack_name=stack)
    assert gone.rc == 0, gone.output[-4000:]
    assert aws.stack_resources(stack) == {}


def test_spot_is_persistent_and_its_request_is_cancelled_before_the_instance_goes(aws, proxy, playbook, deploy_vars):
    stack = "spot"
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    assert run.rc == 0, run.output[-4000:]
    [launch] = [c.body for c in proxy.calls if c.operation == "RunInstances"]
    assert "SpotInstanceType=persistent" in launch and "InstanceInterruptionBehavior=stop" in launch, launch
    # The emulator does not link a spot instance to its request; AWS does.
    proxy.add(Rule("DescribeInstances", rewrite=[(r"<instanceId>(i-[0-9a-f]+)</instanceId>",
                                                  r"<instanceId>\1</instanceId><spotInstanceRequestId>sir-\1</spotInstanceRequestId>")]))
    proxy.add(Rule("CancelSpotInstanceRequests", respond=(200, CANCELLED, {"Content-Type": "text/xml"})))
    destroyed = playbook("destroy", stack_name=stack)
    assert destroyed.rc == 0, destroyed.output[-4000:]
    operations = [c.operation for c in proxy.calls]
    cancel, terminate = operations.index("CancelSpotInstanceRequests"), operations.index("TerminateInstances")
    assert cancel < terminate
    assert "sir-i-" in proxy.calls[cancel].body
    assert aws.stack_resources(stack) == {}


def test_stop_start_and_destroy_from_stopped(aws, playbook, deploy_vars, state_dir):
    stack = "pause"
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    assert run.rc == 0, run.output[-4000:]
    held = aws.stack_resources(stack)

    def instance_state():
        return aws.ec2.describe_instances(InstanceIds=held["instance"])["Reservations"][0]["Instances"][0]["State"]["Name"]

    stopped = playbook("stop", stack_name=stack)
    assert stopped.rc == 0, stopped.output[-4000:]
    assert instance_state() == "stopped" and load_state(state_dir, stack)["status"] == "stopped"
    assert aws.stack_resources(stack) == held

    checked = playbook("check", stack_name=stack, health_check_url=deploy_vars["health_check_url"])
    assert checked.rc != 0 and "is stopped" in checked.output, checked.output[-3000:]
    assert load_state(state_dir, stack)["status"] == "stopped"

    started = playbook("start", stack_name=stack, health_check_url=deploy_vars["health_check_url"], health_check_timeout=20)
    assert started.rc == 0, started.output[-4000:]
    assert instance_state() == "running" and load_state(state_dir, stack)["status"] == "deployed"
    assert aws.stack_resources(stack) == held

    again = playbook("stop", stack_name=stack)
    assert again.rc == 0, again.output[-4000:]
    destroyed = playbook("destroy", stack_name=stack)
    assert destroyed.rc == 0, destroyed.output[-4000:]
    assert aws.stack_resources(stack) == {} and load_state(state_dir, stack)["status"] == "destroyed"


def test_an_early_boot_failure_ends_the_wait_at_once_and_rolls_back(aws, playbook, deploy_vars, state_dir):
    url, stop = start_stub("secrets_failed")
    try:
        started = time.monotonic()
        run = playbook("deploy", stack_name="early", **dict(deploy_vars, health_check_url=url, health_check_timeout=900))
        elapsed = time.monotonic() - started
    finally:
        stop()
    # Waiting out the health check would take 900 s; the whole deploy and its rollback take well under half that.
    assert elapsed < 450, elapsed
    state = assert_rolled_back(aws, state_dir, "early", run)
    assert (state["failure"]["error_code"], state["failure"]["critical"]) == ("BootFailed", True)
    assert "secrets" in state["failure"]["error_message"] and "cannot read" in run.output
