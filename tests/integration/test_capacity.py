"""Issues 10 and 19: a launch tries spot in each of the stack's zones, then on-demand in each, before it fails, and the ledger
records where the instance landed. (Refused everywhere, the run rolls back: test_rollback.py, run_instances.)"""

from tests.integration.conftest import load_state
from tests.support import consistency
from tests.support.fault_proxy import Rule


def test_refused_in_the_first_zone_the_instance_lands_in_the_second(aws, proxy, playbook, deploy_vars, state_dir):
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", times=1))
    run = playbook("deploy", stack_name="roomy", **deploy_vars)
    assert run.rc == 0, run.output[-3000:]
    state = load_state(state_dir, "roomy")
    subnets = {e["id"]: e["availability_zone"] for e in state["resources"] if e["type"] == "subnet"}
    [instance] = [e for e in state["resources"] if e["type"] == "instance"]
    bodies = [c.body for c in consistency.settled(proxy.calls) if c.operation == "RunInstances"]
    tried = [("InstanceMarketOptions" in body, next(s for s in subnets if s in body)) for body in bodies]
    first = tried[0][1]
    [second] = [s for s in subnets if s != first]
    assert tried == [(True, first), (True, second)]  # spot in the next zone before on-demand anywhere
    assert (instance["subnet_id"], instance["availability_zone"], instance["lifecycle"]) == (second, subnets[second], "spot")
    described = aws.ec2.describe_instances(InstanceIds=[instance["id"]])["Reservations"][0]["Instances"][0]
    assert described["SubnetId"] == second
    assert "(InsufficientInstanceCapacity); launched spot in {0}".format(second) in run.output
