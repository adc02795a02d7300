"""The fault proxy in front of a real moto server, driven by real boto3 clients."""

import json
import socket
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tests.support.fault_proxy import FaultProxy, Rule, identify, is_mutating

REGION = "us-east-1"
ONE_SHOT = Config(retries={"total_max_attempts": 1})


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield "http://127.0.0.1:%d" % port
    server.stop()


@pytest.fixture(scope="module")
def module_proxy(moto_url):
    with FaultProxy(upstream=moto_url) as proxy:
        yield proxy


@pytest.fixture
def proxy(module_proxy, moto_url, monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"), timeout=10).read()
    module_proxy.clear()
    module_proxy.forget_tokens()
    yield module_proxy
    module_proxy.clear()


@pytest.fixture
def client(proxy):
    def make(service, config=ONE_SHOT):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=proxy.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return make


def _code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def _subnet_id(ec2):
    return ec2.describe_subnets()["Subnets"][0]["SubnetId"]


# --- error shapes per protocol -------------------------------------------------------------------------------


def test_ec2_error(proxy, client):
    ec2 = client("ec2")
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", message="no room"))
    with pytest.raises(ClientError) as excinfo:
        ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro")
    assert _code(excinfo) == "InsufficientInstanceCapacity"
    assert excinfo.value.response["Error"]["Message"] == "no room"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ec2.describe_instances()["Reservations"] == []  # not forwarded
    (call,) = proxy.calls[:1]
    assert (call.service, call.operation, call.status, call.injected) == (
        "ec2", "RunInstances", 400, "InsufficientInstanceCapacity")


def test_iam_error(proxy, client):
    iam = client("iam")
    proxy.add(Rule("CreateRole", error="EntityAlreadyExists", status=409))
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    assert _code(excinfo) == "EntityAlreadyExists"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(ClientError) as excinfo:
        iam.get_role(RoleName="r")
    assert _code(excinfo) == "NoSuchEntity"  # moto's own error passes through untouched
    assert proxy.calls[0].service == "iam"


def test_sts_error(proxy, client):
    proxy.add(Rule("GetCallerIdentity", error="ExpiredToken", status=403))
    with pytest.raises(ClientError) as excinfo:
        client("sts").get_caller_identity()
    assert _code(excinfo) == "ExpiredToken"


def test_ssm_error(proxy, client):
    ssm = client("ssm")
    proxy.add(Rule("PutParameter", error="ParameterLimitExceeded"))
    with pytest.raises(ClientError) as excinfo:
        ssm.put_parameter(Name="/p", Value="v", Type="String")
    assert _code(excinfo) == "ParameterLimitExceeded"
    assert proxy.calls[-1].service == "ssm"
    proxy.clear()
    ssm.put_parameter(Name="/p", Value="v", Type="String")
    assert ssm.get_parameter(Name="/p")["Parameter"]["Value"] == "v"


def test_efs_error_and_operation_names(proxy, client):
    efs, ec2 = client("efs"), client("ec2")
    proxy.add(Rule("CreateFileSystem", error="FileSystemLimitExceeded", status=403, times=1))
    with pytest.raises(ClientError) as excinfo:
        efs.create_file_system(CreationToken="tok")
    assert _code(excinfo) == "FileSystemLimitExceeded"
    assert efs.describe_file_systems()["FileSystems"] == []

    fs_id = efs.create_file_system(CreationToken="tok")["FileSystemId"]
    mt_id = efs.create_mount_target(FileSystemId=fs_id, SubnetId=_subnet_id(ec2))["MountTargetId"]
    efs.describe_mount_targets(FileSystemId=fs_id)
    efs.describe_mount_target_security_groups(MountTargetId=mt_id)
    efs.tag_resource(ResourceId=fs_id, Tags=[{"Key": "k", "Value": "v"}])
    efs.list_tags_for_resource(ResourceId=fs_id)
    proxy.add(Rule("DeleteFileSystem", error="FileSystemInUse", status=409, body_contains=fs_id))
    with pytest.raises(ClientError) as excinfo:
        efs.delete_file_system(FileSystemId=fs_id)
    assert _code(excinfo) == "FileSystemInUse"
    efs.delete_mount_target(MountTargetId=mt_id)
    efs_ops = [c.operation for c in proxy.calls if c.service == "elasticfilesystem"]
    assert efs_ops == [
        "CreateFileSystem", "DescribeFileSystems", "CreateFileSystem", "CreateMountTarget", "DescribeMountTargets",
        "DescribeMountTargetSecurityGroups", "TagResource", "ListTagsForResource", "DeleteFileSystem",
        "DeleteMountTarget",
    ]


def test_identify_fallbacks():
    assert identify("PUT", "/2015-02-01/file-systems/fs-1/nonsense", {}, b"")[1] == "EFS:PUT /2015-02-01/file-systems/fs-1/nonsense"
    assert identify("GET", "/whatever?x=1", {}, b"") == ("", "GET /whatever", "rest-json")
    assert identify("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                    b"Action=DescribeVpcs&Version=2016-11-15")[1:] == ("DescribeVpcs", "ec2")
    assert is_mutating("TerminateInstances") and is_mutating("Untag") and not is_mutating("DescribeVpcs")


# --- rule semantics ------------------------------------------------------------------------------------------


def test_skip_and_times(proxy, client):
    ec2 = client("ec2")
    rule = proxy.add(Rule("DescribeVpcs", error="RequestLimitExceeded", skip=1, times=2))
    ec2.describe_vpcs()  # skipped
    for _unused in range(2):
        with pytest.raises(ClientError) as excinfo:
            ec2.describe_vpcs()
        assert _code(excinfo) == "RequestLimitExceeded"
    ec2.describe_vpcs()  # spent
    assert rule.spent and rule.hits == 2
    assert [c.injected for c in proxy.calls] == [None, "RequestLimitExceeded", "RequestLimitExceeded", None]
    assert proxy.count("DescribeVpcs") == 4


def test_body_contains(proxy, client):
    ec2 = client("ec2")
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    proxy.add(Rule("CreateSecurityGroup", error="InvalidGroup.Duplicate", body_contains="GroupName=blocked"))
    proxy.add(Rule("CreateSecurityGroup", error="Odd", body_contains="has spaces here"))  # URL-decoded body matches
    with pytest.raises(ClientError) as excinfo:
        ec2.create_security_group(GroupName="blocked", Description="d", VpcId=vpc_id)
    assert _code(excinfo) == "InvalidGroup.Duplicate"
    with pytest.raises(ClientError) as excinfo:
        ec2.create_security_group(GroupName="other", Description="has spaces here", VpcId=vpc_id)
    assert _code(excinfo) == "Odd"
    ec2.create_security_group(GroupName="allowed", Description="d", VpcId=vpc_id)
    names = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert "allowed" in names and "blocked" not in names


def test_body_contains_efs_json(proxy, client):
    efs = client("efs")
    proxy.add(Rule("CreateFileSystem", error="ThroughputLimitExceeded", body_contains='"CreationToken": "bad"'))
    with pytest.raises(ClientError):
        efs.create_file_system(CreationToken="bad")
    assert efs.create_file_system(CreationToken="good")["FileSystemId"]


def test_forward_first_lost_response(proxy, client):
    ec2 = client("ec2")
    proxy.add(Rule("RunInstances", error="InternalError", status=500, forward_first=True, times=1))
    with pytest.raises(ClientError) as excinfo:
        ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    assert _code(excinfo) == "InternalError"
    reservations = ec2.describe_instances()["Reservations"]
    assert len(reservations) == 1  # created anyway
    assert proxy.calls[0].injected == "InternalError" and proxy.calls[0].status == 500


def test_a_launch_token_answered_once_is_answered_the_same_again(proxy, client):
    ec2 = client("ec2")
    proxy.add(Rule("RunInstances", error="InternalError", status=500, forward_first=True, times=1))
    with pytest.raises(ClientError):
        ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="same-launch")
    retried = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="same-launch")
    [reservation] = ec2.describe_instances()["Reservations"]
    assert retried["Instances"][0]["InstanceId"] == reservation["Instances"][0]["InstanceId"]
    assert [c.injected for c in proxy.calls if c.operation == "RunInstances"] == ["InternalError", "replayed"]
    ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="another-launch")
    assert len(ec2.describe_instances()["Reservations"]) == 2


