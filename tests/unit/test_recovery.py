from ansible_collections.geusemaker.stack.plugins.module_utils import recovery
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger


def failed_document(store, status="failed"):
    ledger = Ledger.open(store, "s1", "eu-west-1", persist=False)
    ledger.record("vpc", "vpc-1", "created")
    ledger.record("subnet", "subnet-1", "created", vpc_id="vpc-1")
    ledger.record("internet_gateway", "igw-1", "created", vpc_id="vpc-1")
    ledger.record("mount_target", "fsmt-1", "created", file_system_id="fs-1")
    ledger.record("instance_profile", "geusemaker-s1-eu-west-1", "created", role_name="geusemaker-s1-eu-west-1")
    ledger.record("instance", "i-1", "adopted")
    ledger.record("vpc", "vpc-user", "reused")
    ledger.record("ssm_parameter", "/geusemaker/s1/db_password", "created")
    ledger.mark("ssm_parameter", "/geusemaker/s1/db_password", "deleted")
    ledger.set_status(status, failure={"task": "Ensure the instances are running", "resource_type": "instance",
                                       "error_code": "InsufficientInstanceCapacity", "error_message": "no capacity",
                                       "critical": True, "at": "2026-01-01T00:00:00Z"})
    return ledger.document


def test_hints_cover_leftovers_in_deletion_order_and_never_reused_or_deleted(store):
    hints = recovery.hints(failed_document(store))
    assert [(h["type"], h["id"]) for h in hints] == [
        ("instance", "i-1"),
        ("mount_target", "fsmt-1"),
        ("instance_profile", "geusemaker-s1-eu-west-1"),
        ("internet_gateway", "igw-1"),
        ("subnet", "subnet-1"),
        ("vpc", "vpc-1"),
    ]
    by_id = {h["id"]: h for h in hints}
    assert by_id["i-1"]["console"] == "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-1"
    assert by_id["i-1"]["command"] == (
        "aws ec2 terminate-instances --region eu-west-1 --instance-ids i-1  # cancel its spot request first, if it has one")
    assert "--vpc-id vpc-1" in by_id["igw-1"]["command"]
    assert "fs-1" in by_id["fsmt-1"]["console"]


def test_report_has_failure_leftovers_and_every_recovery_option(store):
    text = "\n".join(recovery.report(failed_document(store), "/tmp/s1.json"))
    assert "InsufficientInstanceCapacity" in text and "Resources still existing (6)" in text
    for option in ("Retry the failed step", "Roll back and abort", "Manual intervention"):
        assert option in text
    assert "Continue with warning" not in text
    assert "ansible-playbook playbooks/destroy.yml -e stack_name=s1" in text


def test_degraded_report_offers_continue(store):
    text = "\n".join(recovery.report(failed_document(store, "degraded"), "/tmp/s1.json"))
    assert "Continue with warning" in text


def test_report_with_nothing_left(store):
    ledger = Ledger.open(store, "s1", "us-east-1", persist=False)
    for status in ("failed", "rolling_back", "rolled_back"):
        ledger.set_status(status)
    text = "\n".join(recovery.report(ledger.document, "/tmp/s1.json"))
    assert "Resources still existing (0)" in text and "None." in text


def test_leftovers_warning_lists_every_owned_resource_with_cost(store):
    document = failed_document(store)
    entry = next(e for e in document["resources"] if e["type"] == "instance")
    entry.update(instance_type="g4dn.xlarge", lifecycle="spot")
    warning = recovery.leftovers_warning(document)
    assert "6 resource(s) of stack s1 are left" in warning
    assert "instance i-1 (about USD 0.526/hour on-demand (g4dn.xlarge), less as spot)" in warning
    assert "vpc-user" not in warning and "db_password" not in warning
    assert "playbooks/destroy.yml -e stack_name=s1" in warning


def test_hourly_cost_notes():
    assert recovery.hourly_cost({"type": "instance", "instance_type": "t3.medium"}) == "about USD 0.042/hour on-demand (t3.medium)"
    assert "unknown" in recovery.hourly_cost({"type": "instance", "instance_type": "x9.huge"})
    assert "GB-month" in recovery.hourly_cost({"type": "file_system"})
    assert recovery.hourly_cost({"type": "vpc"}) is None


def test_nothing_left_means_no_warning(store):
    ledger = Ledger.open(store, "s2", "eu-west-1", persist=False)
    assert recovery.leftovers_warning(ledger.document) is None


def test_preflight_estimates_the_cost_from_the_registry():
    from ansible_collections.geusemaker.stack.plugins.module_utils.preflight import estimated_cost

    assert estimated_cost("g4dn.xlarge", 2).startswith("about USD 1.052/hour for 2 x g4dn.xlarge on-demand")
    assert "GB-month" in estimated_cost("g4dn.xlarge", 1)
    assert estimated_cost("x9.huge", 1).startswith("hourly cost of x9.huge unknown")
