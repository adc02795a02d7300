"""Integration fixtures: a moto server on loopback, a health stub, and a runner for the real playbooks.

These tests refuse to run outside a network namespace with only loopback (scripts/test.sh uses unshare -n),
so nothing they start can reach beyond 127.0.0.1.
"""

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from tests.support import consistency
from tests.support.fault_proxy import FaultProxy
from tests.support.health_stub import connect_to, start_stub

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
REGION = "us-east-1"
STACK_TAG = "geusemaker:stack"
KEY_TAG = "geusemaker:key"


def only_loopback():
    # if_nameindex asks the kernel for this process's network namespace (/sys/class/net may show the host's).
    return [name for _unused, name in socket.if_nameindex()] == ["lo"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def network_namespace():
    if not only_loopback() and not os.environ.get("GEUSEMAKER_ALLOW_NETWORK"):
        pytest.exit("integration tests run inside `unshare -n` (see scripts/test.sh)", returncode=2)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    process = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log, env=env)
    url = "http://127.0.0.1:{0}".format(port)
    for _unused in range(200):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("moto server did not start")
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:  # a loaded emulator can take longer to stop than it is worth waiting
        process.kill()
        process.wait(10)


@pytest.fixture(scope="session")
def session_proxy(emulator):
    with FaultProxy(upstream=emulator) as proxy:
        yield proxy


@pytest.fixture
def proxy(session_proxy, request):
    """The fault proxy the playbooks talk through: an empty call log, no tokens of another test's world, and AWS's
    late consistency (tests/support/consistency.py) as its only rules, unless the test is marked
    aws_consistent_at_once or is a case of a reliability figure: those inject their faults at counted calls of a
    consistent deploy (deploy_calls.json), which late consistency would move."""
    session_proxy.clear()
    session_proxy.forget_tokens()
    if not (request.node.get_closest_marker("aws_consistent_at_once") or request.node.get_closest_marker("figure")):
        consistency.turn_on(session_proxy)
    yield session_proxy
    session_proxy.clear()


@pytest.fixture
def aws(emulator, proxy, monkeypatch):
    """A clean emulator, and this process's boto3 pointed at it (directly, not through the proxy)."""
    # A reset of an emulator that holds a big deploy's state took longer than 10 s on this 2-CPU machine with
    # another suite running (two setup errors of the reliability run of 10957e9); the reset is not what a test measures.
    urllib.request.urlopen(urllib.request.Request(emulator + "/moto-api/reset", method="POST"), timeout=60)
    for name, value in aws_env(emulator).items():
        monkeypatch.setenv(name, value)
    found = Emulator(emulator)
    found.create_boundary()  # the administrator's once-per-account step (scripts/admin-setup.py)
    return found


def aws_env(endpoint):
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


