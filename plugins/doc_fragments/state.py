# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Where stack state lives, and the run's lock token: one set of options, given once per play (module_defaults of
    # the action group geusemaker.stack.stack). Defaults are resolved in module_utils/state_store.py.
    DOCUMENTATION = r"""
options:
  state_backend:
    description:
      - Where the stack state (its document, lock and recovery report) is kept. V(local) is a directory on the
        controller, O(state_dir). V(s3) is an S3 bucket, O(state_bucket), under O(state_prefix); use it when runs
        start from fresh machines or containers (AWX).
      - Every save is conditional on the version last read (S3 C(IfMatch) on the ETag, C(IfNoneMatch) for the first),
        so an update is never lost; a save that finds the state changed by someone else refuses, overwrites nothing
        and keeps its own version beside it (C(<stack_name>.json.conflict-<UTC>)).
    type: str
    choices: [local, s3]
    default: local
  state_dir:
    description:
      - With O(state_backend=local), the directory of the state files; C(<state_dir>/<stack_name>.json) is rewritten
        atomically (mode 0600) after every change. Defaults to C(~/.geusemaker/stacks).
    type: path
  state_bucket:
    description:
      - With O(state_backend=s3), the bucket of the state; required then. The documents are
        C(<state_prefix><stack_name>.json), C(.lock) and C(.recovery.md).
      - The S3 client is the module's own - the same credentials, region and endpoint as its other AWS calls.
    type: str
  state_prefix:
    description:
      - With O(state_backend=s3), the key prefix of the state; a trailing C(/) is added when missing. Defaults to
        C(geusemaker/stacks/).
    type: str
  lock_token:
    description:
      - The token of the run's stack lock (the C(token) that M(geusemaker.stack.stack_lock) returns); playbooks give
        it once per play, from the lock task's registered result.
      - With it, every state save and every long wait of the module checks that the token still holds the lock and
        refreshes its heartbeat. A save is refused when another run broke the lock (so a module that outlived a
        killed run cannot overwrite the state of the run that took over), and the module stops when its run is
        gone.
      - Without it (a module used without the lock) nothing is checked.
    type: str
"""
