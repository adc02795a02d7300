# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: recovery
type: notification
short_description: Writes the recovery report of a failed or degraded GeuseMaker stack
version_added: 0.1.0
description:
  - At the end of a run whose stack is failed, rolled back, rollback_failed or degraded, writes the stack's recovery
    report beside its state (with the local backend, C(<state_dir>/<stack_name>.recovery.md)) and prints the same.
    It lists every resource still existing, in deletion order, with its AWS console link and the CLI command that
    deletes it, then the recovery options.
  - A notification callback, so it runs beside any stdout callback (AWX's included).
  - Learns the stack's name and state location from the results of the collection's tasks, wherever the play
    set them (extra vars, play vars, inventory, module_defaults).
  - Adds the first failed task (task, resource_type, error_code, error_message, critical, at) to the state when the
    run did not record one, and never changes the status the run or its cleanup wrote.
  - Writes only under the stack's lock - the run's own, while it still holds it, or taken for that write. When
    another run holds the stack, it writes nothing and says so.
requirements:
  - Enable it with C(callbacks_enabled = geusemaker.stack.recovery) in ansible.cfg.
"""

import os

from ansible.plugins.callback import CallbackBase

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import failure_record
from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import report
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import STACK_RESULT
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import LockHeld, StateError, iso, open_store, utc_now

REPORTED_STATUSES = ("failed", "rolled_back", "rollback_failed", "degraded")
LOCK_ACTION = "geusemaker.stack.stack_lock"
# Tasks of the rescue and always sections: their failures are not the failure being recovered from.
BOOKKEEPING_ACTIONS = ("geusemaker.stack.stack_state", LOCK_ACTION, "geusemaker.stack.teardown",
                       "ansible.builtin.fail", "fail")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "geusemaker.stack.recovery"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.stack_name = None
        self.location = None
        self.first_failure = None
        self.locked_out = False

    def _learn_stack(self, result):
        found = result._result.get(STACK_RESULT)
        if isinstance(found, dict) and found.get("stack_name") and isinstance(found.get("state"), dict):
            self.stack_name, self.location = found["stack_name"], found["state"]

    def v2_runner_on_ok(self, result):
        self._learn_stack(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._learn_stack(result)
        if ignore_errors or self.first_failure is not None:
            return
        action = getattr(result._task, "action", "")
        if action == LOCK_ACTION:
            # Another run holds the stack: its state and report are not ours to touch.
            self.locked_out = True
        if action in BOOKKEEPING_ACTIONS:
            return
        self.first_failure = failure_record(result._task.get_name(), result._result)

    def v2_playbook_on_stats(self, stats):
        if self.stack_name is None or self.locked_out:
            return
        try:
            store = open_store(self.location)
            token = self._lock(store)
        except StateError as e:
            self._display.warning("recovery: no report for stack {0}: {1}".format(self.stack_name, e))
            return
        try:
            self._report(store)
        finally:
            if token:
                store.release_lock(self.stack_name, token)

    def _lock(self, store):
        """The token of a lock taken for this write; None when the run itself still holds the lock."""
        try:
            lock, _unused = store.acquire_lock(self.stack_name, os.getpid())
        except LockHeld as e:
            if e.holder.get("pid") == os.getpid() and e.holder.get("host") == store.hostname:
                return None
            raise StateError("another run holds it ({0}); nothing was written".format(e))
        return lock["token"]

    def _report(self, store):
        try:
            document = store.load(self.stack_name, quarantine=False)
        except StateError:
            return
        if not document or document.get("status") not in REPORTED_STATUSES:
            return
        if not document.get("failure") and self.first_failure is not None and document["status"] != "degraded":
            # Only the failure is added: the status stays what the run (or its cleanup) wrote.
            document["failure"] = self.first_failure
            document["updated_at"] = iso(utc_now())
            try:
                store.save(self.stack_name, document)
            except StateError as e:
                self._display.warning("recovery: cannot record the failure in the state file: {0}".format(e))
        lines = report(document, store.location(self.stack_name))
        try:
            path = store.save_report(self.stack_name, "\n".join(lines) + "\n")
        except StateError as e:
            path = "not written ({0})".format(e)
        self._display.display("\n".join(lines + ["", "Recovery report: " + path]), stderr=False)
