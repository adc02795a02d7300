import os

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import vpc
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure
from tests.support.aws_calls import client_error


def tags_of(ec2, vpc_id):
    return {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0].get("Tags", [])}


def test_creates_tagged_vpc_with_dns_and_records_it(stack, store):
    vpc_id = vpc.ensure(stack, "10.9.0.0/16")
    ec2 = stack.clients.ec2
    assert tags_of(ec2, vpc_id)[STACK_TAG] == "unit"
    assert vpc.dns_attributes(ec2, vpc_id) == (True, True)
    saved = store.load("unit")
    assert [(r["type"], r["id"], r["provenance"]) for r in saved["resources"]] == [("vpc", vpc_id, "created")]
    assert stack.changed


def test_second_run_adopts_without_change(make_stack, store):
    first = vpc.ensure(make_stack(), "10.9.0.0/16")
    again = make_stack()
    assert vpc.ensure(again, "10.9.0.0/16") == first
    assert not again.changed
    assert store.load("unit")["resources"][0]["provenance"] == "created"


def test_lost_ledger_adopts(make_stack, store, tmp_path):
    first = vpc.ensure(make_stack(), "10.9.0.0/16")
    os.remove(store.location("unit"))
    again = make_stack()
    assert vpc.ensure(again, "10.9.0.0/16") == first
    assert store.load("unit")["resources"][0]["provenance"] == "adopted"


def test_check_mode_plans_and_writes_nothing(make_stack, store):
    stack = make_stack(check_mode=True)
    planned = vpc.ensure(stack, "10.9.0.0/16")
    assert planned.startswith("(new vpc")
    assert stack.planned == [{"type": "vpc", "key": "vpc", "cidr_block": "10.9.0.0/16"}]
    assert stack.clients.ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": [STACK_TAG]}])["Vpcs"] == []
    assert store.load("unit") is None


def test_reuse_records_without_tagging(stack):
    user_vpc = stack.clients.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    assert vpc.reuse(stack, user_vpc) == user_vpc
    assert STACK_TAG not in tags_of(stack.clients.ec2, user_vpc)
    assert stack.ledger.find("vpc", user_vpc)["provenance"] == "reused"


def test_refused_dns_change_fails_with_the_vpc_and_the_code(stack, monkeypatch):
    def refuse(*args, **kwargs):
        raise client_error("UnauthorizedOperation", "ModifyVpcAttribute", message="no")

    monkeypatch.setattr(vpc, "enable_dns", refuse)
    with pytest.raises(StackFailure) as caught:
        vpc.ensure(stack, "10.9.0.0/16")
    assert caught.value.details["resource_type"] == "vpc" and caught.value.details["error_code"] == "UnauthorizedOperation"
    assert stack.ledger.find("vpc", caught.value.details["resource_id"])["status"] == "present"
