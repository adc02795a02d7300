# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Intervention hints for a stack left failed or degraded: console links, CLI commands, recovery options.

The commands name the playbooks as the user can run them (``commands``, given by the playbooks): ``style``
``checkout`` is ``ansible-playbook playbooks/<name>.yml`` from a clone of the repository, ``collection`` is
``ansible-playbook geusemaker.stack.<name>`` with the collection installed, ``awx`` is the AWX job template
(``<name>_job_template``, by default "GeuseMaker <name>"). They carry the state location when it is not the default,
so that the command finds the same state.
"""

import re
import shlex
from urllib.parse import quote as url_quote

from ansible_collections.geusemaker.stack.plugins.module_utils import kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.kind import CONSOLE
from ansible_collections.geusemaker.stack.plugins.module_utils.dependencies import deletion_order
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import REPORTED_STATUSES, owned_entries
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import DEFAULT_STATE_DIR, DEFAULT_STATE_PREFIX

COMMAND_STYLES = ("checkout", "collection", "awx")
JOB_TEMPLATES = {"deploy": "GeuseMaker deploy", "destroy": "GeuseMaker destroy", "check": "GeuseMaker check"}
# A playbook run from an installed collection (ansible-playbook geusemaker.stack.<name>) lies here.
COLLECTION_PLAYBOOKS = re.compile(r"/ansible_collections/geusemaker/stack/playbooks/?$")


def commands_of_run(run_vars):
    """The ``commands`` option as this user runs the playbooks, from the run's variables: AWX job templates under AWX
    (it sets awx_job_id, older controllers tower_job_id), geusemaker.stack.<name> when the playbook runs from an
    installed collection, playbooks/<name>.yml from a checkout. -e command_style= overrides the style, and
    -e deploy_job_template= (destroy_, check_) names a job template other than the default."""
    style = run_vars.get("command_style")
    if not style:
        if run_vars.get("awx_job_id") is not None or run_vars.get("tower_job_id") is not None:
            style = "awx"
        elif COLLECTION_PLAYBOOKS.search(str(run_vars.get("playbook_dir") or "")):
            style = "collection"
        else:
            style = "checkout"
    commands = {"style": style}
    for playbook in JOB_TEMPLATES:
        template = run_vars.get(playbook + "_job_template")
        if template:
            commands[playbook + "_job_template"] = str(template)
    return commands


def location_args(location):
    """(name, value) of the extra vars that select this state location, when it is not the default one."""
    if not location:
        return []
    if location.get("backend") == "s3":
        args = [("state_backend", "s3"), ("state_bucket", location.get("bucket"))]
        if location.get("prefix") and location["prefix"] != DEFAULT_STATE_PREFIX:
            args.append(("state_prefix", location["prefix"]))
        return args
    if location.get("dir") and location["dir"] != DEFAULT_STATE_DIR:
        return [("state_dir", location["dir"])]
    return []


def playbook_command(playbook, stack_name, commands=None, location=None):
    """How this user runs ``playbook`` (deploy, destroy, check) on the stack: a command line, or the AWX job template."""
    commands = commands or {}
    style = commands.get("style") or "checkout"
    args = [("stack_name", stack_name)] + location_args(location)
    if style == "awx":
        template = commands.get(playbook + "_job_template") or JOB_TEMPLATES[playbook]
        answers = ", ".join("{0}={1}".format(name, value) for name, value in args if name != "state_backend")
        return 'launch the job template "{0}" with {1}'.format(template, answers)
    name = "geusemaker.stack." + playbook if style == "collection" else "playbooks/{0}.yml".format(playbook)
    return "ansible-playbook {0} {1}".format(name, " ".join("-e {0}={1}".format(k, shlex.quote(str(v))) for k, v in args))


def stack_commands(stack_name, commands=None, location=None):
    """{deploy, destroy, check}: the command of each, as this user runs them."""
    return {playbook: playbook_command(playbook, stack_name, commands, location) for playbook in JOB_TEMPLATES}


def hourly_cost(entry):
    """A short cost note for a leftover resource, or None when it has no hourly cost."""
    return kinds.get(entry["type"]).cost_note(entry)


def estimated_hourly_usd(entries):
    """The estimated USD per hour of these resources (those billed by the hour)."""
    return sum(kinds.get(entry["type"]).hourly_usd(entry) or 0.0 for entry in entries)


def leftovers_warning(document, commands=None, location=None):
    """The warning of a failed run that deleted nothing: every resource left, with its cost where it has one."""
    lines = []
    for entry in deletion_order(owned_entries(document)):
        cost = hourly_cost(entry)
        lines.append("{0} {1}{2}".format(entry["type"], entry["id"], " ({0})".format(cost) if cost else ""))
    if not lines:
        return None
    return "rollback=false: nothing was deleted; {0} resource(s) of stack {1} are left: {2}. Destroy them with: {3}".format(
        len(lines), document["stack_name"], "; ".join(lines), playbook_command("destroy", document["stack_name"], commands, location))


def _fill(template, kind, entry, region, escape):
    """``template`` filled from the ledger entry and the kind's placeholders, each value passed through ``escape``:
    the state is a document anyone who can write it controls, and an id must not become a shell word or a link of
    its own."""
    values = {key: escape(str(value)) for key, value in entry.items()}
    values["r"] = escape(str(entry.get("region") or region))
    for name, default in kind.placeholders.items():
        values.setdefault(name, escape(str(default(entry))))
    return template.format(**values)


def _url_part(value):
    return url_quote(value, safe="/")


def md_text(text):
    """``text`` on one line, with what could make a link, an image, HTML, a code span or a table of it escaped
    (the fields never start a line, so a leading ``#`` or ``-`` is plain text)."""
    return re.sub(r"([\\`*\[\]<>|])", r"\\\1", " ".join(str(text).split()))


def md_code(text):
    """``text`` as one Markdown code span, whatever backticks it holds."""
    text = " ".join(str(text).split())
    fence = "`" * (max([len(run) for run in re.findall("`+", text)] or [0]) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return "{0}{1}{2}{1}{0}".format(fence, pad, text)


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
                "console": CONSOLE.format(r=_url_part(str(entry.get("region") or region)))
                + _fill(kind.console, kind, entry, region, _url_part),
                "command": _fill(kind.delete_command, kind, entry, region, shlex.quote),
            }
        )
    return result


