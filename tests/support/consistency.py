"""Real AWS's late consistency, which the emulator does not have, as fault proxy rules.

Each rule answers the first calls after a create as AWS does while the create has not propagated, with the error
code and message AWS gives:

- IAM: a role made seconds ago is an invalid principal in a resource policy (EFS's PutFileSystemPolicy answers
  InvalidPolicyException; terraform-provider-aws retries the same for two minutes), and a new instance profile is
  an invalid parameter to RunInstances until IAM has propagated it;
- EC2: a VPC, subnet or instance just created is NotFound to a describe by its id. (The collection never describes
  a security group by id after creating it, so a rule for that would never act.)

``rules()`` gives fresh rules; a test adds them (``proxy.add``) before the run it wants them in, and checks
afterwards that each acted (``rule.hits``). Each refuses the first ``times`` matching calls after the proxy first
forwarded the create; then the call goes through, as it does once AWS is consistent.
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


def rules(iam_times=2, describe_times=1):
    found = [
        Rule("PutFileSystemPolicy", error="InvalidPolicyException", message=IAM_PRINCIPAL, after="CreateRole",
             times=iam_times),
        Rule("RunInstances", error="InvalidParameterValue", message=IAM_PROFILE, after="CreateInstanceProfile",
             times=iam_times),
    ]
    found += [Rule(operation, error=code, message="The ID does not exist", body_contains=marker, after=create,
                   times=describe_times) for operation, code, marker, create in DESCRIBE_BY_ID]
    return found


def turn_on(proxy, **options):
    """Add fresh rules to ``proxy``; returns them for ``acted``."""
    return [proxy.add(rule) for rule in rules(**options)]


def acted(added):
    """The rules that never answered a call (a test that meant to meet them did not): [] when all did."""
    return [(rule.operation, rule.error) for rule in added if rule.hits == 0]
