# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the state_migrate module with its ``commands`` read from the run, as the stack_state action plugin does:
the migrated recovery report names the commands this user can run."""

from ansible_collections.geusemaker.stack.plugins.action.stack_state import CommandsOfRunAction


class ActionModule(CommandsOfRunAction):
    MODULE = "geusemaker.stack.state_migrate"
