# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Intervention hints for a stack left failed or degraded: console links, CLI commands, recovery options."""

from ansible_collections.geusemaker.stack.plugins.module_utils.dependencies import deletion_order
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import owned_entries

CONSOLE = "https://{r}.console.aws.amazon.com/"
LINKS = {
    "vpc": "vpcconsole/home?region={r}#VpcDetails:VpcId={id}",
    "subnet": "vpcconsole/home?region={r}#SubnetDetails:subnetId={id}",
    "internet_gateway": "vpcconsole/home?region={r}#InternetGateway:internetGatewayId={id}",
    "route_table": "vpcconsole/home?region={r}#RouteTableDetails:RouteTableId={id}",
    "security_group": "ec2/home?region={r}#SecurityGroup:groupId={id}",
    "file_system": "efs/home?region={r}#/file-systems/{id}",
    "mount_target": "efs/home?region={r}#/file-systems/{file_system_id}",
    "ssm_parameter": "systems-manager/parameters/{id}/description?region={r}",
    "iam_role": "iam/home#/roles/details/{id}",
    "instance_profile": "iam/home#/roles/details/{role_name}",
    "instance": "ec2/home?region={r}#InstanceDetails:instanceId={id}",
}
COMMANDS = {
    "vpc": "aws ec2 delete-vpc --region {r} --vpc-id {id}",
    "subnet": "aws ec2 delete-subnet --region {r} --subnet-id {id}",
    "internet_gateway": "aws ec2 detach-internet-gateway --region {r} --internet-gateway-id {id} --vpc-id {vpc_id} && "
    "aws ec2 delete-internet-gateway --region {r} --internet-gateway-id {id}",
    "route_table": "aws ec2 delete-route-table --region {r} --route-table-id {id}  # disassociate its subnets first",
    "security_group": "aws ec2 delete-security-group --region {r} --group-id {id}",
    "file_system": "aws efs delete-file-system --region {r} --file-system-id {id}",
    "mount_target": "aws efs delete-mount-target --region {r} --mount-target-id {id}",
    "ssm_parameter": "aws ssm delete-parameter --region {r} --name {id}",
    "iam_role": "aws iam delete-role --role-name {id}  # detach its policies and remove it from its profile first",
    "instance_profile": "aws iam remove-role-from-instance-profile --instance-profile-name {id} --role-name {role_name} && "
    "aws iam delete-instance-profile --instance-profile-name {id}",
    "instance": "aws ec2 terminate-instances --region {r} --instance-ids {id}",
}


# Estimated on-demand USD per hour in us-east-1, for the warning that lists what a failed run left.
# Spot is usually much less. Resources missing here cost nothing by the hour (or are billed by use).
INSTANCE_HOURLY_USD = {
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g6.xlarge": 0.805,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "m5.large": 0.096,
}
USAGE_BILLED = {
    "file_system": "billed by stored GB (about USD 0.30 per GB-month)",
    "ssm_parameter": "free (standard parameter)",
}


def hourly_cost(entry):
    """A short cost note for a leftover resource, or None when it has no hourly cost."""
    if entry["type"] == "instance":
        price = INSTANCE_HOURLY_USD.get(entry.get("instance_type"))
        if price is None:
            return "hourly cost of {0} unknown; see aws.amazon.com/ec2/pricing".format(entry.get("instance_type") or "its type")
        return "about USD {0:.3f}/hour on-demand ({1}){2}".format(
            price, entry["instance_type"], ", less as spot" if entry.get("lifecycle") == "spot" else "")
    return USAGE_BILLED.get(entry["type"])


def leftovers_warning(document):
    """The warning of a failed run that deleted nothing: every resource left, with its cost where it has one."""
    lines = []
    for entry in deletion_order(owned_entries(document)):
        cost = hourly_cost(entry)
        lines.append("{0} {1}{2}".format(entry["type"], entry["id"], " ({0})".format(cost) if cost else ""))
    if not lines:
        return None
    return "rollback=false: nothing was deleted; {0} resource(s) of stack {1} are left: {2}. Destroy them with: " \
        "ansible-playbook playbooks/destroy.yml -e stack_name={1}".format(len(lines), document["stack_name"], "; ".join(lines))


def _fill(template, entry, region):
    values = dict(entry, r=entry.get("region") or region)
    values.setdefault("file_system_id", entry["id"])
    values.setdefault("role_name", entry["id"])
    values.setdefault("vpc_id", "<vpc id>")
    link = template.format(**values)
    return link


def hints(document):
    """One dict per resource still owned, in deletion order: type, id, console link, CLI command."""
    region = document.get("region")
    result = []
    for entry in deletion_order(owned_entries(document)):
        result.append(
            {
                "type": entry["type"],
                "id": entry["id"],
                "status": entry["status"],
                "console": CONSOLE.format(r=entry.get("region") or region) + _fill(LINKS[entry["type"]], entry, region),
                "command": _fill(COMMANDS[entry["type"]], entry, region),
            }
        )
    return result


def recovery_options(document):
    stack_name = document["stack_name"]
    options = [
        ("Retry the failed step", "ansible-playbook playbooks/deploy.yml -e stack_name={0}  # resumes from the ledger, adopting what exists".format(stack_name)),
    ]
    if document["status"] == "degraded":
        options.append(
            (
                "Continue with warning",
                "the instance, EFS and network are usable now; look at the instance's /geusemaker/status.json and "
                "its boot log (/var/log/geusemaker-boot.log, through SSM Session Manager), then check the services "
                "again (nothing else runs) with: ansible-playbook playbooks/check.yml -e stack_name={0}".format(stack_name),
            )
        )
    options += [
        ("Roll back and abort", "ansible-playbook playbooks/destroy.yml -e stack_name={0}".format(stack_name)),
        ("Manual intervention", "use the console links and CLI commands above, in that order"),
    ]
    return options


def report(document, state_file):
    """The recovery report as Markdown lines."""
    failure = document.get("failure") or {}
    lines = [
        "# Stack {0}: {1}".format(document["stack_name"], document["status"]),
        "",
        "State file: {0}".format(state_file),
    ]
    if failure:
        lines += [
            "",
            "## What failed",
            "- task: {0}".format(failure.get("task")),
            "- resource type: {0}".format(failure.get("resource_type") or "-"),
            "- error: {0} {1}".format(failure.get("error_code") or "", failure.get("error_message") or "").strip(),
            "- critical: {0}".format("yes" if failure.get("critical") else "no"),
            "- at: {0}".format(failure.get("at")),
        ]
    leftovers = hints(document)
    lines += ["", "## Resources still existing ({0}), in deletion order".format(len(leftovers))]
    if not leftovers:
        lines.append("None.")
    for hint in leftovers:
        lines += [
            "- {0} {1} ({2})".format(hint["type"], hint["id"], hint["status"]),
            "  - console: {0}".format(hint["console"]),
            "  - delete: `{0}`".format(hint["command"]),
        ]
    lines += ["", "## Recovery options"]
    for title, command in recovery_options(document):
        lines.append("- {0}: `{1}`".format(title, command) if command.startswith("ansible") else "- {0}: {1}".format(title, command))
    return lines
