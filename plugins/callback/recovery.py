# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: recovery
type: notification
short_description: Writes the recovery report of a failed or degraded GeuseMaker stack
version_added: 0.1.0
description:
  - At the end of a run whose stack is failed, rolled back with leftovers, or degraded, writes
    C(<state_dir>/<stack_name>.recovery.md) and prints the same. It lists every resource still existing, in
    deletion order, with its AWS console link and the CLI command that deletes it, then the recovery options.
  - A notification callback, so it runs beside any stdout callback (AWX's included).
  - Reads C(stack_name) and C(state_dir) from the play's extra vars.
requirements:
  - Enable it with C(callbacks_enabled = geusemaker.stack.recovery) in ansible.cfg.
"""

from ansible.plugins.callback import CallbackBase

from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import report
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError, open_store

REPORTED_STATUSES = ("failed", "rollback_failed", "degraded")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "geusemaker.stack.recovery"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.stack_name = None
        self.state_dir = "~/.geusemaker/stacks"

    def v2_playbook_on_play_start(self, play):
        extra_vars = play.get_variable_manager().extra_vars
        self.stack_name = extra_vars.get("stack_name", self.stack_name)
        self.state_dir = extra_vars.get("state_dir", self.state_dir)

    def v2_playbook_on_stats(self, stats):
        if not isinstance(self.stack_name, str):
            return
        store = open_store(str(self.state_dir))
        try:
            document = store.load(self.stack_name, quarantine=False)
        except StateError:
            return
        if not document or document.get("status") not in REPORTED_STATUSES:
            return
        lines = report(document, store.location(self.stack_name))
        path = store.save_report(self.stack_name, "\n".join(lines) + "\n")
        self._display.display("\n".join(lines + ["", "Recovery report: " + path]), stderr=False)