def test_a_token_outlives_the_rules_and_the_call_log_as_on_aws(proxy, client):
    # A test clears its rules between a killed run and the next one; AWS would still know the killed run's launch.
    ec2 = client("ec2")
    launched = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="kept")
    proxy.clear()
    again = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="kept")
    assert again["Instances"][0]["InstanceId"] == launched["Instances"][0]["InstanceId"]
    assert len(ec2.describe_instances()["Reservations"]) == 1
    proxy.forget_tokens()  # a new world: the emulator's reset
    ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="kept")
    assert len(ec2.describe_instances()["Reservations"]) == 2


def test_forward_first_efs(proxy, client):
    efs = client("efs")
    proxy.add(Rule("CreateFileSystem", error="InternalServerError", status=500, forward_first=True, times=1))
    with pytest.raises(ClientError) as excinfo:
        efs.create_file_system(CreationToken="lost")
    assert _code(excinfo) == "InternalServerError"
    assert [f["CreationToken"] for f in efs.describe_file_systems()["FileSystems"]] == ["lost"]
    with pytest.raises(ClientError) as excinfo:
        efs.create_file_system(CreationToken="lost")
    assert _code(excinfo) == "FileSystemAlreadyExists"


def test_hook_runs_after_the_forward_and_before_the_answer(proxy, client):
    ec2 = client("ec2")
    seen = []
    proxy.add(Rule("CreateVpc", error="Killed", forward_first=True, times=1,
                   hook=lambda call: seen.append((call.operation, call.status, len(ec2.describe_vpcs()["Vpcs"])))))
    before = len(ec2.describe_vpcs()["Vpcs"])
    with pytest.raises(ClientError):
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
    assert seen == [("CreateVpc", None, before + 1)]  # the emulator has it; the caller has no answer yet


