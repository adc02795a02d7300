# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Intervention hints for a stack left failed or degraded: console links, CLI commands, recovery options."""

from ansible_collections.geusemaker.stack.plugins.module_utils import kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.dependencies import deletion_order
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import owned_entries


def hourly_cost(entry):
    """A short cost note for a leftover resource, or None when it has no hourly cost."""
    return kinds.get(entry["type"]).cost_note(entry)


def estimated_hourly_usd(entries):
    """The estimated USD per hour of these resources (those billed by the hour)."""
    return sum(kinds.get(entry["type"]).hourly_usd(entry) or 0.0 for entry in entries)


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
    return template.format(**values)


def hints(document):
    """One dict per resource still owned, in deletion order: type, id, console link, CLI command."""
    region = document.get("region")
    result = []
    for entry in deletion_order(owned_entries(document)):
        kind = kinds.get(entry["type"])
        result.append(
            {
                "type": entry["type"],
                "id": entry["id"],
                "status": entry["status"],
                "console": kinds.CONSOLE.format(r=entry.get("region") or region) + _fill(kind.console, entry, region),
                "command": _fill(kind.delete_command, entry, region),
            }
        )
    return result


def recovery_options(document):
    stack_name = document["stack_name"]
    options = [
        ("Retry the failed step",
         "ansible-playbook playbooks/deploy.yml -e stack_name={0}  # resumes from the ledger, adopting what exists".format(stack_name)),
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
