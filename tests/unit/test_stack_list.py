"""list.yml's lines: what EC2 says of a stack's instances now, beside what its state records."""

from ansible_collections.geusemaker.stack.plugins.module_utils import stack_list
from tests.support.aws_calls import always, client_error, on_call
from tests.unit.test_instance import spot_interrupted


def test_the_instance_column_is_what_ec2_says_now(stack, store):
    def line(stack):
        return stack_list.describe_stack(store, stack.stack_name, lambda region: stack.clients, stack.account_id)

    ec2 = stack.clients.ec2
    image_id = ec2.register_image(Name="geusemaker-unit", RootDeviceName="/dev/xvda")["ImageId"]
    result = {"id": ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]}
    stack.record("instance", result["id"], "created", key="instance-0")
    address = ec2.describe_instances(InstanceIds=[result["id"]])["Reservations"][0]["Instances"][0]["PublicDnsName"]
    stack.ledger.document["outputs"] = {"service_url": "https://" + address}  # as stack_state records it
    stack.ledger.set_status("deployed")
    assert line(stack)["instance"] == "running"
    ec2.stop_instances(InstanceIds=[result["id"]])
    ec2.start_instances(InstanceIds=[result["id"]])  # restarted behind the collection's back: a new address
    found = line(stack)
    assert found["status"] == "deployed" and found["instance"] == "running (address moved)"
    ec2.stop_instances(InstanceIds=[result["id"]])
    spot_interrupted(ec2, result["id"])
    found = line(stack)
    assert found["instance"] == "waiting_for_spot_capacity"
    table = stack_list.format_table([found])
    assert table[0].split() == ["STACK", "REGION", "STATUS", "INSTANCE", "RESOURCES", "USD/HOUR", "AGE", "FAILURE"]
    assert table[1].split()[:4] == [stack.stack_name, "us-east-1", "deployed", "waiting_for_spot_capacity"]
    on_call(ec2, "DescribeInstances", always(client_error("RequestLimitExceeded", "DescribeInstances")))
    assert stack_list.instance_condition(stack.clients, stack.ledger.document) is None


def test_a_stack_without_instances_has_none(stack):
    assert stack_list.instance_condition(stack.clients, stack.ledger.document) == "none"
