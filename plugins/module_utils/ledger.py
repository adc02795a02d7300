# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ledger: one state document per stack, saved after every change to it.

The document (schema_version 2)::

    stack_name, region, account_id, partition, status, created_at, updated_at
    resources: [{type, id, provenance, status, region, key?, <parent ids teardown needs>}]
    events:    [{at, action, type, id, outcome, error_code?, message?}]   (the newest MAX_EVENTS)
    failure:   {task, resource_type, error_code, error_message, critical, at} or null
    outputs:   {service_url, instance_ids, ...} of the last deploy (absent before its first)

The ledger is the document's only writer: modules, the recovery callback and the playbooks' stack_state change it
only through a Ledger, which saves over the version it read, with the run's lock token.
"""

import threading

# The registry of the kinds loaded, not the kinds themselves: a module carries only the kind files it uses, and a
# type is recorded only by its own file (see kind.py).
from ansible_collections.geusemaker.stack.plugins.module_utils import kind
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import LockLost, StateConflict, iso, parse_iso, utc_now

SCHEMA_VERSION = 2
MAX_EVENTS = 500

PROVENANCES = ("created", "adopted", "reused")
# not_owned: the state named it, but its own marks name another stack (or none); never deleted, no longer owned.
RESOURCE_STATUSES = ("present", "deleted", "delete_failed", "retained", "not_owned")

# The stack's status machine: from each status, the statuses a run may record next. A new document starts as
# deploying. A run killed half-way leaves its status behind, so every unfinished status may start a deploy or a
# destroy again; destroyed and rolled_back may go to deploying (a new deploy, possibly onto retained data).
TRANSITIONS = {
    "deploying": ("deploying", "deployed", "degraded", "failed", "rolling_back", "destroying"),
    "deployed": ("deploying", "deployed", "degraded", "stopped", "destroying"),
    "degraded": ("deploying", "deployed", "degraded", "stopped", "destroying"),
    "stopped": ("stopped", "deploying", "deployed", "degraded", "destroying"),
    "failed": ("deploying", "failed", "rolling_back", "destroying"),
    "rolling_back": ("rolling_back", "rolled_back", "rollback_failed", "deploying", "destroying"),
    "rolled_back": ("deploying", "destroying"),
    "rollback_failed": ("deploying", "rolling_back", "destroying"),
    "destroying": ("destroying", "destroyed", "failed", "deploying"),
    "destroyed": ("deploying", "destroying"),
}
STACK_STATUSES = tuple(TRANSITIONS)
# Whence the instances may be started: a stop, or a spot interruption of a running stack.
STARTABLE = ("stopped", "deployed", "degraded")
# The statuses that leave the user something to do: the recovery report and its options are for these.
REPORTED_STATUSES = ("failed", "rolled_back", "rollback_failed", "degraded")
FAILURE_MESSAGE_LIMIT = 1000


class LedgerError(Exception):
    """A change the ledger refuses; ``code`` says which rule refused it (AccountMismatch, RegionMismatch,
    SchemaTooNew, UnknownType, UnknownProvenance, UnknownStatus, NotInLedger, TransitionRefused, NotStartable)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def failure_record(task, result, critical=True):
    """The document's ``failure`` from a failed task's name and result (what a module or the callback saw)."""
    result = result or {}
    return {
        "task": task or "unknown",
        "resource_type": result.get("resource_type"),
        "error_code": result.get("error_code"),
        "error_message": str(result.get("msg") or "unknown error")[:FAILURE_MESSAGE_LIMIT],
        "critical": bool(critical),
        "at": iso(utc_now()),
    }


def new_document(stack_name, region):
    now = iso(utc_now())
    return {
        "schema_version": SCHEMA_VERSION,
        "stack_name": stack_name,
        "region": region,
        "account_id": None,
        "partition": None,
        "status": "deploying",
        "created_at": now,
        "updated_at": now,
        "resources": [],
        "events": [],
        "failure": None,
    }


