# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What list.yml shows: every known stack, its status, failure reason, owned resources still existing, age."""

from ansible_collections.geusemaker.stack.plugins.module_utils import instance, kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import owned_entries
from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import estimated_hourly_usd
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateCorrupt, StateError, parse_iso, utc_now


def human_age(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return "{0}{1}".format(int(seconds // size), unit)
    return "{0}s".format(int(seconds))


def existing_entries(clients, document):
    """Owned resources that still exist; None when AWS cannot be asked."""
    existing = []
    for entry in owned_entries(document):
        try:
            if kinds.get(entry["type"]).exists(clients, entry):
                existing.append(entry)
        except AWS_ERRORS:
            return None
    return existing


def instance_condition(clients, document):
    """What EC2 says of the stack's instances: running, stopped, waiting_for_spot_capacity, changing, gone or none,
    with " (address moved)" when the state's service URL is stale; None when AWS cannot be asked."""
    ids = [entry["id"] for entry in owned_entries(document) if entry["type"] == "instance" and entry.get("status") == "present"]
    if not ids:
        return "none"
    try:
        found = instance.compare(instance.conditions(clients.ec2, ids), (document.get("outputs") or {}).get("service_url"))
    except AWS_ERRORS:
        return None
    return found["condition"] + (" (address moved)" if found["address_moved"] else "")


def describe_stack(store, stack_name, clients_for_region, caller_account=None, now=None):
    """One stack's line. Its resources are counted only in the account it is recorded in: with another account's
    credentials every one would look gone."""
    now = now or utc_now()
    try:
        document = store.load(stack_name, quarantine=False)
    except StateError as e:
        status = "corrupt" if isinstance(e, StateCorrupt) else "unreadable"
        return {"stack_name": stack_name, "status": status, "failure": str(e), "existing_resources": None, "age": None}
    if document is None:  # removed since it was listed
        return {"stack_name": stack_name, "status": "gone", "failure": None, "existing_resources": None, "age": None}
    failure = document.get("failure") or {}
    reason = failure.get("error_message") or failure.get("error_code")
    if failure.get("task"):
        reason = "{0}: {1}".format(failure["task"], reason)
    recorded_account = document.get("account_id")
    if recorded_account and caller_account and recorded_account != caller_account:
        existing = None
        reason = "recorded in AWS account {0}; these credentials act in {1}, so its resources were not counted".format(
            recorded_account, caller_account)
        condition = None
    else:
        clients = clients_for_region(document.get("region"))
        existing = existing_entries(clients, document)
        condition = instance_condition(clients, document)
    return {
        "stack_name": stack_name,
        "region": document.get("region"),
        "account_id": recorded_account,
        "status": document.get("status"),
        "failure": reason,
        "existing_resources": None if existing is None else len(existing),
        "instance": condition,
        "hourly_usd": None if existing is None else round(estimated_hourly_usd(existing), 3),
        "recorded_resources": len(owned_entries(document)),
        "age": human_age((now - parse_iso(document["created_at"])).total_seconds()),
        "updated_at": document.get("updated_at"),
    }


def format_table(stacks):
    header = ("STACK", "REGION", "STATUS", "INSTANCE", "RESOURCES", "USD/HOUR", "AGE", "FAILURE")
    rows = [header] + [
        (
            s["stack_name"],
            s.get("region") or "-",
            s["status"],
            s.get("instance") or "?",
            "?" if s.get("existing_resources") is None else str(s["existing_resources"]),
            "?" if s.get("hourly_usd") is None else "{0:.3f}".format(s["hourly_usd"]),
            s.get("age") or "-",
            s.get("failure") or "-",
        )
        for s in stacks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
