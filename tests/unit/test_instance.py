import base64
import gzip
import os

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import instance
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import after_call, client_error, hide_tag_lookups, spy
from tests.unit.conftest import SESSION

SCRIPT = "#!/bin/bash\necho geusemaker\n"
PROFILE = "geusemaker-unit-us-east-1"


@pytest.fixture
def network(aws, monkeypatch):
    ec2 = SESSION.client("ec2", region_name="us-east-1")
    SESSION.client("iam", region_name="us-east-1").create_instance_profile(InstanceProfileName=PROFILE)
    image_id = ec2.register_image(Name="geusemaker-unit", RootDeviceName="/dev/xvda")["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    return {
        "ami_id": image["ImageId"],
        "root_device": image["RootDeviceName"],
        "subnet_ids": [s["SubnetId"] for s in subnets[:2]],
        "security_group_id": group,
    }


@pytest.fixture
def ensure(network, fake_time):
    def run(stack, count=1, use_spot=True, timeout=60, **kwargs):
        return instance.ensure(
            stack, count, "t3.micro", kwargs.pop("ami_id", network["ami_id"]), network["subnet_ids"],
            network["security_group_id"], PROFILE, kwargs.pop("user_data", SCRIPT), use_spot=use_spot,
            timeout=timeout, clock=fake_time.clock, sleep=fake_time.sleep, **kwargs
        )

    run.subnet_ids = network["subnet_ids"]
    return run


def spy_run_instances(monkeypatch, stack, failures=()):
    """Record RunInstances calls; raise the given errors on the first calls, then pass through."""
    return spy(stack.clients.ec2, "RunInstances", refusals=failures)