def test_respond_canned(proxy, client):
    ssm = client("ssm")
    body = json.dumps({"Parameter": {"Name": "/x", "Type": "String", "Value": "canned", "Version": 7}})
    proxy.add(Rule("GetParameter", respond=(200, body, {"Content-Type": "application/x-amz-json-1.1"})))
    assert ssm.get_parameter(Name="/x")["Parameter"]["Value"] == "canned"
    assert proxy.calls[-1].injected == "respond"


def test_rewrite(proxy, client):
    ec2 = client("ec2")
    proxy.add(Rule("DescribeVpcs", rewrite=[(r"<state>available</state>", "<state>pending</state>")], times=1))
    assert ec2.describe_vpcs()["Vpcs"][0]["State"] == "pending"
    assert ec2.describe_vpcs()["Vpcs"][0]["State"] == "available"
    assert [c.injected for c in proxy.calls] == ["rewrite", None]


def test_after_window(proxy, client):
    ec2 = client("ec2")
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    proxy.add(Rule("DeleteSecurityGroup", error="DependencyViolation", after="TerminateInstances", for_seconds=0.5))
    sg1 = ec2.create_security_group(GroupName="a", Description="d", VpcId=vpc_id)["GroupId"]
    ec2.delete_security_group(GroupId=sg1)  # TerminateInstances not seen yet
    sg2 = ec2.create_security_group(GroupName="b", Description="d", VpcId=vpc_id)["GroupId"]
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance])
    with pytest.raises(ClientError) as excinfo:
        ec2.delete_security_group(GroupId=sg2)
    assert _code(excinfo) == "DependencyViolation"
    time.sleep(0.3)
    ec2.terminate_instances(InstanceIds=[instance])  # the window counts from the FIRST termination
    time.sleep(0.25)
    ec2.delete_security_group(GroupId=sg2)
    assert proxy.first_seen("TerminateInstances") is not None


