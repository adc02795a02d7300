# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A test-only callback: every task result of the run, as one JSON line each, in the file GEUSEMAKER_RECORD_RESULTS.

Registered results, loop items, retries, handlers, skips and the run's stats all go in, whatever the verbosity, as
every callback (AWX's job events included) receives them, so a test can search everything a task returned (the
secrets sweep), not only what the stdout callback printed.
Enable it with ANSIBLE_CALLBACK_PLUGINS=<this directory> and record_results in ANSIBLE_CALLBACKS_ENABLED.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: record_results
type: notification
short_description: Records every task result as JSON lines (tests only)
description:
  - Writes each task result, loop item, retry and the run's stats to the file named by GEUSEMAKER_RECORD_RESULTS.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.path = os.environ.get("GEUSEMAKER_RECORD_RESULTS")

    def _write(self, event, record):
        if not self.path:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(record, event=event), default=repr, sort_keys=True) + "\n")

    def _record(self, event, result):
        self._write(event, {
            "task": result.task_name,
            "action": result.task.action,
            "host": result.host.get_name(),
            "result": result.result,
        })

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_runner_item_on_ok(self, result):
        self._record("item_ok", result)

    def v2_runner_item_on_failed(self, result):
        self._record("item_failed", result)

    def v2_runner_item_on_skipped(self, result):
        self._record("item_skipped", result)

    def v2_runner_retry(self, result):
        self._record("retry", result)

    def v2_runner_on_async_ok(self, result):
        self._record("async_ok", result)

    def v2_runner_on_async_failed(self, result):
        self._record("async_failed", result)

    def v2_playbook_on_stats(self, stats):
        self._write("stats", {"custom": stats.custom})