def describe(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_launches_spot_with_the_expected_parameters(stack, store, ensure, network, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack)
    [result] = ensure(stack, key_name="ops")
    ec2 = stack.clients.ec2
    found = describe(ec2, result["id"])
    assert result["lifecycle"] == "spot" and found["InstanceLifecycle"] == "spot"
    assert result["subnet_id"] == network["subnet_ids"][0]
    assert result["public_ip"] and result["private_ip"] and result["availability_zone"]
    assert result["warnings"] == []
    assert found["MetadataOptions"]["HttpTokens"] == "required"
    assert found["MetadataOptions"]["HttpPutResponseHopLimit"] == 1  # containers, one hop further, cannot reach the role's credentials
    assert found["IamInstanceProfile"]["Arn"].endswith("/" + PROFILE)
    assert found["KeyName"] == "ops"
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [network["security_group_id"]]
    assert {t["Key"]: t["Value"] for t in found["Tags"]}[STACK_TAG] == "unit"

    user_data = ec2.describe_instance_attribute(InstanceId=result["id"], Attribute="userData")["UserData"]["Value"]
    assert gzip.decompress(base64.b64decode(user_data)).decode() == SCRIPT

    [volume] = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [result["id"]]}])["Volumes"]
    assert (volume["Size"], volume["VolumeType"], volume["Encrypted"]) == (75, "gp3", True)
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}["geusemaker:key"] == "instance-0"
    assert found["BlockDeviceMappings"][0]["Ebs"]["DeleteOnTermination"] is True

    [call] = calls
    assert call["BlockDeviceMappings"][0]["DeviceName"] == network["root_device"]
    assert call["InstanceMarketOptions"]["SpotOptions"] == {"SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "stop"}
    assert len(call["ClientToken"]) <= 64 and call["MinCount"] == call["MaxCount"] == 1
    # The spot request is tagged at birth too: the deployer policy cancels only tagged requests.
    tagged = {spec["ResourceType"]: {t["Key"]: t["Value"] for t in spec["Tags"]} for spec in call["TagSpecifications"]}
    assert set(tagged) == {"instance", "volume", "spot-instances-request"}
    assert tagged["spot-instances-request"][STACK_TAG] == "unit"

    entry = store.load("unit")["resources"][0]
    assert entry["type"] == "instance" and entry["provenance"] == "created"
    assert entry["key"] == "instance-0" and entry["lifecycle"] == "spot" and entry["instance_profile"] == PROFILE
    assert entry["subnet_id"] == network["subnet_ids"][0] and entry["security_group_id"] == network["security_group_id"]
    assert stack.changed


def test_subnets_round_robin(stack, ensure, network):
    results = ensure(stack, count=3, use_spot=False)
    assert [r["subnet_id"] for r in results] == [network["subnet_ids"][0], network["subnet_ids"][1], network["subnet_ids"][0]]
    assert [r["lifecycle"] for r in results] == ["on-demand"] * 3
    assert [e["key"] for e in stack.ledger.entries("instance")] == ["instance-0", "instance-1", "instance-2"]


def test_no_spot_capacity_anywhere_falls_back_to_on_demand(stack, ensure, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack, [client_error("InsufficientInstanceCapacity", "RunInstances")] * 2)
    [result] = ensure(stack)
    assert [("InstanceMarketOptions" in c) for c in calls] == [True, True, False]
    assert calls[0]["ClientToken"] != calls[1]["ClientToken"]
    # An on-demand launch makes no spot request, so it names none to tag.
    assert [s["ResourceType"] for s in calls[2]["TagSpecifications"]] == ["instance", "volume"]
    assert result["lifecycle"] == "on-demand"
    assert "InsufficientInstanceCapacity" in result["warnings"][0]
    assert stack.ledger.find("instance", result["id"])["lifecycle"] == "on-demand"


def test_capacity_error_on_demand_in_every_zone_fails(stack, ensure, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack, [client_error("InsufficientInstanceCapacity", "RunInstances")] * 2)
    with pytest.raises(StackFailure) as failure:
        ensure(stack, use_spot=False)
    assert failure.value.details["error_code"] == "InsufficientInstanceCapacity"
    assert "every zone and market of the stack was refused" in str(failure.value)
    assert [c["SubnetId"] for c in calls] == ensure.subnet_ids
    assert stack.ledger.entries("instance") == []
    assert stack.ledger.document["events"][-1]["outcome"] == "error"


def test_spot_is_tried_in_every_zone_before_on_demand_in_any(stack, ensure, monkeypatch):
    """Spot in the second zone costs less than on-demand in the first (issue 19)."""
    refusals = [client_error("InsufficientInstanceCapacity", "RunInstances")]
    calls = spy_run_instances(monkeypatch, stack, refusals)
    [result] = ensure(stack)
    first, second = ensure.subnet_ids
    assert [(c["SubnetId"], "InstanceMarketOptions" in c) for c in calls] == [(first, True), (second, True)]
    assert result["subnet_id"] == second and result["lifecycle"] == "spot"
    entry = stack.ledger.find("instance", result["id"])
    assert (entry["subnet_id"], entry["availability_zone"]) == (second, result["availability_zone"])
    assert "InsufficientInstanceCapacity" in result["warnings"][0]


def test_every_market_and_zone_refused_in_turn_lands_on_demand_in_the_second(stack, ensure, monkeypatch):
    refusals = [client_error("InsufficientInstanceCapacity", "RunInstances"), client_error("Unsupported", "RunInstances"),
                client_error("InsufficientFreeAddressesInSubnet", "RunInstances")]
    calls = spy_run_instances(monkeypatch, stack, refusals)
    [result] = ensure(stack)
    first, second = ensure.subnet_ids
    assert [(c["SubnetId"], "InstanceMarketOptions" in c) for c in calls] == [
        (first, True), (second, True), (first, False), (second, False)]
    assert len({c["ClientToken"] for c in calls}) == 4  # another market or zone is another launch
    assert result["subnet_id"] == second and result["lifecycle"] == "on-demand"
    assert "InsufficientInstanceCapacity" in result["warnings"][0] and "Unsupported" in result["warnings"][1]
    # A subnet out of addresses is the next subnet's turn, not the end of the launch.
    assert "no free address left" in result["warnings"][2]


@pytest.mark.parametrize("code", ["MaxSpotInstanceCountExceeded", "VcpuLimitExceeded"])
def test_a_spot_limit_of_the_account_skips_spot_everywhere(stack, ensure, monkeypatch, code):
    calls = spy_run_instances(monkeypatch, stack, [client_error(code, "RunInstances")])
    [result] = ensure(stack)
    assert [("InstanceMarketOptions" in c) for c in calls] == [True, False]
    assert result["lifecycle"] == "on-demand" and code in result["warnings"][0]


def test_an_account_limit_fails_at_once(stack, ensure, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack, [client_error("InstanceLimitExceeded", "RunInstances")])
    with pytest.raises(StackFailure) as failure:
        ensure(stack)
    assert failure.value.details["error_code"] == "InstanceLimitExceeded" and len(calls) == 1


PROFILE_ERROR = "Value (geusemaker-unit-us-east-1) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"


def test_new_instance_profile_is_retried(stack, ensure, monkeypatch, fake_time):
    calls = spy_run_instances(monkeypatch, stack, [client_error("InvalidParameterValue", "RunInstances", message=PROFILE_ERROR)] * 2)
    [result] = ensure(stack)
    assert len(calls) == 3
    assert fake_time.sleeps[:2] == [2, 2]
    assert stack.ledger.find("instance", result["id"])


def test_instance_profile_never_visible_fails_after_a_minute(stack, ensure, monkeypatch, fake_time):
    spy_run_instances(monkeypatch, stack, [client_error("InvalidParameterValue", "RunInstances", message=PROFILE_ERROR)] * 100)
    with pytest.raises(StackFailure) as failure:
        ensure(stack, timeout=600)
    assert failure.value.details["error_code"] == "InvalidParameterValue"
    assert 55 <= fake_time.now <= 62


def test_other_invalid_parameter_is_not_retried(stack, ensure, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack, [client_error("InvalidParameterValue", "RunInstances", message="bad instance type")])
    with pytest.raises(StackFailure):
        ensure(stack)
    assert len(calls) == 1


def test_rerun_adopts_without_change(make_stack, ensure, store):
    [first] = ensure(make_stack())
    again = make_stack()
    [second] = ensure(again)
    assert second["id"] == first["id"]
    assert not again.changed
    assert [r["provenance"] for r in store.load("unit")["resources"]] == ["created"]


def test_a_rerun_seconds_after_the_launch_adopts_what_the_tag_filters_do_not_show_yet(make_stack, ensure, store):
    [first] = ensure(make_stack())
    again = make_stack()
    hide_tag_lookups(again.clients.ec2)
    assert instance.find_owned(again.clients.ec2, "unit", "instance-0") is None  # a lookup by tag alone
    [second] = ensure(again)
    assert second["id"] == first["id"] and not again.changed
    assert len(store.load("unit")["resources"]) == 1


def test_lost_ledger_adopts(make_stack, ensure, store):
    [first] = ensure(make_stack())
    os.remove(store.location("unit"))
    [second] = ensure(make_stack())
    assert second["id"] == first["id"]
    entry = store.load("unit")["resources"][0]
    assert (entry["provenance"], entry["lifecycle"], entry["instance_profile"]) == ("adopted", "spot", PROFILE)


def test_stopped_instance_is_kept_with_a_warning(make_stack, ensure):
    [first] = ensure(make_stack())
    stack = make_stack()
    stack.clients.ec2.stop_instances(InstanceIds=[first["id"]])
    [second] = ensure(stack)
    assert second["id"] == first["id"]
    assert "stopped" in second["warnings"][0]


def test_check_mode_creates_nothing(make_stack, ensure, store):
    stack = make_stack(check_mode=True)
    [planned] = ensure(stack)
    assert planned["id"].startswith("(new instance")
    assert stack.planned[0]["key"] == "instance-0"
    assert stack.changed
    assert instance.discover(stack.clients, "unit", "us-east-1") == []
    assert store.load("unit") is None


def test_timeout_fails_critically_after_recording(stack, ensure, monkeypatch, fake_time):
    ec2 = stack.clients.ec2
    monkeypatch.setattr(ec2, "describe_instance_status", lambda **kwargs: {"InstanceStatuses": []})
    with pytest.raises(StackFailure) as failure:
        ensure(stack, timeout=10)
    details = failure.value.details
    assert details["resource_type"] == "instance" and details["critical"] and details["error_code"] == "Timeout"
    assert stack.ledger.find("instance", details["resource_id"])["provenance"] == "created"
    assert fake_time.now <= 12


def test_instance_terminated_while_starting_fails(stack, ensure, monkeypatch):
    ec2 = stack.clients.ec2
    real = ec2.run_instances

    def run_then_terminate(**kwargs):
        response = real(**kwargs)
        ec2.terminate_instances(InstanceIds=[response["Instances"][0]["InstanceId"]])
        return response

    monkeypatch.setattr(ec2, "run_instances", run_then_terminate)
    with pytest.raises(StackFailure) as failure:
        ensure(stack)
    assert failure.value.details["error_code"] == "InstanceTerminated" and failure.value.details["critical"]
    assert "terminated" in str(failure.value)


def test_not_yet_visible_instance_is_waited_for(stack, ensure, monkeypatch, fake_time):
    ec2 = stack.clients.ec2
    real = ec2.describe_instances
    answers = [client_error("InvalidInstanceID.NotFound", operation="DescribeInstances")]

    def flaky(**kwargs):
        if "InstanceIds" in kwargs and answers:
            raise answers.pop()
        return real(**kwargs)

    monkeypatch.setattr(ec2, "describe_instances", flaky)
    [result] = ensure(stack)
    assert result["id"].startswith("i-")
    assert fake_time.sleeps == [2]


def test_describe_failure_while_waiting_fails(stack, ensure, monkeypatch):
    ec2 = stack.clients.ec2

    def broken(**kwargs):
        raise client_error("UnauthorizedOperation", operation="DescribeInstanceStatus")

    monkeypatch.setattr(ec2, "describe_instance_status", broken)
    with pytest.raises(StackFailure) as failure:
        ensure(stack)
    assert failure.value.details["error_code"] == "UnauthorizedOperation"


def test_unknown_image_falls_back_to_xvda(stack, ensure, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack)
    ensure(stack, ami_id="ami-00000000")
    assert calls[0]["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"


def test_user_data_over_16_kib_is_refused(stack, ensure):
    noise = base64.b64encode(os.urandom(20000)).decode()
    with pytest.raises(ValueError, match="16384"):
        ensure(stack, user_data=noise)
    assert stack.ledger.entries("instance") == []
    assert len(instance.compress_user_data("x" * 100000)) < 16384


def test_discover_tells_the_instances_placement_and_profile(stack, ensure, network):
    [result] = ensure(stack)
    [found] = instance.discover(stack.clients, "unit", "us-east-1")
    assert found == {
        "id": result["id"],
        "key": "instance-0",
        "subnet_id": network["subnet_ids"][0],
        "security_group_id": network["security_group_id"],
        "instance_profile": PROFILE,
        "lifecycle": "spot",
    }
    # EC2 refuses an id it never knew; the kind's gone codes, not its exists(), make that a no.
    assert not instance.KIND.exists(stack.clients, {"id": "i-0123456789abcdef0"})


def test_an_adopted_instance_gets_imdsv2_and_one_hop(stack, ensure, make_stack):
    [result] = ensure(stack)
    ec2 = stack.clients.ec2
    ec2.modify_instance_metadata_options(InstanceId=result["id"], HttpTokens="optional", HttpPutResponseHopLimit=2)
    again = make_stack()
    ensure(again)
    assert again.changed
    options = describe(ec2, result["id"])["MetadataOptions"]
    assert (options["HttpTokens"], options["HttpPutResponseHopLimit"]) == ("required", 1)
    unchanged = make_stack()
    ensure(unchanged)
    assert not unchanged.changed


def test_a_zone_keeps_the_instance_where_the_data_is(stack, ensure, network):
    ec2 = stack.clients.ec2
    zones = [s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=network["subnet_ids"])["Subnets"]]
    second = sorted(zones)[1]
    [result] = ensure(stack, zone=second)
    assert result["availability_zone"] == second and result["subnet_id"] == network["subnet_ids"][1]


def test_a_zone_without_a_subnet_fails_before_launching(stack, ensure, monkeypatch):
    calls = spy_run_instances(monkeypatch, stack)
    with pytest.raises(StackFailure) as failure:
        ensure(stack, zone="us-east-1z")
    assert failure.value.details["error_code"] == "NoSubnetInZone" and calls == []


def test_delete_cancels_the_persistent_spot_request_first(stack, ensure):
    [result] = ensure(stack)
    ec2 = stack.clients.ec2
    # The emulator does not link RunInstances spot launches to a request; real AWS does.
    after_call(ec2, "DescribeInstances", lambda params, parsed: [
        item.update(SpotInstanceRequestId="sir-unit0001") for r in parsed.get("Reservations", []) for item in r["Instances"]])
    cancels = spy(ec2, "CancelSpotInstanceRequests", refusals=[client_error("InvalidSpotInstanceRequestID.NotFound")])
    terminations = spy(ec2, "TerminateInstances")
    instance.delete(stack.clients, stack.ledger.find("instance", result["id"]))
    assert [c["SpotInstanceRequestIds"] for c in cancels] == [["sir-unit0001"]]
    assert [c["InstanceIds"] for c in terminations] == [[result["id"]]]


def test_stop_and_start(stack, ensure, fake_time):
    [result] = ensure(stack)
    ec2 = stack.clients.ec2
    instance.stop(stack, [result["id"]], 60, clock=fake_time.clock, sleep=fake_time.sleep)
    assert describe(ec2, result["id"])["State"]["Name"] == "stopped"
    [started] = instance.start(stack, [result["id"]], 60, clock=fake_time.clock, sleep=fake_time.sleep)
    assert started["id"] == result["id"] and describe(ec2, result["id"])["State"]["Name"] == "running"


def spot_interrupted(ec2, instance_id):
    """EC2's view of a spot instance it stopped for capacity: stopped, with the interruption's state reason."""
    def interrupt(params, parsed):
        for reservation in parsed.get("Reservations", []):
            for item in reservation["Instances"]:
                if item["InstanceId"] == instance_id:
                    item["State"] = {"Code": 80, "Name": "stopped"}
                    item["StateReason"] = {"Code": "Server.SpotInstanceShutdown", "Message": "Server.SpotInstanceShutdown: "
                                           "The instance was stopped because the Spot price exceeded available capacity."}
                    item.pop("PublicIpAddress", None)
                    item["PublicDnsName"] = ""
    after_call(ec2, "DescribeInstances", interrupt)


def test_a_spot_interrupted_instance_is_left_to_ec2_with_the_way_out(stack, ensure, fake_time):
    [result] = ensure(stack)
    ec2 = stack.clients.ec2
    ec2.stop_instances(InstanceIds=[result["id"]])
    spot_interrupted(ec2, result["id"])
    starts = spy(ec2, "StartInstances")
    with pytest.raises(StackFailure) as failure:
        instance.start(stack, [result["id"]], 60, clock=fake_time.clock, sleep=fake_time.sleep)
    assert starts == []  # only EC2 may start it: StartInstances would be refused
    details = failure.value.details
    assert (details["error_code"], details["critical"], details["resource_id"]) == ("Server.SpotInstanceShutdown", False, result["id"])
    assert str(failure.value).startswith("instance(s) {0} waiting for spot capacity: stopped by a spot interruption. "
                                         "EC2 starts it again by itself".format(result["id"]))
    assert "-e keep_data=true" in str(failure.value) and "-e use_spot=false" in str(failure.value)
    found = instance.compare(instance.conditions(ec2, [result["id"]]), "https://old.example")
    assert (found["condition"], found["service_url"], found["address_moved"]) == ("waiting_for_spot_capacity", None, False)
    assert found["msg"] == instance.spot_wait_message([{"id": result["id"]}])


def test_start_sends_start_only_for_what_is_stopped(stack, ensure, fake_time):
    first, second = ensure(stack, count=2)
    ec2 = stack.clients.ec2
    ec2.stop_instances(InstanceIds=[first["id"]])
    starts = spy(ec2, "StartInstances")
    started = instance.start(stack, [first["id"], second["id"]], 60, clock=fake_time.clock, sleep=fake_time.sleep)
    assert [c["InstanceIds"] for c in starts] == [[first["id"]]] and [s["id"] for s in started] == [first["id"], second["id"]]


def test_the_live_address_is_compared_with_the_recorded_url(stack, ensure):
    [result] = ensure(stack)
    ec2 = stack.clients.ec2
    now = instance.conditions(ec2, [result["id"]])
    address = now[0]["address"]
    assert address and now[0]["state"] == "running"
    same = instance.compare(now, "https://{0}/".format(address))
    assert (same["condition"], same["service_url"], same["address_moved"]) == ("running", "https://" + address, False)
    moved = instance.compare(now, "https://ec2-198-51-100-1.compute-1.amazonaws.com")
    assert moved["address_moved"] and moved["msg"] == ("running at https://{0}; the address moved from "
                                                       "https://ec2-198-51-100-1.compute-1.amazonaws.com (the state's URL, now stale)".format(address))
    ec2.stop_instances(InstanceIds=[result["id"]])
    stopped = instance.compare(instance.conditions(ec2, [result["id"]]), same["service_url"])
    assert (stopped["condition"], stopped["address_moved"]) == ("stopped", False)
    ec2.terminate_instances(InstanceIds=[result["id"]])
    assert instance.compare(instance.conditions(ec2, [result["id"]]), None)["condition"] == "gone"
    assert instance.compare(instance.conditions(ec2, ["i-0123456789abcdef0"]), None)["condition"] == "gone"
    assert instance.compare([], None)["condition"] == "none"


def test_stop_that_never_ends_fails(stack, ensure, fake_time):
    [result] = ensure(stack)
    ec2 = stack.clients.ec2
    after_call(ec2, "DescribeInstances", lambda params, parsed: [
        item["State"].update(Name="stopping") for r in parsed.get("Reservations", []) for item in r["Instances"]])
    with pytest.raises(StackFailure) as failure:
        instance.stop(stack, [result["id"]], 30, clock=fake_time.clock, sleep=fake_time.sleep)
    assert failure.value.details["error_code"] == "Timeout"


def test_the_launch_token_survives_a_killed_run_and_changes_after_a_recorded_instance_or_a_lost_state(
        make_stack, store, ensure, monkeypatch):
    """A run killed during its launch records nothing; the next run must send the same ClientToken, so that AWS
    answers with the instance the killed run launched (issue 19: one instance, not two). Once an instance of the key
    is recorded (and later destroyed), or the state is lost, a launch is a new one."""
    first = make_stack()
    first.ledger.set_status("deploying")  # the killed run's first save, long before its launch
    calls = spy_run_instances(monkeypatch, first, [client_error("InternalError", "RunInstances")] * 12)
    with pytest.raises(StackFailure):
        ensure(first, use_spot=False)
    killed_token = calls[0]["ClientToken"]
    assert {c["ClientToken"] for c in calls} == {killed_token}  # its own retries too

    again = make_stack()  # the next run reads the same state
    calls = spy_run_instances(monkeypatch, again)
    [launched] = ensure(again, use_spot=False)
    assert calls[0]["ClientToken"] == killed_token

    again.clients.ec2.terminate_instances(InstanceIds=[launched["id"]])  # destroyed, and recorded so
    again.ledger.mark("instance", launched["id"], "deleted")
    later = make_stack()
    calls = spy_run_instances(monkeypatch, later)
    ensure(later, use_spot=False)
    assert calls[0]["ClientToken"] != killed_token

    os.remove(store.location("unit"))  # a lost state: a new document, a new launch
    fresh = make_stack()
    assert instance.launch_generation(fresh.ledger, "instance-0") != instance.launch_generation(later.ledger, "instance-0")
    assert instance.launch_generation(fresh.ledger, "instance-0").endswith("#0")


def test_waiting_only_until_running_skips_the_status_checks(stack, ensure):
    """The data volume is attached as soon as the instance runs; the status checks (minutes on a GPU type) after."""
    statuses = spy(stack.clients.ec2, "DescribeInstanceStatus")
    [result] = ensure(stack, status_checks=False)
    assert statuses == [] and result["public_dns"]
    [again] = ensure(stack)
    assert again["id"] == result["id"] and len(statuses) >= 2  # the instance and the system checks
