# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the stack_lock module with the pid of the ansible-playbook process, so the lock names the whole run, not a
short-lived module or worker, and with the AWX job id when AWX runs the job (its extra var awx_job_id, or
tower_job_id on older controllers)."""

import os

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        # Workers are forked from the ansible-playbook process: its pid is our parent's.
        args["holder_pid"] = os.getppid()
        task_vars = task_vars or {}
        job_id = task_vars.get("awx_job_id") or task_vars.get("tower_job_id")
        if job_id:
            args["holder_job_id"] = str(job_id)
        result.update(self._execute_module(module_name="geusemaker.stack.stack_lock", module_args=args, task_vars=task_vars))
        return result
