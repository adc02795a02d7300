# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the stack_state module with its ``commands`` read from the run (AWX's job id, the playbook's directory,
-e command_style and the job template names), so the commands it shows are the ones this user can run and no play
has to spell them out. A task that gives ``commands`` itself keeps them."""

from ansible.plugins.action import ActionBase

from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import commands_of_run

# The run's variables commands_of_run reads.
RUN_VARS = ("command_style", "awx_job_id", "tower_job_id", "playbook_dir", "deploy_job_template", "destroy_job_template",
            "check_job_template")


class CommandsOfRunAction(ActionBase):
    """Fills ``commands`` from the run before the module runs."""

    TRANSFERS_FILES = False
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("commands"):
            task_vars = task_vars or {}
            run_vars = {name: self._templar.template(task_vars[name]) for name in RUN_VARS if name in task_vars}
            args["commands"] = commands_of_run(run_vars)
        result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        return result


class ActionModule(CommandsOfRunAction):
    MODULE = "geusemaker.stack.stack_state"
