"""Real AWS's late consistency, which the emulator does not have, as fault proxy rules.

Each rule answers the first calls after a create as AWS does while the create has not propagated, with the error
code and message AWS gives:

- IAM: a role made seconds ago is an invalid principal in a resource policy (EFS's PutFileSystemPolicy answers
  InvalidPolicyException; terraform-provider-aws retries the same for two minutes), and a new instance profile is
  an invalid parameter to RunInstances until IAM has propagated it;
- EC2: a VPC, subnet or instance just created is NotFound to a describe by its id. (The collection never describes
  a security group by id after creating it, so a rule for that would never act.)

The integration tier's ``proxy`` fixture turns them on for every test (``turn_on``); a test marked
aws_consistent_at_once, or a case of a reliability figure, runs without them, and ``proxy.clear()`` drops them.
A test that means to meet them checks afterwards that each acted (``acted(turned_on(proxy))``). Each refuses the
first ``times`` matching calls after the proxy first forwarded the create; then the call goes through, as it does
once AWS is consistent.
"""

from tests.support.fault_proxy import Rule

IAM_PRINCIPAL = "Policy contains invalid Principal block."
IAM_PROFILE = ("Value (geusemaker) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile "
               "name")
DESCRIBE_BY_ID = (
    ("DescribeVpcs", "InvalidVpcID.NotFound", "VpcId.1=", "CreateVpc"),
    ("DescribeVpcAttribute", "InvalidVpcID.NotFound", "VpcId=", "CreateVpc"),
    ("DescribeSubnets", "InvalidSubnetID.NotFound", "SubnetId.1=", "CreateSubnet"),
    ("DescribeInstances", "InvalidInstanceID.NotFound", "InstanceId.1=", "RunInstances"),
)


class LateRule(Rule):
    """A rule of late consistency, told apart from a test's own rules."""


def rules(iam_times=2, describe_times=1):
    found = [
        LateRule("PutFileSystemPolicy", error="InvalidPolicyException", message=IAM_PRINCIPAL, after="CreateRole",
                 times=iam_times),
        LateRule("RunInstances", error="InvalidParameterValue", message=IAM_PROFILE, after="CreateInstanceProfile",
                 times=iam_times),
    ]
    found += [LateRule(operation, error=code, message="The ID does not exist", body_contains=marker, after=create,
                       times=describe_times) for operation, code, marker, create in DESCRIBE_BY_ID]
    return found


# Lookups by the stack's tag, and the element of the answer that lists what they found.
TAG_LOOKUPS = (
    ("DescribeVpcs", "vpcSet", "CreateVpc"),
    ("DescribeSubnets", "subnetSet", "CreateSubnet"),
    ("DescribeInternetGateways", "internetGatewaySet", "CreateInternetGateway"),
    ("DescribeRouteTables", "routeTableSet", "CreateRouteTable"),
    ("DescribeSecurityGroups", "securityGroupInfo", "CreateSecurityGroup"),
    ("DescribeVolumes", "volumeSet", "CreateVolume"),
    ("DescribeInstances", "reservationSet", "RunInstances"),
)
TAG_FILTER = "Name=tag:geusemaker:stack"


def tag_rules(times=1):
    """Tags set on create reach AWS's tag filters late: the first ``times`` lookups by the stack's tag of each kind
    after its create find nothing, while a describe by id shows the resource with its tags. Not in the default
    rules: a test whose run follows another by seconds, as no user's does, would meet them where the state is lost
    too (and nothing but the tags can find a resource then)."""
    return [LateRule(operation, rewrite=[(r"(?s)<{0}>.*</{0}>".format(element), "<{0}/>".format(element))],
                     body_contains=TAG_FILTER, after=create, times=times) for operation, element, create in TAG_LOOKUPS]


def late_tags(proxy, **options):
    """Add fresh tag_rules to ``proxy``; returns them for ``acted``."""
    return [proxy.add(rule) for rule in tag_rules(**options)]


def turn_on(proxy, **options):
    """Add fresh rules to ``proxy``; returns them for ``acted``."""
    return [proxy.add(rule) for rule in rules(**options)]


def turned_on(proxy):
    """The rules of late consistency ``proxy`` holds: [] once it is cleared, or in a test that runs without them."""
    return [rule for rule in proxy.rules if isinstance(rule, LateRule)]


def settled(calls):
    """The calls late consistency did not answer: what the collection asked of AWS once it was consistent."""
    return [call for call in calls if not isinstance(call.rule, LateRule)]


def acted(added):
    """The rules that never answered a call (a test that meant to meet them did not): [] when all did; and one
    entry when there are no rules at all, so that a test cannot meet them by having none."""
    if not added:
        return [("late consistency", "not turned on")]
    return [(rule.operation, rule.error) for rule in added if rule.hits == 0]