def test_after_forever(proxy, client):
    iam = client("iam")
    proxy.add(Rule("GetRole", error="NoSuchEntity", status=404, after="CreateRole"))
    with pytest.raises(ClientError) as excinfo:
        iam.get_role(RoleName="r")  # moto's own NoSuchEntity
    assert proxy.calls[-1].injected is None
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    with pytest.raises(ClientError) as excinfo:
        iam.get_role(RoleName="r")
    assert _code(excinfo) == "NoSuchEntity" and proxy.calls[-1].injected == "NoSuchEntity"


def test_delay(proxy, client):
    ec2 = client("ec2")
    proxy.add(Rule("DescribeVpcs", delay=0.3, times=1))
    start = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - start < 0.3
    assert [c.injected for c in proxy.calls] == ["delay", None]


def test_first_matching_rule_wins(proxy, client):
    ec2 = client("ec2")
    proxy.add(Rule("*", error="First", times=1))
    proxy.add(Rule("DescribeVpcs", error="Second"))
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_vpcs()
    assert _code(excinfo) == "First"
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_vpcs()
    assert _code(excinfo) == "Second"


def test_call_log(proxy, client):
    ec2, iam = client("ec2"), client("iam")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "k", "Value": "v"}])
    ec2.describe_vpcs(VpcIds=[vpc_id])
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    iam.list_roles()
    ec2.delete_vpc(VpcId=vpc_id)
    assert proxy.operations() == ["CreateVpc", "CreateTags", "DescribeVpcs", "CreateRole", "ListRoles", "DeleteVpc"]
    assert proxy.operations(mutating_only=True) == ["CreateVpc", "CreateTags", "CreateRole", "DeleteVpc"]
    assert proxy.count("DescribeVpcs") == 1 and proxy.count("RunInstances") == 0
    calls = proxy.calls
    assert all(c.status == 200 for c in calls)
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    assert "CidrBlock=10.0.0.0%2F16" in calls[0].body
    assert [c.service for c in calls] == ["ec2", "ec2", "ec2", "iam", "iam", "ec2"]


def test_5xx_retried_by_botocore(proxy, client):
    ec2 = client("ec2", config=None)  # botocore's default retries
    proxy.add(Rule("DescribeVpcs", error="InternalError", status=503, times=1))
    assert ec2.describe_vpcs()["Vpcs"]
    assert proxy.count("DescribeVpcs") == 2
    assert [c.status for c in proxy.calls] == [503, 200]


def test_moto_api_not_logged(proxy, moto_url):
    urllib.request.urlopen(urllib.request.Request(proxy.url + "/moto-api/reset", method="POST"), timeout=10).read()
    assert proxy.calls == []


def test_concurrent_calls(proxy, client):
    proxy.add(Rule("DescribeVpcs", error="RequestLimitExceeded", times=5))
    errors, ok = [], []

    def worker():
        ec2 = client("ec2")
        for _unused in range(5):
            try:
                ec2.describe_vpcs()
                ok.append(1)
            except ClientError as exc:
                errors.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=worker) for _unused in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == ["RequestLimitExceeded"] * 5 and len(ok) == 35
    assert proxy.count("DescribeVpcs") == 40 and all(c.status in (200, 400) for c in proxy.calls)


def test_upstream_down_answers_502():
    proxy = FaultProxy(upstream="http://127.0.0.1:%d" % _free_port())
    try:
        request = urllib.request.Request(proxy.url + "/", data=b"Action=DescribeVpcs", method="POST")
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(request, timeout=10)
        assert excinfo.value.code == 502
        assert proxy.calls[0].status == 502
    finally:
        proxy.stop()
