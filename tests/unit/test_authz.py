"""The authorization check itself (tests/support/authz): it decides as AWS documents, knows what it does not know,
models calls as the reference says, and its hostile variants catch a missing guard. A check that cannot fail is a
defect, so each rule here has a case that must be refused."""

import json

import pytest

from tests.support.authz.calls import Call, Model, model_call
from tests.support.authz.check import Principal, check, hostile_variants, known_key, load_policy
from tests.support.authz.policy import Policy, PolicyNotUnderstood, arn_match, evaluate, wildcard_match
from tests.support.authz.reference import Reference, ReferenceError_

ACCOUNT = "123456789012"


def policy(*statements, resource_policy=False):
    return Policy({"Version": "2012-10-17", "Statement": list(statements)}, "test", known_key, resource_policy)


def allow(action, resource="*", condition=None, effect="Allow", **more):
    statement = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    statement.update(more)
    return statement


def decide(statements, action="ec2:DeleteVpc", resource="arn:aws:ec2:us-east-1:1:vpc/vpc-1", context=None, **kw):
    return evaluate([policy(*statements)], action, resource, context or {}, **kw)


# --- policy evaluation ------------------------------------------------------------------------------------------

def test_nothing_is_allowed_by_default_and_a_deny_wins():
    assert decide([]).effect == "implicit"
    assert decide([allow("ec2:DeleteVpc")]).allowed
    both = decide([allow("ec2:DeleteVpc"), allow("ec2:*", effect="Deny")])
    assert both.effect == "deny" and not both.allowed


