#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: state_migrate
short_description: Move a stack's state from a local directory to the play's state location (S3)
version_added: 0.1.0
description:
  - Copies the stack's state document from O(source_dir) to the state location of the play (O(state_backend),
    O(state_bucket), O(state_prefix); typically S3), every field the same, and reads the copy back to check it.
  - When the stack has a recovery report, it is written again at the destination for its new place - the same
    report, with the new state location and commands that name it (see O(commands)).
  - The destination must have no document for the stack yet (the copy is written with C(IfNoneMatch) on S3); a
    stack whose state is already there, the same, is reported unchanged. Nothing is ever overwritten.
  - Then the local document and report are renamed C(<name>.migrated-<UTC>), so that no later run uses the stale
    local copy; they stay, for the record.
  - Holds the source's lock while it works; run it under the destination's lock (O(lock_token), as
    C(playbooks/migrate_state.yml) does). No AWS resource is touched.
options:
  source_dir:
    description: The local state directory the stack's state is moved from.
    type: path
    default: ~/.geusemaker/stacks
  commands:
    description:
      - How the user runs the playbooks, for the commands of the recovery report, as for
        M(geusemaker.stack.stack_state) (V(checkout), V(collection) or V(awx), and the job templates' names).
    type: dict
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.stack
  - geusemaker.stack.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - The credentials must act in the AWS account the stack is recorded in.
  - In check mode it says what it would move, and changes nothing.
"""

EXAMPLES = r"""
- name: Move the state of stack demo to S3
  geusemaker.stack.state_migrate:
    stack_name: demo
    source_dir: ~/.geusemaker/stacks
    state_backend: s3
    state_bucket: example-geusemaker-state
"""

RETURN = r"""
migrated_to:
  description: Where the state document is now.
  returned: always
  type: str
  sample: s3://example-geusemaker-state/geusemaker/stacks/demo.json
report_migrated:
  description: Whether a recovery report was written at the destination too.
  returned: always
  type: bool
kept_aside:
  description: The local files, renamed once copied.
  returned: always
  type: list
  elements: str
"""

import os

from ansible_collections.geusemaker.stack.plugins.module_utils.recovery import report
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import LockHeld, StateError, utc_now
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore


def main():
    stack = StackModule(argument_spec=dict(source_dir=dict(type="path", default="~/.geusemaker/stacks"),
                                           commands=dict(type="dict")))
    name, target = stack.stack_name, stack.store
    source = LocalStateStore(stack.params["source_dir"])
    where = target.location(name)
    if source.root == getattr(target, "root", None):
        stack.fail("source_dir {0} is the state location itself; nothing to move".format(source.root))
    try:
        document, _unused = source.load_versioned(name, quarantine=False)
        if document is None:
            stack.fail("stack {0} has no state in {1} (no {2})".format(name, source.root, source.location(name)))
        recorded = document.get("account_id")
        if recorded and stack.account_id and recorded != stack.account_id:
            stack.fail("stack {0} is recorded in AWS account {1}, but these credentials act in account {2}; nothing was "
                       "moved".format(name, recorded, stack.account_id), error_code="AccountMismatch")
        existing, _unused = target.load_versioned(name, quarantine=False)
        if existing is not None:
            if existing == document:
                stack.ledger.document = existing
                stack.exit(migrated_to=where, report_migrated=False, kept_aside=[])
            stack.fail("stack {0} already has a different state at {1}; nothing was moved or overwritten. Compare it "
                       "with {2}".format(name, where, source.location(name)))
        if stack.check_mode:
            stack.changed = True
            stack.exit(migrated_to=where, report_migrated=False, kept_aside=[])
        try:
            lock, _unused = source.acquire_lock(name, os.getpid())
        except LockHeld as e:
            stack.fail("the local state of stack {0} is in use: {1}".format(name, e))
        try:
            target.save(name, document, token=stack.lock_token, version=None)
            if target.load(name, quarantine=False) != document:
                stack.fail("the copy at {0} does not read back the same; the local state was kept as it is".format(where))
            text = source.read_report(name)
            if text is not None:  # the same report, for its new place: the state location and the commands
                target.save_report(name, "\n".join(report(document, where, stack.params["commands"], stack.location)) + "\n")
            kept = source.move_aside(name, "migrated-" + utc_now().strftime("%Y%m%dT%H%M%SZ"))
        finally:
            source.release_lock(name, lock["token"])
    except StateError as e:
        stack.fail(str(e))
    stack.changed = True
    stack.ledger.document = document  # the fact geusemaker_ledger: the state as it now is at the destination
    stack.exit(migrated_to=where, report_migrated=text is not None, kept_aside=kept)


if __name__ == "__main__":
    main()
