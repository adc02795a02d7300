"""Issue 12 acceptance: the data outlives what it runs on. keep_data keeps the file system, the data volume and the
secrets, and the next deploy uses them; spot instances are persistent and stop on interruption, and their request
is cancelled before they are terminated; a stack can be stopped and started."""

import time

from tests.integration.conftest import assert_rolled_back, load_state
from tests.support import consistency
from tests.support.fault_proxy import Rule
from tests.support.health_stub import connect_to, start_stub

DATA = {"file_system", "volume", "ssm_parameter"}
CANCELLED = (
    '<CancelSpotInstanceRequestsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId>'
    '<spotInstanceRequestSet/></CancelSpotInstanceRequestsResponse>'
)


def data_volume(aws, stack):
    [volume] = aws.ec2.describe_volumes(VolumeIds=aws.stack_resources(stack)["volume"])["Volumes"]
    return volume


def test_keep_data_keeps_data_and_the_next_deploy_uses_it(aws, proxy, playbook, deploy_vars, state_dir):
    stack = "keep"
    late = consistency.turned_on(proxy)  # AWS's late consistency (on by default, tests/support/consistency.py)
    first = playbook("deploy", stack_name=stack, **deploy_vars)
    assert first.rc == 0, first.output[-4000:]
    assert consistency.acted(late) == []
    held, secrets, volume = aws.stack_resources(stack), aws.secrets(stack), data_volume(aws, stack)
    assert volume["Encrypted"] and volume["VolumeType"] == "gp3" and volume["Size"] == 100
    assert [a["InstanceId"] for a in volume["Attachments"]] == held["instance"]

    kept = playbook("destroy", stack_name=stack, keep_data=True)
    assert kept.rc == 0, kept.output[-4000:]
    assert aws.stack_resources(stack) == {kind: ids for kind, ids in held.items() if kind in DATA}
    state = load_state(state_dir, stack)
    assert {e["type"] for e in state["resources"] if e["status"] == "retained"} == DATA

    # The next deploy finds the kept data by its tags, in the volume's zone, with the same secrets. The role is new:
    # AWS shows the kept file system's policy with the old role's unique id in place of its ARN (a deleted
    # principal), so the policy must be written again, while IAM has not yet propagated the new role.
    proxy.add(Rule("DescribeFileSystemPolicy", rewrite=[(r"arn:aws:iam::[0-9]+:role/[^\"\\]+", "AROA3EXAMPLEDELETEDROLE")]))
    late = consistency.turn_on(proxy)
    again = playbook("deploy", stack_name=stack, **deploy_vars)
    assert again.rc == 0, again.output[-4000:]
    assert consistency.acted(late) == []
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
    [launch] = [c.body for c in consistency.settled(proxy.calls) if c.operation == "RunInstances"]
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


def test_stop_start_and_destroy_from_stopped(aws, proxy, playbook, deploy_vars, state_dir):
    stack = "pause"
    late = consistency.turned_on(proxy)
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    assert run.rc == 0, run.output[-4000:]
    assert consistency.acted(late) == []
    held = aws.stack_resources(stack)

    def instance():
        return aws.ec2.describe_instances(InstanceIds=held["instance"])["Reservations"][0]["Instances"][0]

    def instance_state():
        return instance()["State"]["Name"]

    def recorded_url():
        return load_state(state_dir, stack)["outputs"]["service_url"]

    assert recorded_url() == "https://" + instance()["PublicDnsName"]

    # A spot interruption stops the instance behind the collection's back, and only EC2 may start it again: check,
    # start and list say it waits for spot capacity, with the way out, and nobody sends StartInstances.
    aws.ec2.stop_instances(InstanceIds=held["instance"])
    proxy.add(Rule("DescribeInstances", rewrite=[(r"Client\.UserInitiatedShutdown", "Server.SpotInstanceShutdown")]))
    proxy.add(Rule("StartInstances", error="IncorrectSpotRequestState", message="EC2 restarts an interrupted spot instance"))
    for name in ("check", "start"):
        refused = playbook(name, stack_name=stack, health_check_connect_to=deploy_vars["health_check_connect_to"], health_check_timeout=10)
        assert refused.rc != 0 and "waiting for spot capacity" in refused.output, refused.output[-3000:]
        assert "-e keep_data=true" in refused.output and "-e use_spot=false" in refused.output
    assert proxy.count("StartInstances") == 0 and load_state(state_dir, stack)["status"] == "degraded"
    listed = playbook("list")
    assert listed.rc == 0 and "waiting_for_spot_capacity" in listed.stdout, listed.stdout[-2000:]

    # EC2 starts it again when capacity returns, at another address: check follows it and records it.
    proxy.clear()
    before = recorded_url()
    aws.ec2.start_instances(InstanceIds=held["instance"])
    assert instance()["PublicDnsName"] and "https://" + instance()["PublicDnsName"] != before
    assert "running (address moved)" in playbook("list").stdout
    checked = playbook("check", stack_name=stack, health_check_connect_to=deploy_vars["health_check_connect_to"], health_check_timeout=20)
    assert checked.rc == 0 and "the address moved from " + before in checked.output, checked.output[-3000:]
    assert recorded_url() == "https://" + instance()["PublicDnsName"]
    assert load_state(state_dir, stack)["status"] == "deployed" and proxy.operations(mutating_only=True) == []

    stopped = playbook("stop", stack_name=stack)
    assert stopped.rc == 0, stopped.output[-4000:]
    assert instance_state() == "stopped" and load_state(state_dir, stack)["status"] == "stopped"
    assert aws.stack_resources(stack) == held

    checked = playbook("check", stack_name=stack, health_check_connect_to=deploy_vars["health_check_connect_to"])
    assert checked.rc != 0 and "is stopped" in checked.output, checked.output[-3000:]
    assert load_state(state_dir, stack)["status"] == "stopped"

    started = playbook("start", stack_name=stack, health_check_connect_to=deploy_vars["health_check_connect_to"], health_check_timeout=20)
    assert started.rc == 0, started.output[-4000:]
    assert instance_state() == "running" and load_state(state_dir, stack)["status"] == "deployed"
    assert recorded_url() == "https://" + instance()["PublicDnsName"]  # the new address, from EC2
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
        run = playbook("deploy", stack_name="early", **dict(deploy_vars, health_check_connect_to=connect_to(url), health_check_timeout=900))
        elapsed = time.monotonic() - started
    finally:
        stop()
    # Waiting out the health check would take 900 s; the whole deploy and its rollback take well under half that.
    assert elapsed < 450, elapsed
    state = assert_rolled_back(aws, state_dir, "early", run)
    assert (state["failure"]["error_code"], state["failure"]["critical"]) == ("BootFailed", True)
    assert "stage secrets (secrets_failed)" in state["failure"]["error_message"]
    # The boot log is not public any more: the message says where to read it.
    assert "sudo tail -n 50 /var/log/geusemaker-boot.log" in state["failure"]["error_message"]
