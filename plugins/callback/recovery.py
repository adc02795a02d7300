# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: recovery
type: notification
short_description: Writes the recovery report of a failed or degraded GeuseMaker stack
version_added: 0.1.0
description:
  - At the end of a run whose stack is failed, rolled back, rollback_failed or degraded, writes
    C(<state_dir>/<stack_name>.recovery.md) and prints the same. It lists every resource still existing, in
    deletion order, with its AWS console link and the CLI command that deletes it, then the recovery options.
  - A notification callback, so it runs beside any stdout callback (AWX's included).
  - Reads C(stack_name) and C(state_dir) from the play's extra vars.
  - Adds the first failed task (task, resource_type, error_code, error_message, critical, at) to the state file
    when the run did not record one, and never changes the status the run or its cleanup wrote.
requirements:
  - Enable it with C(callbacks_enabled = geusemaker.stack.recovery) in ansible.cfg.
"""

from ansible.plugins.callback import CallbackBase

from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import report
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError, iso, open_store, utc_now

REPORTED_STATUSES = ("failed", "rolled_back", "rollback_failed", "degraded")
# Tasks of the rescue and always sections: their failures are not the failure being recovered from.
BOOKKEEPING_ACTIONS = ("geusemaker.stack.stack_state", "geusemaker.stack.stack_lock", "geusemaker.stack.teardown",
                       "ansible.builtin.fail", "fail")


def failure_of(task_name, result):
    """The state file's ``failure`` from a failed task's result."""
    return {
        "task": task_name,
        "resource_type": result.get("resource_type"),
        "error_code": result.get("error_code"),
        "error_message": str(result.get("msg") or "unknown error")[:1000],
        "critical": True,
        "at": iso(utc_now()),
    }


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "geusemaker.stack.recovery"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.stack_name = None
        self.state_dir = "~/.geusemaker/stacks"
        self.first_failure = None
        self.locked_out = False

    def v2_playbook_on_play_start(self, play):
        extra_vars = play.get_variable_manager().extra_vars
        self.stack_name = extra_vars.get("stack_name", self.stack_name)
        self.state_dir = extra_vars.get("state_dir", self.state_dir)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors or self.first_failure is not None:
            return
        action = getattr(result._task, "action", "")
        if action == "geusemaker.stack.stack_lock":
            # Another run holds the stack: its state and report are not ours to touch.
            self.locked_out = True
        if action in BOOKKEEPING_ACTIONS:
            return
        self.first_failure = failure_of(result._task.get_name(), result._result)

    def v2_playbook_on_stats(self, stats):
        if not isinstance(self.stack_name, str) or self.locked_out:
            return
        try:
            store = open_store(str(self.state_dir))
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
