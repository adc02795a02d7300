# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Instances: adopt by ownership or launch (spot first, on-demand fallback), record, wait until healthy; delete."""

import gzip
import hashlib
import sys
import time

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict, boto3_tag_specifications

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import (
    WaitFailed,
    WaitTimeout,
    describe_created,
    error_code,
    is_boto3_error_code,
    list_all,
    wait_until,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.ec2 import carries_marks
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import EC2_CONSOLE, Kind, register
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import KEY_TAG, is_planned, owner_filters
from ansible_collections.geusemaker.stack.plugins.module_utils.polling import PollTimeout, poll_until

TYPE = "instance"
GONE_CODES = ("InvalidInstanceID.NotFound",)

USER_DATA_LIMIT = 16384
ROOT_VOLUME_GIB = 75
# Room on the root disk beyond the image's own snapshot: the five container images take about 12 GiB, and
# docker needs about as much again while it pulls and extracts them.
IMAGE_HEADROOM_GIB = 30
DEFAULT_ROOT_DEVICE = "/dev/xvda"
POLL_INTERVAL = 2
PROFILE_PROPAGATION_LIMIT = 60
LIVE_STATES = ("pending", "running", "stopping", "stopped")
# The StateReason of a spot instance that EC2 stopped for capacity or price. Only EC2 may start it again, which it
# does for a persistent request when capacity returns; a StartInstances of ours is refused.
SPOT_INTERRUPTED = "Server.SpotInstanceShutdown"
SPOT_WAY_OUT = ("EC2 starts it again by itself when spot capacity returns in its zone (StartInstances is refused "
                "meanwhile); the volumes and data are kept. Wait and run check again, or destroy with -e keep_data=true "
                "and deploy again with -e use_spot=false for an on-demand instance on the same data")
# IMDSv2 only, one hop: a container on the bridge network (one hop more) cannot reach the role's credentials.
METADATA_OPTIONS = {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1}
INVALID_IMAGE_CODES = ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable")
# Why a launch is refused, and what follows: no capacity for that market in that zone, or no address left in that
# subnet (try the next zone, then the next market), or a limit of the whole account for that market (skip the
# market everywhere), or of the whole account.
ZONE_CAPACITY_CODES = ("InsufficientInstanceCapacity", "InsufficientCapacity", "UnfulfillableCapacity", "Unsupported",
                       "SpotMaxPriceTooLow", "InsufficientFreeAddressesInSubnet")
MARKET_LIMIT_CODES = ("MaxSpotInstanceCountExceeded", "VcpuLimitExceeded")
ACCOUNT_LIMIT_CODES = ("InstanceLimitExceeded",)
ADVICE = {
    "InsufficientInstanceCapacity": "AWS has no {market} capacity for {type} in {zone} now",
    "InsufficientCapacity": "AWS has no {market} capacity for {type} in {zone} now",
    "UnfulfillableCapacity": "AWS cannot fulfil {market} {type} in {zone} now",
    "Unsupported": "{type} is not supported ({market}) in {zone}",
    "SpotMaxPriceTooLow": "the spot price of {type} in {zone} is above the maximum price",
    "InsufficientFreeAddressesInSubnet": "subnet {zone} has no free address left",
    "MaxSpotInstanceCountExceeded": "the account's spot instance limit is reached; request an increase of its spot vCPU "
                                    "quota in Service Quotas",
    "VcpuLimitExceeded": "the account's {market} vCPU quota for {type} is too low; request an increase in Service Quotas "
                         "(EC2, 'Running On-Demand ... instances' or 'All ... Spot Instance Requests' for its family)",
    "InstanceLimitExceeded": "the account's instance limit is reached; terminate unused instances or request an increase",
}


def key_for(index):
    return "instance-{0}".format(index)


def compress_user_data(text):
    """The UserData as gzip bytes (botocore base64-encodes them); ValueError past the 16 KiB AWS limit."""
    data = gzip.compress(text.encode("utf-8"), mtime=0)
    if len(data) > USER_DATA_LIMIT:
        raise ValueError(
            "user_data is {0} bytes after gzip; AWS accepts at most {1}".format(len(data), USER_DATA_LIMIT)
        )
    return data


def client_token(stack_name, region, key, generation, market, subnet_id):
    # Same launch, same token: a retried request whose response was lost does not launch twice on AWS, and neither
    # does the next run after a run killed at its launch (see launch_generation). Another market or zone is another
    # launch (AWS refuses a token reused with other parameters).
    seed = "|".join((stack_name, region, key, generation, market, subnet_id))
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def launch_generation(ledger, key):
    """What makes a launch new: the stack's state document (a lost one starts anew: its created_at differs) and how
    many instances of ``key`` it has recorded (a destroyed or rolled back one counts). A run killed during its launch
    changes neither, so the run after it sends the same token, and AWS answers with the instance the killed run
    launched instead of launching a second one. A token AWS has seen launch an instance that is now terminated
    would get that instance back; the count moves on once it is recorded."""
    recorded = [entry for entry in ledger.entries(TYPE) if entry.get("key") == key]
    return "{0}#{1}".format(ledger.document.get("created_at") or "", len(recorded))


def lifecycle_of(item):
    return "spot" if item.get("InstanceLifecycle") == "spot" else "on-demand"


def profile_name_of(item):
    arn = (item.get("IamInstanceProfile") or {}).get("Arn")
    return arn.rsplit("/", 1)[-1] if arn else None


def group_of(item):
    groups = item.get("SecurityGroups") or []
    return groups[0]["GroupId"] if groups else None


def summary(item):
    return {
        "id": item["InstanceId"],
        "lifecycle": lifecycle_of(item),
        "public_ip": item.get("PublicIpAddress"),
        "public_dns": item.get("PublicDnsName") or None,
        "private_ip": item.get("PrivateIpAddress"),
        "subnet_id": item.get("SubnetId"),
        "availability_zone": (item.get("Placement") or {}).get("AvailabilityZone"),
    }


def condition(item):
    """What EC2 says of one instance now: state, public address (name, else IP) and whether spot stopped it."""
    state = item["State"]["Name"]
    return {
        "id": item["InstanceId"],
        "state": state,
        "address": item.get("PublicDnsName") or item.get("PublicIpAddress") or None,
        "spot_interrupted": state in ("stopping", "stopped") and (item.get("StateReason") or {}).get("Code") == SPOT_INTERRUPTED,
    }


def conditions(ec2, ids):
    """condition() of each of ``ids``, in their order; one that EC2 no longer knows is ``gone``."""
    try:
        found = {item["InstanceId"]: item for item in instances_of(ec2.describe_instances(aws_retry=True, InstanceIds=ids))}
    except is_boto3_error_code(GONE_CODES):
        found = {item["InstanceId"]: item for instance_id in ids for item in instances_of(
            ec2.describe_instances(aws_retry=True, Filters=[{"Name": "instance-id", "Values": [instance_id]}]))}
    return [condition(found[i]) if i in found else {"id": i, "state": "gone", "address": None, "spot_interrupted": False}
            for i in ids]


def compare(now, recorded_url):
    """The stack's instances now (conditions()) against the service URL its state records: condition,
    service_url, address_moved, msg and the instances themselves."""
    live = next((c["address"] for c in now if c["address"]), None)
    service_url = "https://{0}".format(live) if live else None
    states = {c["state"] for c in now}
    interrupted = [c for c in now if c["spot_interrupted"]]
    if not now:
        found, msg = "none", "the stack has no instance recorded"
    elif interrupted:
        found, msg = "waiting_for_spot_capacity", spot_wait_message(interrupted)
    elif states <= {"running"}:
        found, msg = "running", "running at {0}".format(service_url)
    elif states & {"terminated", "shutting-down", "gone"}:
        found, msg = "gone", "instance(s) {0} terminated or gone: deploy again to replace them".format(
            ", ".join(c["id"] for c in now if c["state"] in ("terminated", "shutting-down", "gone")))
    elif states <= {"stopped"}:
        found, msg = "stopped", "stopped: start it with playbooks/start.yml"
    else:
        found, msg = "changing", "instance(s) {0}".format(", ".join("{0} {1}".format(c["id"], c["state"]) for c in now))
    moved = bool(service_url and recorded_url and service_url.rstrip("/") != recorded_url.rstrip("/"))
    if moved:
        msg += "; the address moved from {0} (the state's URL, now stale)".format(recorded_url)
    return dict(instances=now, condition=found, service_url=service_url, address_moved=moved, msg=msg)


def spot_wait_message(interrupted):
    return "instance(s) {0} waiting for spot capacity: stopped by a spot interruption. {1}.".format(
        ", ".join(c["id"] for c in interrupted), SPOT_WAY_OUT)


def instances_of(response):
    return [item for reservation in response["Reservations"] for item in reservation["Instances"]]


def described_instances(ec2, **params):
    return [item for reservation in list_all(ec2, "describe_instances", "Reservations", **params) for item in reservation["Instances"]]


def find_owned(ec2, stack_name, key, recorded=()):
    """The live instance of ``key``; the ``recorded`` ids (the ledger's) are read by id too, as AWS's tag filters
    may not show yet an instance launched seconds ago."""
    live = {"Name": "instance-state-name", "Values": list(LIVE_STATES)}
    found = described_instances(ec2, Filters=owner_filters(stack_name, key) + [live])
    unseen = [instance_id for instance_id in recorded if instance_id not in {item["InstanceId"] for item in found}]
    if unseen:
        found += [item for item in described_instances(ec2, Filters=[{"Name": "instance-id", "Values": unseen}, live])
                  if carries_marks(item, stack_name, key)]
    found.sort(key=lambda item: (item["State"]["Name"] != "running", item["InstanceId"]))
    return found[0] if found else None


def root_device(ec2, ami_id):
    try:
        images = ec2.describe_images(aws_retry=True, ImageIds=[ami_id])["Images"]
    except is_boto3_error_code(INVALID_IMAGE_CODES):
        images = []  # RunInstances names the problem with the image better
    return (images[0].get("RootDeviceName") if images else None) or DEFAULT_ROOT_DEVICE


def launch_parameters(stack, key, subnet_id, spec, device_name, market):
    params = dict(
        ImageId=spec["ami_id"],
        InstanceType=spec["instance_type"],
        MinCount=1,
        MaxCount=1,
        # SecurityGroupIds, not NetworkInterfaces: moto drops the groups given on an interface.
        SubnetId=subnet_id,
        SecurityGroupIds=[spec["security_group_id"]],
        IamInstanceProfile={"Name": spec["instance_profile_name"]},
        UserData=spec["user_data"],
        MetadataOptions=dict(METADATA_OPTIONS),
        BlockDeviceMappings=[
            {
                "DeviceName": device_name,
                "Ebs": {"VolumeSize": spec["root_volume_size"], "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True},
            }
        ],
        # A spot launch also creates a spot request: tagged at birth like the rest, so that the stack (and its
        # deployer policy, which cancels only tagged requests) owns it.
        TagSpecifications=boto3_tag_specifications(stack.tags(key), ["instance", "volume"] + (
            ["spot-instances-request"] if market == "spot" else [])),
        ClientToken=client_token(stack.stack_name, stack.region, key, launch_generation(stack.ledger, key), market,
                                 subnet_id),
    )
    if spec["key_name"]:
        params["KeyName"] = spec["key_name"]
    if market == "spot":
        # Persistent, stopped on interruption: the instance comes back with its volumes when capacity returns.
        params["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "stop"},
        }
    return params


def converge_metadata_options(stack, item):
    """An adopted instance gets IMDSv2 and one hop too (it may come from an older deploy)."""
    current = item.get("MetadataOptions") or {}
    if all(current.get(option) == value for option, value in METADATA_OPTIONS.items()):
        return
    stack.changed = True
    if not stack.check_mode:
        with stack.aws_call("cannot set the metadata options of {0}".format(item["InstanceId"]), TYPE, item["InstanceId"],
                            action="modify"):
            stack.clients.ec2.modify_instance_metadata_options(aws_retry=True, InstanceId=item["InstanceId"], **METADATA_OPTIONS)


def is_profile_not_visible(error):
    message = str(error).lower()
    return error_code(error) == "InvalidParameterValue" and (
        "iam instance profile" in message or "iaminstanceprofile" in message
    )


def run_one(stack, params, deadline, clock, sleep):
    """RunInstances, retried while IAM has not yet propagated a new instance profile."""
    ec2 = stack.clients.ec2
    last = {}

    def attempt():
        try:
            return ec2.run_instances(aws_retry=True, **params)["Instances"][0]
        except is_boto3_error_code("InvalidParameterValue") as e:
            if not is_profile_not_visible(e):
                raise
            last["error"] = e
            return None

    limit = max(0, min(PROFILE_PROPAGATION_LIMIT, deadline - clock()))
    try:
        return poll_until(attempt, limit, interval=POLL_INTERVAL, clock=clock, sleep=sleep, heartbeat=stack.heartbeat)
    except PollTimeout:
        raise last["error"]


def launch(stack, key, subnet_ids, spec, device_name, deadline, clock, sleep):
    """Launch one instance: spot (when asked) in each subnet's zone in turn, then on-demand in each, until one is
    accepted; spot anywhere costs less than on-demand in the first zone.

    Returns (instance, warnings); fails with the last refusal and what each attempt met."""
    markets = ["spot", "on-demand"] if spec["use_spot"] else ["on-demand"]
    tried, last = [], None
    for market in markets:
        for subnet_id in subnet_ids:
            with stack.aws_call("cannot launch {0} ({1} {2} in {3})".format(key, market, spec["instance_type"], subnet_id), TYPE):
                try:
                    params = launch_parameters(stack, key, subnet_id, spec, device_name, market)
                    return run_one(stack, params, deadline, clock, sleep), [
                        "{0}: {1}; launched {2} in {3} instead".format(key, note, market, subnet_id) for note in tried]
                except is_boto3_error_code(ZONE_CAPACITY_CODES + MARKET_LIMIT_CODES) as e:
                    last = e
                    tried.append("{0} ({1})".format(
                        ADVICE[error_code(e)].format(market=market, type=spec["instance_type"], zone=subnet_id), error_code(e)))
                    if error_code(e) in MARKET_LIMIT_CODES:
                        break  # a limit of the whole account for this market: the next market
    stack.fail_aws(last, "cannot launch {0} ({1}): every zone and market of the stack was refused ({2}); try again later, "
                         "or choose another instance_type or region".format(key, spec["instance_type"], "; ".join(tried)),
                   TYPE)


def wait_healthy(stack, ids, deadline, clock, sleep, status_checks=True):
    """Wait until every instance runs and, with ``status_checks``, passes its instance and system status checks;
    returns their descriptions."""
    ec2 = stack.clients.ec2
    try:
        with stack.aws_call("cannot check the state of instance(s) {0}".format(", ".join(ids)), TYPE, ids[0], action="wait"):
            running = wait_until(ec2, "instance_running", max(0, deadline - clock()), POLL_INTERVAL, clock, sleep,
                                 heartbeat=stack.heartbeat, InstanceIds=ids)
            for waiter in ("instance_status_ok", "system_status_ok") if status_checks else ():
                wait_until(ec2, waiter, max(0, deadline - clock()), POLL_INTERVAL, clock, sleep, heartbeat=stack.heartbeat,
                           InstanceIds=ids)
    except WaitFailed as e:
        item = next(item for item in instances_of(e.response) if item["State"]["Name"] not in ("pending", "running"))
        state = item["State"]["Name"]
        reason = (item.get("StateReason") or {}).get("Message") or item.get("StateTransitionReason") or "no reason given"
        stack.fail(
            "instance {0} went to {1} while starting: {2}".format(item["InstanceId"], state, reason),
            resource_type=TYPE, resource_id=item["InstanceId"], error_code="InstanceTerminated", critical=True,
        )
    except WaitTimeout:
        stack.fail(
            "instance(s) {0} not running{1} within the timeout".format(", ".join(ids), " with status checks ok" if status_checks else ""),
            resource_type=TYPE, resource_id=ids[0], error_code="Timeout", critical=True,
        )
    return instances_of(running)


def subnets_in_zone(stack, subnet_ids, zone):
    """The subnets of ``subnet_ids`` in ``zone``; fails when there is none."""
    if zone is None or all(is_planned(subnet_id) for subnet_id in subnet_ids):
        return list(subnet_ids)
    with stack.aws_call("cannot describe subnets {0}".format(", ".join(subnet_ids)), TYPE, action="find"):
        zones = {item["SubnetId"]: item["AvailabilityZone"]
                 for item in describe_created(stack.clients.ec2.describe_subnets, SubnetIds=list(subnet_ids))["Subnets"]}
    found = [subnet_id for subnet_id in subnet_ids if zones.get(subnet_id) == zone]
    if not found:
        stack.fail("none of the stack's subnets ({0}) is in {1}, where its data volume is".format(", ".join(subnet_ids), zone),
                   resource_type=TYPE, error_code="NoSubnetInZone")
    return found


def ensure(stack, count, instance_type, ami_id, subnet_ids, security_group_id, instance_profile_name, user_data,
           use_spot=True, key_name=None, timeout=600, root_volume_size=ROOT_VOLUME_GIB, zone=None,
           clock=time.monotonic, sleep=time.sleep, status_checks=True):
    """Adopt or launch ``count`` instances, record them, wait until they run and (``status_checks``) pass their
    status checks.

    Returns one dict per instance (id, lifecycle, public_ip, public_dns, private_ip, subnet_id,
    availability_zone, warnings).
    """
    deadline = clock() + timeout
    spec = dict(
        instance_type=instance_type, ami_id=ami_id, security_group_id=security_group_id,
        instance_profile_name=instance_profile_name, user_data=compress_user_data(user_data),
        use_spot=use_spot, key_name=key_name, root_volume_size=root_volume_size,
    )
    ec2 = stack.clients.ec2
    subnet_ids = subnets_in_zone(stack, subnet_ids, zone)
    results, waiting, device_name = [], [], None
    for index in range(count):
        key = key_for(index)
        subnet_id = subnet_ids[index % len(subnet_ids)]
        with stack.aws_call("cannot look up {0}".format(key), TYPE, action="find"):
            found = find_owned(ec2, stack.stack_name, key, stack.recorded_ids(TYPE))
        if found is not None:
            stack.record(TYPE, found["InstanceId"], "adopted", key=key, subnet_id=found.get("SubnetId"),
                         security_group_id=group_of(found),
                         instance_profile=profile_name_of(found), lifecycle=lifecycle_of(found),
                         instance_type=found.get("InstanceType"))
            result = dict(summary(found), warnings=[])
            converge_metadata_options(stack, found)
            if found["State"]["Name"] in ("pending", "running"):
                waiting.append(found["InstanceId"])
            else:
                result["warnings"].append("{0}: instance {1} is {2}; start it or destroy the stack".format(
                    key, found["InstanceId"], found["State"]["Name"]))
            results.append(result)
            continue
        if stack.check_mode:
            planned = stack.plan(TYPE, key, subnet_id=subnet_id, instance_type=instance_type,
                                 lifecycle="spot" if use_spot else "on-demand")
            results.append({"id": planned, "lifecycle": "spot" if use_spot else "on-demand", "public_ip": None,
                            "public_dns": None, "private_ip": None, "subnet_id": subnet_id,
                            "availability_zone": None, "warnings": []})
            continue
        if device_name is None:
            with stack.aws_call("cannot describe image {0}".format(ami_id), TYPE):
                device_name = root_device(ec2, ami_id)
        first = index % len(subnet_ids)
        item, warnings = launch(stack, key, subnet_ids[first:] + subnet_ids[:first], spec, device_name, deadline, clock, sleep)
        stack.record(TYPE, item["InstanceId"], "created", key=key, subnet_id=item.get("SubnetId"),
                     availability_zone=(item.get("Placement") or {}).get("AvailabilityZone"),
                     security_group_id=security_group_id, instance_profile=instance_profile_name,
                     lifecycle=lifecycle_of(item), instance_type=instance_type)
        waiting.append(item["InstanceId"])
        results.append(dict(summary(item), warnings=warnings))
    if waiting:
        # Addresses and names are only complete once the instance runs: refresh from the last describe.
        described = {item["InstanceId"]: item for item in wait_healthy(stack, waiting, deadline, clock, sleep, status_checks)}
        results = [dict(summary(described[r["id"]]), warnings=r["warnings"]) if r["id"] in described else r for r in results]
    return results


def stop(stack, ids, timeout, clock=time.monotonic, sleep=time.sleep):
    """Stop the instances (GPU billing pauses; the volumes stay) and wait until they are stopped."""
    ec2 = stack.clients.ec2
    with stack.aws_call("cannot stop instance(s) {0}".format(", ".join(ids)), TYPE, ids[0], action="stop"):
        ec2.stop_instances(aws_retry=True, InstanceIds=ids)
    try:
        with stack.aws_call("cannot check the state of instance(s) {0}".format(", ".join(ids)), TYPE, ids[0], action="wait"):
            wait_until(ec2, "instance_stopped", timeout, POLL_INTERVAL, clock, sleep, heartbeat=stack.heartbeat, InstanceIds=ids)
    except (WaitFailed, WaitTimeout):
        stack.fail("instance(s) {0} not stopped within {1}s".format(", ".join(ids), timeout), resource_type=TYPE,
                   resource_id=ids[0], error_code="Timeout")


def start(stack, ids, timeout, clock=time.monotonic, sleep=time.sleep):
    """Start the stopped instances and wait until all run with status checks ok; returns their summaries (a stopped
    instance comes back with new public addresses). One that a spot interruption stopped is EC2's to start: then
    nothing is sent, and the failure says how to get out."""
    with stack.aws_call("cannot read the state of instance(s) {0}".format(", ".join(ids)), TYPE, ids[0], action="find"):
        now = conditions(stack.clients.ec2, ids)
    interrupted = [c for c in now if c["spot_interrupted"]]
    if interrupted:
        stack.fail(spot_wait_message(interrupted), resource_type=TYPE, resource_id=interrupted[0]["id"],
                   error_code=SPOT_INTERRUPTED, critical=False)
    stopped = [c["id"] for c in now if c["state"] == "stopped"]
    if stopped:
        with stack.aws_call("cannot start instance(s) {0}".format(", ".join(stopped)), TYPE, stopped[0], action="start"):
            stack.clients.ec2.start_instances(aws_retry=True, InstanceIds=stopped)
    return [summary(item) for item in wait_healthy(stack, ids, clock() + timeout, clock, sleep)]


def delete(clients, entry):
    """Cancel the instance's spot request first (a persistent request would launch it again), then terminate it."""
    ec2 = clients.ec2
    found = instances_of(ec2.describe_instances(aws_retry=True, InstanceIds=[entry["id"]]))
    requests = [item["SpotInstanceRequestId"] for item in found if item.get("SpotInstanceRequestId")]
    if requests:
        try:
            ec2.cancel_spot_instance_requests(aws_retry=True, SpotInstanceRequestIds=requests)
        except is_boto3_error_code("InvalidSpotInstanceRequestID.NotFound"):
            pass
    ec2.terminate_instances(aws_retry=True, InstanceIds=[entry["id"]])


def owned(clients, entry, stack_name, region):
    """None when EC2 does not list the instance, else whether its own tags name the stack."""
    found = described_instances(clients.ec2, Filters=[{"Name": "instance-id", "Values": [entry["id"]]}])
    return carries_marks(found[0], stack_name) if found else None


def exists(clients, entry):
    found = instances_of(clients.ec2.describe_instances(aws_retry=True, InstanceIds=[entry["id"]]))
    return any(item["State"]["Name"] != "terminated" for item in found)


def discover(clients, stack_name, region):
    states = list(LIVE_STATES) + ["shutting-down"]
    filters = owner_filters(stack_name) + [{"Name": "instance-state-name", "Values": states}]
    found = described_instances(clients.ec2, Filters=filters)
    return [
        {
            "id": item["InstanceId"],
            "key": boto3_tag_list_to_ansible_dict(item.get("Tags")).get(KEY_TAG),
            "subnet_id": item.get("SubnetId"),
            "security_group_id": group_of(item),
            "instance_profile": profile_name_of(item),
            "lifecycle": lifecycle_of(item),
        }
        for item in found
    ]


# Estimated on-demand USD per hour in us-east-1; spot is usually much less. Other types: see AWS pricing.
HOURLY_USD = {
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g6.xlarge": 0.805,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "m5.large": 0.096,
}


def hourly_usd(entry):
    return HOURLY_USD.get(entry.get("instance_type"))


def cost_note(entry):
    price = hourly_usd(entry)
    if price is None:
        return "hourly cost of {0} unknown; see aws.amazon.com/ec2/pricing".format(entry.get("instance_type") or "its type")
    return "about USD {0:.3f}/hour on-demand ({1}){2}".format(
        price, entry["instance_type"], ", less as spot" if entry.get("lifecycle") == "spot" else "")


KIND = register(Kind(
    TYPE, sys.modules[__name__], GONE_CODES, EC2_CONSOLE + "InstanceDetails:instanceId={id}",
    "aws ec2 terminate-instances --region {r} --instance-ids {id}  # cancel its spot request first, if it has one",
    delete_after=(), hourly_usd=hourly_usd, cost_note=cost_note,
))