def test_actions_match_without_case_resources_with_case_and_wildcards():
    assert decide([allow("EC2:deletevpc")]).allowed
    assert decide([allow("ec2:Delete*")]).allowed
    assert not decide([allow("ec2:Delete?")]).allowed
    assert decide([allow("ec2:DeleteVpc", "arn:aws:ec2:*:*:vpc/*")]).allowed
    assert not decide([allow("ec2:DeleteVpc", "arn:aws:ec2:*:*:VPC/*")]).allowed
    assert decide([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]).allowed
    assert not decide([{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:ec2:*:*:vpc/*"}]).allowed
    assert wildcard_match("a[b]*", "a[b]c") and not wildcard_match("a[b]", "ab")


def test_arn_like_matches_part_by_part():
    assert arn_match("arn:aws:iam::*:role/geusemaker/*", "arn:aws:iam::1:role/geusemaker/x")
    assert not arn_match("arn:aws:iam::*:role/geusemaker/*", "arn:aws:iam::1:2:role/geusemaker/x")
    assert not arn_match("arn:aws:iam::*:role/*", "not-an-arn")


def test_conditions_on_keys_that_are_there():
    tagged = {"aws:ResourceTag/geusemaker:stack": "demo"}
    needs_tag = allow("ec2:DeleteVpc", condition={"Null": {"aws:ResourceTag/geusemaker:stack": "false"}})
    assert decide([needs_tag], context=tagged).allowed
    assert not decide([needs_tag]).allowed
    # Key names compare without case; values with it, unless the operator says otherwise.
    assert decide([allow("ec2:DeleteVpc", condition={"StringEquals": {"AWS:resourcetag/geusemaker:stack": "demo"}})],
                  context=tagged).allowed
    assert not decide([allow("ec2:DeleteVpc", condition={"StringEquals": {"aws:ResourceTag/geusemaker:stack": "DEMO"}})],
                      context=tagged).allowed
    assert decide([allow("ec2:DeleteVpc", condition={"StringEqualsIgnoreCase": {
        "aws:ResourceTag/geusemaker:stack": "DEMO"}})], context=tagged).allowed
    assert decide([allow("ec2:DeleteVpc", condition={"StringLike": {"aws:ResourceTag/geusemaker:stack": ["x", "d*"]}})],
                  context=tagged).allowed
    assert decide([allow("ec2:DeleteVpc", condition={"NumericLessThanEquals": {
        "ec2:MetadataHttpPutResponseHopLimit": "1"}})], context={"ec2:MetadataHttpPutResponseHopLimit": "1"}).allowed
    # Every operator and key of a block must hold.
    two = allow("ec2:DeleteVpc", condition={"StringEquals": {"aws:ResourceTag/geusemaker:stack": "demo",
                                                             "aws:RequestedRegion": "us-east-1"}})
    assert not decide([two], context=tagged).allowed
    assert decide([two], context=dict(tagged, **{"aws:RequestedRegion": "us-east-1"})).allowed


@pytest.mark.parametrize("operator, holds", [
    ("StringEquals", False), ("StringLike", False), ("ArnLike", False), ("Bool", False),
    ("StringNotEquals", True), ("StringNotLike", True), ("ArnNotLike", True),
    ("StringEqualsIfExists", True), ("ForAllValues:StringEquals", True), ("ForAnyValue:StringEquals", False),
])
def test_a_key_the_request_does_not_have(operator, holds):
    statement = allow("ec2:DeleteVpc", condition={operator: {"iam:PassedToService": "ec2.amazonaws.com"}})
    assert decide([statement]).allowed is holds


def test_several_values_of_a_negated_operator_must_all_differ():
    statement = allow("ec2:DeleteVpc", condition={"StringNotEquals": {"iam:PassedToService": ["a", "b"]}})
    assert not decide([statement], context={"iam:PassedToService": "b"}).allowed
    assert decide([statement], context={"iam:PassedToService": "c"}).allowed


def test_set_operators_on_a_list_and_a_plain_one_refused():
    keys = {"aws:TagKeys": ["Name", "geusemaker:stack"]}
    assert decide([allow("ec2:DeleteVpc", condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "Name"}})],
                  context=keys).allowed
    assert not decide([allow("ec2:DeleteVpc", condition={"ForAllValues:StringEquals": {"aws:TagKeys": "Name"}})],
                      context=keys).allowed
    with pytest.raises(PolicyNotUnderstood, match="several values"):
        decide([allow("ec2:DeleteVpc", condition={"StringEquals": {"aws:TagKeys": "Name"}})], context=keys)


def test_what_the_evaluator_does_not_know_fails_naming_it():
    with pytest.raises(PolicyNotUnderstood, match="StringFuzzy"):
        policy(allow("ec2:DeleteVpc", condition={"StringFuzzy": {"aws:RequestedRegion": "x"}}))
    with pytest.raises(PolicyNotUnderstood, match="ec2:Tenancy"):
        policy(allow("ec2:DeleteVpc", condition={"StringEquals": {"ec2:Tenancy": "default"}}))
    with pytest.raises(PolicyNotUnderstood, match="Principal"):
        policy(allow("ec2:DeleteVpc", Principal="*"))
    with pytest.raises(PolicyNotUnderstood, match="aws:username"):
        decide([allow("ec2:DeleteVpc", "arn:aws:ec2:*:*:vpc/${aws:username}")])
    with pytest.raises(PolicyNotUnderstood, match="NullIfExists"):
        policy(allow("ec2:DeleteVpc", condition={"NullIfExists": {"aws:RequestedRegion": "true"}}))


def test_policy_variables_come_from_the_request():
    statement = allow("ec2:DeleteVpc", "arn:aws:ec2:*:${aws:PrincipalAccount}:vpc/*")
    assert decide([statement], context={"aws:PrincipalAccount": "1"}).allowed
    assert not decide([statement], context={"aws:PrincipalAccount": "2"}).allowed


def test_a_boundary_limits_and_a_resource_policy_grants():
    boundary = [policy(allow("ssm:GetParameter", "arn:aws:ssm:*:*:parameter/geusemaker/*"))]
    wide = [policy(allow("ssm:*"))]
    ours, theirs = "arn:aws:ssm:us-east-1:1:parameter/geusemaker/a/x", "arn:aws:ssm:us-east-1:1:parameter/other/x"
    assert evaluate(wide, "ssm:GetParameter", ours, {}, boundary).allowed
    limited = evaluate(wide, "ssm:GetParameter", theirs, {}, boundary)
    assert not limited.allowed and "boundary does not allow" in limited.explain()
    bucket = [policy(allow("s3:GetObject", "arn:aws:s3:::b/*", Principal={"AWS": "arn:aws:iam::1:user/u"}),
                     resource_policy=True)]
    assert evaluate([], "s3:GetObject", "arn:aws:s3:::b/k", {}, resource_policies=bucket,
                    principal="arn:aws:iam::1:user/u").allowed
    assert not evaluate([], "s3:GetObject", "arn:aws:s3:::b/k", {}, resource_policies=bucket,
                        principal="arn:aws:iam::1:user/other").allowed


def test_the_explanation_names_the_statement_and_the_condition_that_failed():
    statement = allow("ec2:CancelSpotInstanceRequests", Sid="ChangeOnlyOwned",
                      condition={"Null": {"aws:ResourceTag/geusemaker:stack": "false"}})
    text = decide([statement], action="ec2:CancelSpotInstanceRequests",
                  resource="arn:aws:ec2:us-east-1:1:spot-instances-request/sir-1").explain()
    assert "spot-instances-request/sir-1" in text and "ChangeOnlyOwned" in text
    assert "Null aws:ResourceTag/geusemaker:stack false: the request has no such key" in text


# --- the reference ----------------------------------------------------------------------------------------------

def test_the_reference_is_aws_data_with_cited_gaps():
    reference = Reference()
    reference.check_targets("ec2:RunInstances", {"image", "instance", "network-interface", "security-group", "subnet",
                                                 "spot-instances-request"})
    with pytest.raises(ReferenceError_, match="always authorizes"):
        reference.check_targets("ec2:RunInstances", {"image", "instance"})
    with pytest.raises(ReferenceError_, match="does not authorize"):
        reference.check_targets("ec2:DeleteVpc", {"vpc", "subnet"})
    with pytest.raises(ReferenceError_, match="not an action"):
        reference.privilege("ec2:LaunchRocket")
    reference.check_dependent("ec2:RunInstances", "iam:PassRole")
    reference.check_dependent("elasticfilesystem:DeleteMountTarget", "ec2:DeleteNetworkInterface")
    with pytest.raises(ReferenceError_, match="neither the reference nor a gap row"):
        reference.check_dependent("ec2:DeleteVpc", "iam:PassRole")
    assert reference.supports("ec2:CreateTags", "", "ec2:CreateAction")
    assert not reference.supports("ec2:DeleteVpc", "vpc", "ec2:CreateAction")
    for row in reference.gaps:
        assert row["source"].startswith("https://docs.aws.amazon.com/"), row


# --- modelling calls --------------------------------------------------------------------------------------------

class FakeFacts:
    spot = None

    def instance(self, _instance_id):
        return {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-0123456789abcdef0"}],
                "BlockDeviceMappings": [{"Ebs": {"VolumeId": "vol-0123456789abcdef0"}}]}


def modelled(service, operation, body="", path="/", status=200, response="", pre=None, method="POST"):
    call = Call(service, operation, method, path, body, FakeFacts())
    call.index, call.status, call.response, call.pre = 7, status, response, pre or {}
    return model_call(call, Reference(), ACCOUNT, "us-east-1")


RUN = ("Action=RunInstances&ImageId=ami-0123456789abcdef0&InstanceType=g4dn.xlarge&SubnetId=subnet-0123456789abcdef0"
       "&SecurityGroupId.1=sg-0123456789abcdef0&IamInstanceProfile.Name=geusemaker-demo-us-east-1"
       "&MetadataOptions.HttpTokens=required&BlockDeviceMapping.1.Ebs.Encrypted=true"
       "&InstanceMarketOptions.MarketType=spot&TagSpecification.1.ResourceType=instance"
       "&TagSpecification.1.Tag.1.Key=geusemaker%3Astack&TagSpecification.1.Tag.1.Value=demo")
PROFILE = {"Arn": "arn:aws:iam::{0}:instance-profile/geusemaker/geusemaker-demo-us-east-1".format(ACCOUNT),
           "Roles": [{"RoleName": "geusemaker-demo-us-east-1"}]}
ROLE = {"Arn": "arn:aws:iam::{0}:role/geusemaker/geusemaker-demo-us-east-1".format(ACCOUNT),
        "Tags": [{"Key": "geusemaker:stack", "Value": "demo"}]}


def test_a_spot_launch_authorizes_its_request_passes_its_role_and_tags_on_create():
    requests = modelled("ec2", "RunInstances", RUN, response="<r><instanceId>i-0123456789abcdef0</instanceId></r>",
                        pre={"profiles": {"geusemaker-demo-us-east-1": PROFILE},
                             "roles": {"geusemaker-demo-us-east-1": ROLE}, "spot_role": False})
    launch = requests[0]
    types = {t.type: t for t in launch.targets}
    assert set(types) == {"image", "instance", "network-interface", "volume", "subnet", "security-group",
                          "spot-instances-request"}
    assert types["spot-instances-request"].request_tags is None  # the request did not tag it
    assert types["instance"].keys["ec2:InstanceProfile"] == PROFILE["Arn"]
    assert types["instance"].keys["ec2:MetadataHttpTokens"] == "required"
    following = {r.action: r for r in requests[1:]}
    assert following["ec2:CreateTags"].keys == {"ec2:CreateAction": "RunInstances"}
    assert following["iam:PassRole"].targets[0].arn == ROLE["Arn"]
    assert following["iam:PassRole"].keys == {"iam:PassedToService": "ec2.amazonaws.com"}
    assert following["iam:CreateServiceLinkedRole"].keys == {"iam:AWSServiceName": "spot.amazonaws.com"}


def test_a_refused_launch_still_asks_for_what_it_would_have_made():
    requests = modelled("ec2", "RunInstances", RUN.replace("&InstanceMarketOptions.MarketType=spot", ""), status=500,
                        pre={"profiles": {}, "spot_role": True})
    assert {t.arn.rsplit("/", 1)[1] for t in requests[0].targets if t.type == "instance"} == {"new"}
    assert "spot-instances-request" not in {t.type for t in requests[0].targets}


def test_deleting_a_mount_target_deletes_its_network_interface_in_ec2():
    target = {"FileSystemId": "fs-01234567", "NetworkInterfaceId": "eni-0123456789abcdef0"}
    requests = modelled("elasticfilesystem", "DeleteMountTarget", path="/2015-02-01/mount-targets/fsmt-01234567",
                        method="DELETE", pre={"mount_targets": {"fsmt-01234567": target},
                                              "file_systems": {"fs-01234567": {"geusemaker:stack": "demo"}},
                                              "ec2_tags": {"eni-0123456789abcdef0": {}}})
    assert [(r.action, r.via) for r in requests] == [
        ("elasticfilesystem:DeleteMountTarget", None),
        ("ec2:DeleteNetworkInterface", "elasticfilesystem:DeleteMountTarget")]
    assert requests[1].targets[0].arn.endswith(":network-interface/eni-0123456789abcdef0")


def test_an_iam_name_that_does_not_exist_is_authorized_without_a_path():
    requests = modelled("iam", "GetRole", "Action=GetRole&RoleName=geusemaker-demo-us-east-1",
                        pre={"roles": {"geusemaker-demo-us-east-1": None}})
    assert requests[0].targets[0].arn == "arn:aws:iam::{0}:role/geusemaker-demo-us-east-1".format(ACCOUNT)
    created = modelled("iam", "CreateRole", "Action=CreateRole&RoleName=r&Path=%2Fgeusemaker%2F"
                       "&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A1%3Apolicy%2Fb&Tags.member.1.Key=k"
                       "&Tags.member.1.Value=v")
    assert created[0].targets[0].arn == "arn:aws:iam::{0}:role/geusemaker/r".format(ACCOUNT)
    assert created[0].keys == {"iam:PermissionsBoundary": "arn:aws:iam::1:policy/b"}
    assert (created[1].action, created[1].via) == ("iam:TagRole", "iam:CreateRole")


def test_an_unmodelled_service_fails_loudly():
    with pytest.raises(ValueError, match="does not model lambda"):
        modelled("lambda", "Invoke")
    model = Model(Call("ec2", "DeleteVpc", "POST", "/", "", FakeFacts()), Reference(), ACCOUNT, "us-east-1")
    assert model.arn("ec2:DeleteVpc", "vpc", "vpc-1") == "arn:aws:ec2:us-east-1:{0}:vpc/vpc-1".format(ACCOUNT)


# --- the check and its hostile variants -------------------------------------------------------------------------

OWNED_DELETE = modelled("ec2", "DeleteVpc", "Action=DeleteVpc&VpcId=vpc-0123456789abcdef0",
                        pre={"ec2_tags": {"vpc-0123456789abcdef0": {"geusemaker:stack": "demo"}}})


def principal(*statements):
    return Principal("test", [load_policy({"Version": "2012-10-17", "Statement": list(statements)}, "test")])


def test_a_missing_statement_fails_the_recorded_call():
    failures = check(OWNED_DELETE, principal())
    assert len(failures) == 1 and failures[0].startswith("#7 DeleteVpc: ec2:DeleteVpc on arn:aws:ec2:us-east-1:")


def test_a_missing_condition_fails_as_a_hostile_variant():
    guarded = allow("ec2:DeleteVpc", condition={"Null": {"aws:ResourceTag/geusemaker:stack": "false"}})
    assert check(OWNED_DELETE, principal(guarded)) == []
    failures = check(OWNED_DELETE, principal(allow("ec2:DeleteVpc")))
    assert failures == ["allowed, and it must not be: #7 DeleteVpc ec2:DeleteVpc on vpc that is not the stack's "
                        "(arn:aws:ec2:us-east-1:{0}:vpc/vpc-0123456789abcdef0)".format(ACCOUNT)]


def test_hostile_variants_cover_creates_passes_and_boundaries():
    requests = modelled("ec2", "RunInstances", RUN, response="<r><instanceId>i-0123456789abcdef0</instanceId></r>",
                        pre={"profiles": {"geusemaker-demo-us-east-1": PROFILE},
                             "roles": {"geusemaker-demo-us-east-1": ROLE}, "spot_role": True})
    requests += modelled("iam", "CreateRole", "Action=CreateRole&RoleName=r&Path=%2Fgeusemaker%2F"
                         "&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A1%3Apolicy%2Fb")
    tried = " | ".join(what for what, _group in hostile_variants(requests))
    for expected in ("instance without the geusemaker:stack tag", "creating with no tags at all",
                     "passing the stack's role to another service",
                     "launching with IMDSv1 open", "launching with another instance profile",
                     "creating the role without its boundary", "tagging an existing resource",
                     "iam:PassRole on role that is not the stack's"):
        assert expected in tried, (expected, tried)


def test_the_committed_policies_load():
    from tests.support.authz.principals import DEPLOYER_POLICY, STATE_BUCKET_POLICY
    load_policy(DEPLOYER_POLICY)
    with open(STATE_BUCKET_POLICY) as handle:
        load_policy(json.load(handle), "bucket", resource_policy=True)


def test_a_conditional_state_write_carries_its_condition_keys():
    def put(headers):
        call = Call("s3", "PutObject", "PUT", "/bucket/stacks/demo.json", "", FakeFacts(), headers)
        call.index, call.status = 7, 200
        [request] = model_call(call, Reference(), ACCOUNT, "us-east-1")
        return request

    assert put({"If-Match": '"0123abcd"'}).keys == {"s3:if-match": "ETAG"}  # the ETag changes at every write
    assert put({"if-none-match": "*"}).keys == {"s3:if-none-match": "*"}
    assert put({}).keys == {}
    get = Call("s3", "GetObject", "GET", "/bucket/stacks/demo.json", "", FakeFacts(), {"If-Match": '"x"'})
    get.index, get.status = 8, 200
    assert model_call(get, Reference(), ACCOUNT, "us-east-1")[0].keys == {}
