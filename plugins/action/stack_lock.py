# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs on the controller so the lock records the ansible-playbook process, not a short-lived module."""

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import stack_name_problem
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import STACK_RESULT
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    STATE_LOCATION_OPTIONS,
    LockHeld,
    StateError,
    open_store,
    state_location,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("stack_name", "tags", "state", "force", "token", "ttl") + tuple(STATE_LOCATION_OPTIONS))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        stack_name = args.get("stack_name")
        problem = stack_name_problem(stack_name)
        if problem:
            raise AnsibleActionFail(problem)
        state = args.get("state", "present")
        if state not in ("present", "absent"):
            raise AnsibleActionFail("state must be present or absent")
        try:
            location = state_location(args)
            store = open_store(location)
        except StateError as e:
            raise AnsibleActionFail(str(e))
        result[STACK_RESULT] = dict(stack_name=stack_name, state=location)
        if self._task.check_mode:
            holder = store.read_lock(stack_name)
            result.update(changed=False, skipped_lock=True, holder=holder, token="check-mode")
            return result
        try:
            if state == "present":
                # Workers are forked from the ansible-playbook process: its pid is our parent's.
                lock, warnings = store.acquire_lock(
                    stack_name, os.getppid(), force=bool(args.get("force", False)), ttl=_positive_int(args.get("ttl"))
                )
                for warning in warnings:
                    self._display.warning(warning)
                result.update(changed=False, token=lock["token"], holder=lock, lock_warnings=warnings)
            else:
                result.update(changed=False, released=store.release_lock(stack_name, args.get("token")))
        except LockHeld as e:
            result.update(failed=True, msg=str(e), holder=e.holder)
        except StateError as e:
            result.update(failed=True, msg=str(e))
        return result


def _positive_int(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