class Emulator:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
        self.efs = boto3.client("efs", region_name=REGION, endpoint_url=endpoint)
        self.ssm = boto3.client("ssm", region_name=REGION, endpoint_url=endpoint)
        self.iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)

    def create_boundary(self):
        with open(os.path.join(ROOT, "docs", "iam", "instance-boundary.json")) as handle:
            self.iam.create_policy(Path="/geusemaker/", PolicyName="geusemaker-instance-boundary",
                                   PolicyDocument=handle.read())

    def ami_id(self):
        """An Amazon image for the x86_64 instance types the tests launch."""
        images = self.ec2.describe_images(Owners=["amazon"])["Images"]
        return sorted(image["ImageId"] for image in images if image["Architecture"] == "x86_64")[0]

    def stack_resources(self, stack_name):
        """Everything of the stack the emulator holds, by type (terminated instances aside)."""
        tag = [{"Name": "tag:" + STACK_TAG, "Values": [stack_name]}]
        found = {
            "vpc": [v["VpcId"] for v in self.ec2.describe_vpcs(Filters=tag)["Vpcs"]],
            "subnet": [s["SubnetId"] for s in self.ec2.describe_subnets(Filters=tag)["Subnets"]],
            "internet_gateway": [g["InternetGatewayId"] for g in self.ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]],
            "route_table": [t["RouteTableId"] for t in self.ec2.describe_route_tables(Filters=tag)["RouteTables"]],
            "security_group": [g["GroupId"] for g in self.ec2.describe_security_groups(Filters=tag)["SecurityGroups"]],
            "instance": [
                i["InstanceId"]
                for r in self.ec2.describe_instances(Filters=tag)["Reservations"]
                for i in r["Instances"]
                if i["State"]["Name"] != "terminated"
            ],
            # The data volume (root volumes carry the instance's key and go with it).
            "volume": [v["VolumeId"] for v in self.ec2.describe_volumes(
                Filters=tag + [{"Name": "tag:" + KEY_TAG, "Values": ["data"]}])["Volumes"]],
        }
        file_systems = [
            fs for fs in self.efs.describe_file_systems()["FileSystems"]
            if {t["Key"]: t["Value"] for t in fs.get("Tags", [])}.get(STACK_TAG) == stack_name
        ]
        found["file_system"] = [fs["FileSystemId"] for fs in file_systems]
        found["mount_target"] = [
            mt["MountTargetId"] for fs in file_systems for mt in self.efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
        ]
        found["ssm_parameter"] = [
            p["Name"] for p in self.ssm.get_parameters_by_path(Path="/geusemaker/{0}/".format(stack_name), Recursive=True)["Parameters"]
        ]
        name = "geusemaker-{0}-{1}".format(stack_name, REGION)
        found["iam_role"] = [r["RoleName"] for r in self.iam.list_roles(PathPrefix="/geusemaker/")["Roles"] if r["RoleName"] == name]
        found["instance_profile"] = [
            p["InstanceProfileName"] for p in self.iam.list_instance_profiles(PathPrefix="/geusemaker/")["InstanceProfiles"]
            if p["InstanceProfileName"] == name
        ]
        return {kind: sorted(ids) for kind, ids in found.items() if ids}

    def stack_tags(self, stack_name):
        """{type: tags} of one resource of each taggable type (mount targets cannot be tagged)."""
        held = self.stack_resources(stack_name)

        def as_dict(tags):
            return {t["Key"]: t["Value"] for t in tags}

        found = {
            resource_type: as_dict(self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [held[resource_type][0]]}])["Tags"])
            for resource_type in ("vpc", "subnet", "internet_gateway", "route_table", "security_group", "instance")
        }
        found["file_system"] = as_dict(self.efs.list_tags_for_resource(ResourceId=held["file_system"][0])["Tags"])
        found["ssm_parameter"] = as_dict(
            self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=held["ssm_parameter"][0])["TagList"])
        found["iam_role"] = as_dict(self.iam.list_role_tags(RoleName=held["iam_role"][0])["Tags"])
        return found

    def secrets(self, stack_name):
        parameters = self.ssm.get_parameters_by_path(Path="/geusemaker/{0}/".format(stack_name), WithDecryption=True)["Parameters"]
        return {p["Name"].rsplit("/", 1)[1]: p["Value"] for p in parameters}


class Run:
    def __init__(self, completed):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    @property
    def output(self):
        return self.stdout + self.stderr

    def recap(self):
        """PLAY RECAP counters of localhost."""
        for line in self.stdout.splitlines():
            if line.startswith("localhost") and "ok=" in line:
                return {k: int(v) for k, v in (item.split("=") for item in line.split(":", 1)[1].split())}
        raise AssertionError("no PLAY RECAP in:\n" + self.output[-3000:])


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "stacks")


