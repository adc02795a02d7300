"""Each kind's ``owned``: what the teardown asks before a delete, since the state is a document whoever can write
it controls. What the state names must carry the stack's own marks: tags, for IAM the name and the path, for a
parameter its path, for a mount target its file system's."""

from ansible_collections.geusemaker.stack.plugins.module_utils import kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import IAM_PATH, efs_creation_token, iam_name, ownership_tags, ssm_path
from tests.unit.conftest import REGION, SESSION, make_clients

MISSING = {"vpc": "vpc-0123456789abcdef0", "subnet": "subnet-0123456789abcdef0", "internet_gateway": "igw-0123456789abcdef0",
           "route_table": "rtb-0123456789abcdef0", "security_group": "sg-0123456789abcdef0",
           "volume": "vol-0123456789abcdef0", "instance": "i-0123456789abcdef0", "file_system": "fs-01234567",
           "mount_target": "fsmt-01234567", "iam_role": "geusemaker-gone-us-east-1",
           "instance_profile": "geusemaker-gone-us-east-1"}


def marked(stack, resource_type, key="k"):
    return [{"ResourceType": resource_type,
             "Tags": [{"Key": k, "Value": v} for k, v in ownership_tags(stack, key).items()]}]


def build(stack, cidr):
    """One resource of each kind, marked as ``stack``'s: {type: id}."""
    ec2, efs, iam = (SESSION.client(s, region_name=REGION) for s in ("ec2", "efs", "iam"))
    ids = {"vpc": ec2.create_vpc(CidrBlock=cidr + ".0.0/16", TagSpecifications=marked(stack, "vpc"))["Vpc"]["VpcId"]}
    ids["subnet"] = ec2.create_subnet(VpcId=ids["vpc"], CidrBlock=cidr + ".1.0/24", AvailabilityZone=REGION + "a",
                                      TagSpecifications=marked(stack, "subnet"))["Subnet"]["SubnetId"]
    ids["internet_gateway"] = ec2.create_internet_gateway(
        TagSpecifications=marked(stack, "internet-gateway"))["InternetGateway"]["InternetGatewayId"]
    ids["route_table"] = ec2.create_route_table(
        VpcId=ids["vpc"], TagSpecifications=marked(stack, "route-table"))["RouteTable"]["RouteTableId"]
    ids["security_group"] = ec2.create_security_group(
        GroupName=stack, Description="d", VpcId=ids["vpc"], TagSpecifications=marked(stack, "security-group"))["GroupId"]
    ids["volume"] = ec2.create_volume(AvailabilityZone=REGION + "a", Size=1, TagSpecifications=marked(stack, "volume"))["VolumeId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids["instance"] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=ids["subnet"],
                                        TagSpecifications=marked(stack, "instance"))["Instances"][0]["InstanceId"]
    ids["file_system"] = efs.create_file_system(CreationToken=efs_creation_token(stack, REGION))["FileSystemId"]
    ids["mount_target"] = efs.create_mount_target(FileSystemId=ids["file_system"], SubnetId=ids["subnet"])["MountTargetId"]
    name = iam_name(stack, REGION)
    ids["iam_role"] = iam.create_role(RoleName=name, Path=IAM_PATH, AssumeRolePolicyDocument="{}")["Role"]["RoleName"]
    ids["instance_profile"] = iam.create_instance_profile(InstanceProfileName=name, Path=IAM_PATH)["InstanceProfile"]["InstanceProfileName"]
    ids["ssm_parameter"] = ssm_path(stack) + "db_password"
    return ids


def test_only_what_carries_the_stacks_own_marks_is_its_own(aws):
    own, others = build("s1", "10.1"), build("other", "10.2")
    clients = make_clients()
    wrong = []
    for resource_type in sorted(kinds.KINDS):
        owned = kinds.get(resource_type).impl.owned
        answers = [owned(clients, {"id": own[resource_type]}, "s1", REGION),
                   owned(clients, {"id": others[resource_type]}, "s1", REGION)]
        expected = [True, False]
        if resource_type in MISSING:  # a parameter's path says it without a call
            answers.append(owned(clients, {"id": MISSING[resource_type]}, "s1", REGION))
            expected.append(None)
        if answers != expected:
            wrong.append((resource_type, answers))
    assert wrong == []
    assert len(own) == len(kinds.KINDS)


def test_an_iam_role_of_the_stacks_name_outside_the_collections_path_is_not_its_own(aws):
    iam = SESSION.client("iam", region_name=REGION)
    iam.create_role(RoleName=iam_name("s1", REGION), Path="/", AssumeRolePolicyDocument="{}")
    assert kinds.get("iam_role").impl.owned(make_clients(), {"id": iam_name("s1", REGION)}, "s1", REGION) is False
