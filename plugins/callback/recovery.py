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
  - The commands the report shows are named as the user runs the playbooks (the C(commands) the playbooks give
    C(geusemaker.stack.stack_state)) - C(ansible-playbook playbooks/...) from a clone, C(ansible-playbook
    geusemaker.stack....) with the collection installed, or the AWX job templates.
  - With the S3 backend (C(state_backend=s3)) it reaches S3 from the controller with a client of its own, made with
    the region, endpoint and profile the collection's modules used (from their results) and the credentials boto3
    finds in the controller's environment - C(AWS_PROFILE), or C(AWS_ACCESS_KEY_ID) and C(AWS_SECRET_ACCESS_KEY) with
    the token in C(AWS_SESSION_TOKEN) or C(AWS_SECURITY_TOKEN) (how AWX injects a credential), or an instance role.
    Credentials given to the modules only as options (C(access_key) in module_defaults, say) do not reach it; it then
    warns that it wrote nothing, and the run's own state saves are unaffected.
requirements:
  - Enable it with C(callbacks_enabled = geusemaker.stack.recovery) in ansible.cfg.
  - boto3 on the controller, for the S3 backend.
"""

import os

from ansible.plugins.callback import CallbackBase

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger, LedgerError, failure_record
from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import report
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import STACK_RESULT
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import LockHeld, StateError, account_of, open_store

try:
    import boto3
except ImportError:
    boto3 = None

__all__ = ["CallbackModule"]
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
        self.aws = {}  # region, endpoint_url, profile the modules used (never credentials)
        self.commands = None
        self.run_token = None  # the run's own lock token, from the lock task's result

    def _learn_stack(self, result):
        found = result._result.get(STACK_RESULT)
        if isinstance(found, dict) and found.get("stack_name") and isinstance(found.get("state"), dict):
            self.stack_name, self.location = found["stack_name"], found["state"]
            if isinstance(found.get("aws"), dict):
                self.aws = found["aws"]
            if isinstance(found.get("commands"), dict):
                self.commands = found["commands"]

    def v2_runner_on_ok(self, result):
        self._learn_stack(result)
        token = result._result.get("token")
        if getattr(result._task, "action", "") == LOCK_ACTION and token and token != "check-mode":
            self.run_token = token

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
            store = open_store(self.location, lambda: self._client("s3"), owner=lambda: account_of(self._client("sts")))
            token, taken = self._lock(store)
        except StateError as e:
            self._display.warning("recovery: no report for stack {0}: {1}".format(self.stack_name, e))
            return
        try:
            self._report(store, token)
        except StateError as e:
            self._display.warning("recovery: no report for stack {0}: {1}".format(self.stack_name, e))
        finally:
            if taken:
                try:
                    store.release_lock(self.stack_name, token)
                except StateError as e:
                    self._display.warning("recovery: the lock taken for the report was not released: {0}".format(e))

    def _client(self, service):
        """A client for the S3 backend (S3, and STS for the account that must own the bucket), on the controller: the
        modules' region, endpoint and profile, and the credentials boto3 finds in this process's environment (see
        the description)."""
        if boto3 is None:
            raise StateError("boto3 is not installed on the controller")
        try:
            session = boto3.session.Session(profile_name=self.aws.get("profile") or None)
            return session.client(service, region_name=self.aws.get("region") or None,
                                  endpoint_url=self.aws.get("endpoint_url") or None)
        except Exception as e:  # a missing profile, an unusable region: say so, like any state error
            raise StateError("no {0} client on the controller: {1}".format(service, e))

    def _lock(self, store):
        """(token to write with, whether this callback took the lock): the run's own token while the run still
        holds the lock, else one taken for this write."""
        try:
            lock, _unused = store.acquire_lock(self.stack_name, os.getpid())
        except LockHeld as e:
            if e.holder.get("pid") == os.getpid() and e.holder.get("host") == store.hostname:
                # This run's own lock (ansible-playbook is this process): write with its token.
                return e.holder.get("token") or self.run_token, False
            raise StateError("another run holds it ({0}); nothing was written".format(e))
        return lock["token"], True

    def _report(self, store, token):
        try:
            # A corrupt document is left where it is: it is the run's to deal with, not its report's.
            ledger = Ledger.open(store, self.stack_name, None, lock_token=token, quarantine=False)
        except (StateError, LedgerError):
            return
        if ledger.version is None or not ledger.needs_report():
            return
        if self.first_failure is not None and ledger.document["status"] != "degraded":
            # Only the failure is added, when the run recorded none; the status stays what the run (or its cleanup)
            # wrote, and the save is over the version read, with the run's token.
            try:
                ledger.record_failure(self.first_failure)
            except StateError as e:
                self._display.warning("recovery: cannot record the failure in the state file: {0}".format(e))
        lines = report(ledger.document, store.location(self.stack_name), self.commands, self.location)
        try:
            path = store.save_report(self.stack_name, "\n".join(lines) + "\n")
        except StateError as e:
            path = "not written ({0})".format(e)
        self._display.display("\n".join(lines + ["", "Recovery report: " + path]), stderr=False)
