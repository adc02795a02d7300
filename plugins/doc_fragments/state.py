# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Where stack state lives: one set of options, given once per play (module_defaults of the action group
    # geusemaker.stack.stack). Defaults are resolved in module_utils/state_store.py.
    DOCUMENTATION = r"""
options:
  state_backend:
    description:
      - Where the stack state (its document, lock and recovery report) is kept. V(local) is a directory on the
        controller, O(state_dir).
    type: str
    choices: [local]
    default: local
  state_dir:
    description:
      - With O(state_backend=local), the directory of the state files; C(<state_dir>/<stack_name>.json) is rewritten
        atomically (mode 0600) after every change. Defaults to C(~/.geusemaker/stacks).
    type: path
  state_bucket:
    description: Reserved for the S3 backend (the bucket of the state).
    type: str
  state_prefix:
    description: Reserved for the S3 backend (the key prefix of the state). Defaults to C(geusemaker/stacks/).
    type: str
"""