def migrate(document, stack_name):
    """A state document of an earlier schema, brought to SCHEMA_VERSION (in memory; saved with the next change).

    1 -> 2: the account and partition are pinned by the next run that saves (they were not recorded before)."""
    version = document.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise LedgerError("state of stack {0} has schema_version {1}, written by a newer geusemaker.stack; this one reads "
                          "up to {2}: upgrade the collection".format(stack_name, version, SCHEMA_VERSION), "SchemaTooNew")
    if version < 2:
        document.setdefault("account_id", None)
        document.setdefault("partition", None)
    document["schema_version"] = SCHEMA_VERSION
    return document


def find_entry(document, resource_type, resource_id):
    for entry in document["resources"]:
        if entry["type"] == resource_type and entry["id"] == resource_id:
            return entry
    return None


def entries(document, resource_type=None, provenances=None, statuses=None):
    return [
        entry
        for entry in document["resources"]
        if (resource_type is None or entry["type"] == resource_type)
        and (provenances is None or entry["provenance"] in provenances)
        and (statuses is None or entry["status"] in statuses)
    ]


def owned_entries(document):
    """What a teardown must remove: created or adopted, and not yet gone."""
    return entries(document, provenances=("created", "adopted"), statuses=("present", "delete_failed", "retained"))


def reused_ids(document):
    return {entry["id"] for entry in entries(document, provenances=("reused",))}