class Playbooks:
    """playbook("deploy", stack_name=..., **extra_vars) runs the real playbook against the emulator, through the
    proxy, and returns a Run; playbook.start(...) starts it in a process group of its own and returns the Popen."""

    def __init__(self, endpoint, state_dir, tmp_path):
        self.endpoint = endpoint
        self.state_dir = state_dir
        self.tmp_path = tmp_path

    def command(self, name, options, env_changes, extra_vars):
        """env_changes: variables to set, or to remove where the value is None."""
        extra_vars.setdefault("state_dir", self.state_dir)
        env = dict(os.environ, **aws_env(self.endpoint))
        for key, value in (env_changes or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        env.update(
            PATH=BIN + os.pathsep + os.environ["PATH"],
            ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
            ANSIBLE_LOCAL_TEMP=str(self.tmp_path / "ansible-tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        command = [os.path.join(BIN, "ansible-playbook"), "playbooks/{0}.yml".format(name), "-e", json.dumps(extra_vars)] + list(options)
        return command, env

    def __call__(self, name, *options, terminal_input=None, env_changes=None, **extra_vars):
        command, env = self.command(name, options, env_changes, extra_vars)
        if terminal_input is None:
            completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
        else:
            completed = run_on_terminal(command, env, terminal_input)
        return Run(completed)

    def start(self, name, *options, env_changes=None, **extra_vars):
        command, env = self.command(name, options, env_changes, extra_vars)
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)


@pytest.fixture
def playbook(aws, proxy, state_dir, tmp_path):
    return Playbooks(proxy.url, state_dir, tmp_path)


def run_on_terminal(command, env, answer, timeout=600):
    """Run on a pseudo-terminal; type answer[1] once answer[0] (a prompt) shows. Ansible flushes what is typed
    before its prompt, so the answer must wait for it."""
    prompt, keys = answer
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.chdir(ROOT)
        os.execve(command[0], command, env)
    output, typed, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _unused, _unused = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if not typed and prompt.encode() in output:
            time.sleep(0.5)
            os.write(fd, keys.encode())
            typed = True
    else:
        os.kill(pid, 9)
    _unused, status = os.waitpid(pid, 0)
    os.close(fd)
    return subprocess.CompletedProcess(command, os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace"), "")


@pytest.fixture
def healthy_url():
    url, stop = start_stub("healthy")
    yield url
    stop()


@pytest.fixture
def deploy_vars(aws, healthy_url):
    """What a test deploy passes: an image the emulator has, a loopback health check, short timeouts."""
    return {
        "ami_id": aws.ami_id(),
        "instance_type": "t3.medium",
        "health_check_connect_to": connect_to(healthy_url),
        "health_check_timeout": 20,
        "instance_timeout": 60,
        "rollback_timeout": 120,
        "allowed_cidrs": ["203.0.113.0/24"],
    }


class UserNetwork:
    """A user's public VPC (DNS hostnames on, IGW, default route, two subnets in two AZs) to reuse, and a snapshot of
    it."""

    def __init__(self, ec2, cidr_prefix):
        self.ec2 = ec2
        self.vpc_id = ec2.create_vpc(CidrBlock=cidr_prefix + ".0.0/16")["Vpc"]["VpcId"]
        # DNS support is on by default; hostnames too, as in a VPC from the console wizard (EFS is mounted by name).
        ec2.modify_vpc_attribute(VpcId=self.vpc_id, EnableDnsHostnames={"Value": True})
        self.igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=self.igw_id, VpcId=self.vpc_id)
        self.table_id = ec2.create_route_table(VpcId=self.vpc_id)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=self.table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=self.igw_id)
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        self.subnet_ids = []
        for index, zone in enumerate(zones):
            subnet_id = ec2.create_subnet(
                VpcId=self.vpc_id, CidrBlock="{0}.{1}.0/24".format(cidr_prefix, index), AvailabilityZone=zone
            )["Subnet"]["SubnetId"]
            ec2.associate_route_table(RouteTableId=self.table_id, SubnetId=subnet_id)
            ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
            self.subnet_ids.append(subnet_id)

    @property
    def ids(self):
        return [self.vpc_id, self.igw_id, self.table_id] + self.subnet_ids

    def snapshot(self):
        # Free addresses are left out: the stack's instance and mount targets use some (and the emulator
        # never frees a terminated instance's ENI); that is use, not a change to the user's network.
        ec2 = self.ec2
        subnets = [
            {k: v for k, v in s.items() if k != "AvailableIpAddressCount"}
            for s in ec2.describe_subnets(SubnetIds=self.subnet_ids)["Subnets"]
        ]
        return (
            ec2.describe_vpcs(VpcIds=[self.vpc_id])["Vpcs"],
            subnets,
            ec2.describe_internet_gateways(InternetGatewayIds=[self.igw_id])["InternetGateways"],
            ec2.describe_route_tables(RouteTableIds=[self.table_id])["RouteTables"],
        )


def assert_rolled_back(aws, state_dir, stack_name, run):
    """The run failed, the emulator holds nothing of the stack, and the state says so. Returns the state."""
    assert run.rc != 0, run.output[-3000:]
    assert aws.stack_resources(stack_name) == {}, run.output[-3000:]
    state = load_state(state_dir, stack_name)
    assert state["status"] == "rolled_back", (state["status"], run.output[-3000:])
    assert {entry["status"] for entry in state["resources"]} <= {"deleted"}, state["resources"]
    return state


def load_state(state_dir, stack_name):
    with open(os.path.join(state_dir, stack_name + ".json")) as handle:
        return json.load(handle)