def recovery_options(document, commands=None, location=None):
    """(title, what to do) of each way out of the stack's status, the commands named as this user runs them."""
    command = stack_commands(document["stack_name"], commands, location)
    resumes = "resumes from the ledger, adopting what exists"
    if command["deploy"].startswith("ansible"):
        retry = "{0}  # {1}".format(command["deploy"], resumes)
    else:
        retry = "{0} (it {1})".format(command["deploy"], resumes)
    options = [("Retry the failed step", retry)]
    if document["status"] == "degraded":
        options.append(
            (
                "Continue with warning",
                "the instance, EFS and network are usable now; look at the instance's /geusemaker/status.json and "
                "its boot log (/var/log/geusemaker-boot.log, through SSM Session Manager), then check the services "
                "again (nothing else runs) with: {0}".format(command["check"]),
            )
        )
    options += [
        ("Roll back and abort", command["destroy"]),
        ("Manual intervention", "use the console links and CLI commands above, in that order"),
    ]
    return options


def summary(document, state_location, commands=None, location=None):
    """What a job publishes (set_stats ``geusemaker``): stack_name, status, state_location, resources ({type, id,
    status} each) and recovery_options ("title: what to do", when the status needs the user)."""
    options = []
    if document.get("status") in REPORTED_STATUSES:
        options = ["{0}: {1}".format(title, text) for title, text in recovery_options(document, commands, location)]
    return {
        "stack_name": document["stack_name"],
        "status": document.get("status"),
        "state_location": state_location,
        "resources": [{"type": e["type"], "id": e["id"], "status": e.get("status")} for e in document.get("resources", [])],
        "recovery_options": options,
    }


def report(document, state_file, commands=None, location=None):
    """The recovery report as Markdown lines."""
    failure = document.get("failure") or {}
    lines = [
        "# Stack {0}: {1}".format(md_text(document["stack_name"]), md_text(document["status"])),
        "",
        "State file: {0}".format(md_text(state_file)),
    ]
    if failure:
        lines += [
            "",
            "## What failed",
            "- task: {0}".format(md_text(failure.get("task"))),
            "- resource type: {0}".format(md_text(failure.get("resource_type") or "-")),
            "- error: {0}".format(md_text("{0} {1}".format(failure.get("error_code") or "", failure.get("error_message") or "").strip())),
            "- critical: {0}".format("yes" if failure.get("critical") else "no"),
            "- at: {0}".format(md_text(failure.get("at"))),
        ]
    leftovers = hints(document)
    lines += ["", "## Resources still existing ({0}), in deletion order".format(len(leftovers))]
    if not leftovers:
        lines.append("None.")
    for hint in leftovers:
        lines += [
            "- {0} {1} ({2})".format(md_text(hint["type"]), md_text(hint["id"]), md_text(hint["status"])),
            "  - console: {0}".format(md_text(hint["console"])),
            "  - delete: {0}".format(md_code(hint["command"])),
        ]
    lines += ["", "## Recovery options"]
    for title, command in recovery_options(document, commands, location):
        lines.append("- {0}: {1}".format(title, md_code(command) if command.startswith("ansible") else md_text(command)))
    return lines