class Ledger:
    """A stack's state document bound to its store. Every mutating call saves; thread-safe."""

    def __init__(self, store, stack_name, region, document=None, persist=True, version=None, lock_token=None):
        self.store = store
        self.stack_name = stack_name
        self.region = region
        self.persist = persist
        self._guard = threading.RLock()
        self.document = document if document is not None else new_document(stack_name, region)
        # Saves are conditional on the version read (no lost update) and carry the run's lock token (only the
        # lock's holder writes); see state_store.
        self.version = version
        self.lock_token = lock_token
        self.refused = None  # once a save is refused (conflict, lock lost), every later one is, without writing

    @classmethod
    def open(cls, store, stack_name, region, persist=True, lock_token=None, quarantine=True):
        """The stack's ledger from its store (a new document when there is none: ``version`` None). ``region`` None
        takes the recorded one; ``quarantine``: see StateStore.load."""
        document, version = store.load_versioned(stack_name, quarantine=quarantine)
        if document is not None and region and document.get("region") not in (None, region):
            raise LedgerError(
                "stack {0} is recorded in region {1}, not {2}; pass aws_region={1} or choose another stack_name".format(
                    stack_name, document.get("region"), region
                ),
                "RegionMismatch",
            )
        if document is not None:
            document = migrate(document, stack_name)
        return cls(store, stack_name, region or (document or {}).get("region"), document, persist, version, lock_token)

    def pin_account(self, account_id, partition):
        """The account the stack lives in: recorded by its first run, and every later run must be in it.

        Raises LedgerError naming both accounts when the caller's differs; records nothing by itself."""
        recorded = self.document.get("account_id")
        if recorded and recorded != account_id:
            raise LedgerError(
                "stack {0} is recorded in AWS account {1} ({2}), but these credentials act in account {3} ({4}); "
                "nothing was done. Use the credentials or AWS_PROFILE of account {1}, or choose another stack_name".format(
                    self.stack_name, recorded, self.document.get("partition") or "aws", account_id, partition),
                "AccountMismatch")
        self.document["account_id"], self.document["partition"] = account_id, partition

    @property
    def exists_on_disk(self):
        return self.store.load(self.stack_name) is not None

    def save(self):
        with self._guard:
            self.document["updated_at"] = iso(utc_now())
            if not self.persist:
                return
            if self.refused is not None:
                raise self.refused
            try:
                self.version = self.store.save(self.stack_name, self.document, token=self.lock_token, version=self.version)
            except (StateConflict, LockLost) as e:
                self.refused = e
                raise

    def _event(self, action, resource_type, resource_id, outcome, error_code=None, message=None):
        event = {"at": iso(utc_now()), "action": action, "type": resource_type, "id": resource_id, "outcome": outcome}
        if error_code:
            event["error_code"] = error_code
        if message:
            event["message"] = message
        events = self.document["events"]
        events.append(event)
        del events[:-MAX_EVENTS]
        return event

    def known_since(self, resource_type, resource_id):
        """When the stack created or adopted the resource (the event's time), or None: reused, or the event rotated
        out of the log. An orphan adopted by a rollback's search is one whose create answer was lost seconds ago."""
        for event in self.document["events"]:
            if (event["action"] in ("create", "adopt") and event["outcome"] == "ok"
                    and (event["type"], event["id"]) == (resource_type, resource_id)):
                return parse_iso(event["at"])
        return None

    def record(self, resource_type, resource_id, provenance, **attributes):
        """Register a resource that exists now, and save. An entry already in the ledger keeps its provenance."""
        if resource_type not in kind.KINDS:
            raise LedgerError("unknown resource type {0}".format(resource_type), "UnknownType")
        if provenance not in PROVENANCES:
            raise LedgerError("unknown provenance {0}".format(provenance), "UnknownProvenance")
        with self._guard:
            entry = find_entry(self.document, resource_type, resource_id)
            if entry is None:
                entry = {"type": resource_type, "id": resource_id, "provenance": provenance, "region": self.region}
                self.document["resources"].append(entry)
                action = {"created": "create", "adopted": "adopt", "reused": "reuse"}[provenance]
                self._event(action, resource_type, resource_id, "ok")
            entry.update({k: v for k, v in attributes.items() if v is not None})
            entry["status"] = "present"
            self.save()
            return entry

    def event(self, action, resource_type, resource_id, outcome, error_code=None, message=None, save=True):
        with self._guard:
            event = self._event(action, resource_type, resource_id, outcome, error_code, message)
            if save:
                self.save()
            return event

    def mark(self, resource_type, resource_id, status, save=True):
        if status not in RESOURCE_STATUSES:
            raise LedgerError("unknown resource status {0}".format(status), "UnknownStatus")
        with self._guard:
            entry = find_entry(self.document, resource_type, resource_id)
            if entry is None:
                raise LedgerError("{0} {1} is not in the ledger".format(resource_type, resource_id), "NotInLedger")
            entry["status"] = status
            if save:
                self.save()
            return entry

    def check_transition(self, status):
        """LedgerError, naming both statuses, unless the status machine allows the move to ``status``."""
        current = self.document["status"]
        if status not in TRANSITIONS.get(current, ()):
            raise LedgerError("stack {0} is {1} and cannot become {2}; from {1} it may become: {3}".format(
                self.stack_name, current, status, ", ".join(TRANSITIONS.get(current, ())) or "nothing"), "TransitionRefused")

    def set_status(self, status, failure=None, clear_failure=False):
        """Move the stack to ``status`` as TRANSITIONS allows, and save; LedgerError otherwise."""
        if status not in STACK_STATUSES:
            raise LedgerError("unknown stack status {0}".format(status), "UnknownStatus")
        with self._guard:
            self.check_transition(status)
            self.document["status"] = status
            if failure is not None:
                self.document["failure"] = failure
            elif clear_failure:
                self.document["failure"] = None
            self.save()

    def check_startable(self):
        """LedgerError unless the stack's instances may be started from its status (STARTABLE)."""
        status = self.document["status"]
        if status not in STARTABLE:
            raise LedgerError("stack {0} is {1}; only a stack that is {2} can be started".format(
                self.stack_name, status, ", ".join(STARTABLE)), "NotStartable")

    def record_failure(self, failure):
        """Record ``failure`` (see failure_record) unless one is recorded already, and save; the status stays.
        Returns whether it was recorded."""
        with self._guard:
            if self.document.get("failure"):
                return False
            self.document["failure"] = failure
            self.save()
            return True

    def set_outputs(self, outputs, save=True):
        """What the last deploy published (its service URL, instance ids, ...)."""
        with self._guard:
            self.document["outputs"] = outputs
            if save:
                self.save()

    def needs_report(self):
        """Whether the status leaves the user something to do (REPORTED_STATUSES)."""
        return self.document.get("status") in REPORTED_STATUSES

    def find(self, resource_type, resource_id):
        return find_entry(self.document, resource_type, resource_id)

    def entries(self, resource_type=None, provenances=None, statuses=None):
        return entries(self.document, resource_type, provenances, statuses)
