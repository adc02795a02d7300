# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Teardown: one concurrent plan over the dependency table.

Each resource is deleted as soon as everything it waits for (its kind's ``delete_after``) is confirmed
gone, by polling real state every ``poll`` seconds. Transient refusals are retried until the deadline,
which also bounds every wait. Every attempt is logged in the ledger's events.
"""

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.geusemaker.stack.plugins.module_utils import kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS, error_code
from ansible_collections.geusemaker.stack.plugins.module_utils.dependencies import deletion_order
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import owned_entries, reused_ids
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError, utc_now

# Refusals of any kind's delete that clear by themselves once a dependency is released; each kind adds its own
# (kind.Kind.busy_codes). Throttling is AWSRetry's business; a server error (5xx) that outlasts AWSRetry is retried
# here too, until the deadline.
TRANSIENT_CODES = frozenset(("DependencyViolation", "ConcurrentModification"))


# AWS may answer NotFound to the delete of what was created seconds earlier, before the create has propagated
# (EC2's eventual consistency): the resource is there, and billing. Such an answer is believed only once the create
# (or the adoption, for an orphan whose create answer was lost) is this many seconds old; until then the delete is
# asked again.
PROPAGATION_WINDOW = 60


def is_transient(entry, error):
    """A refusal worth retrying until the deadline: a transient code, the entry kind's busy code, or any server-side
    (5xx) error."""
    if error_code(error) in TRANSIENT_CODES | kinds.get(entry["type"]).busy_codes:
        return True
    try:
        return error.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
    except (AttributeError, KeyError, TypeError):
        return False


def is_gone(entry, error):
    """True when ``error`` is an answer meaning the entry's resource no longer exists."""
    return error_code(error) in kinds.get(entry["type"]).gone_codes


def discover_owned(clients, stack_name, region):
    """Everything in AWS that carries the stack's ownership mark, as ledger-style entries."""
    found = []
    for resource_type, kind in kinds.KINDS.items():
        for item in kind.impl.discover(clients, stack_name, region):
            item.setdefault("type", resource_type)
            found.append(item)
    return found


def build_plan(ledger, discovered, keep_data=False):
    """Ledger entries to delete: owned ones plus discovered orphans (recorded as adopted). Never reused ones."""
    reused = reused_ids(ledger.document)
    for item in discovered:
        if item["id"] in reused:
            continue
        entry = ledger.find(item["type"], item["id"])
        if entry is None or entry["status"] == "deleted":
            attributes = {k: v for k, v in item.items() if k not in ("type", "id")}
            ledger.record(item["type"], item["id"], "adopted", **attributes)
    plan = [entry for entry in owned_entries(ledger.document) if entry["id"] not in reused]
    if keep_data:
        for entry in plan:
            if kinds.get(entry["type"]).data:
                ledger.mark(entry["type"], entry["id"], "retained")
        plan = [entry for entry in plan if not kinds.get(entry["type"]).data]
    return deletion_order(plan)


class Teardown:
    """Runs a plan: deletes in dependency order, concurrently, until done or the deadline."""

    def __init__(self, ledger, clients, timeout, poll=1.5, workers=8, log=None, clock=time.monotonic, sleep=time.sleep,
                 heartbeat=None, now=utc_now):
        self.ledger = ledger
        self.clients = clients
        self.deadline = clock() + timeout
        self.timeout = timeout
        self.poll = poll
        self.workers = workers
        self.log = log or (lambda message: None)
        self.clock = clock
        self.sleep = sleep
        self.now = now
        # Called by the main loop between waits (the run's lock stays alive); an exception from it, or from a save,
        # stops the teardown: ``stopped`` makes every worker return at its next step.
        self.heartbeat = heartbeat or (lambda: None)
        self.stopped = False
        self.refused = set()  # id() of the entries whose own marks are not the stack's

    def _note(self, entry, outcome, code=None, message=None):
        self.ledger.event("delete", entry["type"], entry["id"], outcome, error_code=code, message=message)
        self.log(
            "delete {0} {1}: {2}{3}".format(
                entry["type"], entry["id"], outcome, " ({0}: {1})".format(code, message) if code else ""
            )
        )

    def _owned(self, entry, kind):
        """Whether the resource may be deleted: the state is a document whoever can write it controls, so its own
        marks (tags; for IAM its name and path; for a parameter its path) must name this stack. A resource AWS does
        not list is left to the delete, which knows what its NotFound means."""
        stack_name = self.ledger.stack_name
        while True:
            try:
                verdict = kind.owned(self.clients, entry, stack_name, entry.get("region") or self.ledger.region)
                break
            except AWS_ERRORS as e:
                if is_transient(entry, e) and self.clock() + self.poll < self.deadline:
                    self.sleep(self.poll)
                    continue
                self._note(entry, "error", error_code(e), str(e)[:300])
                return False
        if verdict is False:
            self._note(entry, "refused", "NotOwned", "its own marks do not name stack {0}: not deleted; the state names "
                       "a resource that is not the stack's".format(stack_name))
            self.refused.add(id(entry))
            return False
        return True

    def _remove(self, entry):
        """Delete one resource and wait until it is gone. Returns True when gone."""
        record = kinds.get(entry["type"])
        kind = record.impl
        if not self._owned(entry, kind):
            return False
        while True:
            if self.stopped:
                return False
            try:
                kind.delete(self.clients, entry)
                self._note(entry, "requested")
                break
            except AWS_ERRORS as e:
                code = error_code(e)
                in_time = self.clock() + self.poll < self.deadline
                if is_gone(entry, e):
                    if not (in_time and self._just_created(entry)):
                        self._note(entry, "already_gone", code)
                        return True
                if (is_gone(entry, e) or is_transient(entry, e)) and in_time:
                    self._note(entry, "retry", code, str(e)[:300])
                    self.sleep(self.poll)
                    continue
                self._note(entry, "error", code, str(e)[:300])
                return False
        while True:
            if self.stopped:
                return False
            try:
                if not record.exists(self.clients, entry):  # a gone code is a no (kind.Kind.exists)
                    self._note(entry, "deleted")
                    return True
            except AWS_ERRORS as e:
                if not is_transient(entry, e):
                    self._note(entry, "error", error_code(e), str(e)[:300])
                    return False
            if self.clock() + self.poll >= self.deadline:
                self._note(entry, "error", "Timeout", "still present after {0}s".format(self.timeout))
                return False
            self.sleep(self.poll)

    def _just_created(self, entry):
        born = self.ledger.known_since(entry["type"], entry["id"])
        return born is not None and (self.now() - born).total_seconds() < PROPAGATION_WINDOW

    def run(self, plan):
        """Returns (deleted entries, entries left behind)."""
        pending = {id(entry): entry for entry in plan}
        done, failed = [], []
        running = {}

        def waits_for(entry):
            blocking = kinds.get(entry["type"]).delete_after
            return [other for other in plan if other["type"] in blocking and other is not entry]

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                self._loop(plan, pending, running, done, failed, waits_for, pool)
            except BaseException:
                self.stopped = True
                raise
        return done, failed

    def _loop(self, plan, pending, running, done, failed, waits_for, pool):
        while pending or running:
            gone_ids = {id(entry) for entry in done}
            failed_ids = {id(entry) for entry in failed}
            for key, entry in list(pending.items()):
                blockers = waits_for(entry)
                if any(id(blocker) in failed_ids for blocker in blockers):
                    del pending[key]
                    failed.append(entry)
                    self._note(entry, "skipped", "DependencyNotDeleted", "a resource it waits for was not deleted")
                    self.ledger.mark(entry["type"], entry["id"], "delete_failed")
                elif all(id(blocker) in gone_ids for blocker in blockers):
                    del pending[key]
                    running[pool.submit(self._remove, entry)] = entry
            if not running:
                continue
            self.heartbeat()
            finished, _unused = wait(list(running), timeout=self.poll, return_when=FIRST_COMPLETED)
            for future in finished:
                entry = running.pop(future)
                try:
                    gone = future.result()
                except StateError:  # the state cannot be written (lock lost, conflict): stop, save nothing more
                    raise
                except Exception as e:  # a bug in a kind must not stop the others
                    self._note(entry, "error", type(e).__name__, str(e)[:300])
                    gone = False
                status = "deleted" if gone else ("not_owned" if id(entry) in self.refused else "delete_failed")
                self.ledger.mark(entry["type"], entry["id"], status)
                (done if gone else failed).append(entry)
