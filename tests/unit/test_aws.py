"""module_utils/aws.py: listings through botocore's paginators, waits as botocore's waiters define them."""

import pytest
from botocore.exceptions import ClientError

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import (
    WaitFailed,
    WaitTimeout,
    error_code,
    list_all,
    retry_decorator,
    wait_until,
)
from tests.support.aws_calls import answer_in_turn, client_error
from tests.unit.conftest import wrapped_client


def test_error_code_falls_back_to_the_class_name():
    assert error_code(client_error("DependencyViolation")) == "DependencyViolation"
    assert error_code(RuntimeError("no connection")) == "RuntimeError"


def test_list_all_walks_every_page(aws):
    ec2 = wrapped_client("ec2")
    calls = answer_in_turn(ec2, "DescribeVpcs", [{"Vpcs": [{"VpcId": "vpc-1"}], "NextToken": "t"}, {"Vpcs": [{"VpcId": "vpc-2"}]}])
    assert [vpc["VpcId"] for vpc in list_all(ec2, "describe_vpcs", "Vpcs", Filters=[])] == ["vpc-1", "vpc-2"]
    assert calls == [{"Filters": []}, {"Filters": [], "NextToken": "t"}]


def test_throttling_codes_of_every_service_are_retried():
    attempts = []

    @retry_decorator()
    def throttled_once():
        attempts.append(1)
        if len(attempts) == 1:
            raise client_error("ThrottlingException")  # SSM's and EFS's code; AWSRetry's own list lacks it
        return "ok"

    assert throttled_once() == "ok" and len(attempts) == 2


@pytest.fixture
def instance_id(aws):
    ec2 = wrapped_client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2, ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


class Clock:
    def __init__(self):
        self.now, self.sleeps, self.beats = 0.0, [], 0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def heartbeat(self):
        self.beats += 1


def test_success_returns_the_deciding_answer(instance_id):
    ec2, instance = instance_id
    clock = Clock()
    response = wait_until(ec2, "instance_running", 10, 2, clock.clock, clock.sleep, InstanceIds=[instance])
    assert response["Reservations"][0]["Instances"][0]["InstanceId"] == instance and clock.sleeps == []


def test_retry_answers_wait_with_heartbeats_until_the_deadline(instance_id):
    ec2, instance = instance_id
    clock = Clock()
    answer_in_turn(ec2, "DescribeInstanceStatus", [client_error("InvalidInstanceID.NotFound"), {"InstanceStatuses": []}])
    with pytest.raises(WaitTimeout) as timeout:
        wait_until(ec2, "instance_status_ok", 7, 2, clock.clock, clock.sleep, heartbeat=clock.heartbeat, InstanceIds=[instance])
    assert clock.sleeps == [2, 2, 2, 1] and clock.beats == 4 and clock.now == 7
    assert timeout.value.response == {"InstanceStatuses": []}


def test_a_failure_state_stops_at_once(instance_id):
    ec2, instance = instance_id
    ec2.terminate_instances(InstanceIds=[instance])
    with pytest.raises(WaitFailed) as failed:
        wait_until(ec2, "instance_running", 10, 2, InstanceIds=[instance])
    assert failed.value.response["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"


def test_an_error_no_acceptor_expects_is_raised(instance_id):
    ec2, instance = instance_id
    answer_in_turn(ec2, "DescribeInstances", [client_error("UnauthorizedOperation", "DescribeInstances")])
    with pytest.raises(ClientError) as refused:
        wait_until(ec2, "instance_running", 10, 2, InstanceIds=[instance])
    assert error_code(refused.value) == "UnauthorizedOperation"


def test_a_describe_of_what_was_just_created_waits_for_ec2_to_know_it(aws):
    """EC2 is eventually consistent: an id it just gave out may be NotFound to a describe for a moment."""
    from ansible_collections.geusemaker.stack.plugins.module_utils.aws import describe_created

    ec2 = wrapped_client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    calls = answer_in_turn(ec2, "DescribeVpcs", [client_error("InvalidVpcID.NotFound", "DescribeVpcs"), None])
    assert describe_created(ec2.describe_vpcs, VpcIds=[vpc_id])["Vpcs"][0]["VpcId"] == vpc_id
    assert len(calls) == 2
