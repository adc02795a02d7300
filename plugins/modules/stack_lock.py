#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: stack_lock
short_description: Take or release a stack's lock
version_added: 0.1.0
description:
  - One run at a time per stack. The lock lives beside the stack's state (C(<state_dir>/<stack_name>.lock), or
    C(s3://<state_bucket>/<state_prefix><stack_name>.lock)), created exclusively (O_EXCL, or S3's C(IfNoneMatch))
    before any other AWS call. It records host, pid and start time of the holding ansible-playbook process, its TTL,
    a token, and the AWX job id when AWX runs the job.
  - A lock is stale when its process on this host is gone, or, from another host, when its heartbeat is older than
    its TTL. The run's modules refresh the heartbeat at every state save and during every long wait (instance, EFS,
    health check, teardown), with the run's token (O(lock_token) of the other modules). A stale lock is broken with
    a warning.
  - Once the lock is taken, the credentials' account is checked against the one the stack is recorded in; in
    another account the lock is released at once and the run stops, naming both accounts, before any change.
  - An action plugin runs this module with the pid of the ansible-playbook process, on the controller.
options:
  holder_pid:
    description: Set by the action plugin - the pid of the ansible-playbook process that holds the lock.
    type: int
    required: true
  holder_job_id:
    description: Set by the action plugin - the AWX job id (extra var C(awx_job_id) or C(tower_job_id)), if any.
    type: str
  tags:
    description: Not used; accepted so that the play's module_defaults for C(group/geusemaker.stack.stack) apply here too.
    type: dict
    default: {}
  state:
    description: C(present) takes the lock, C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  force:
    description: Break any lock, live or not.
    type: bool
    default: false
  ttl:
    description:
      - Seconds after the last heartbeat before a run on another host may treat this lock as stale.
      - The run's modules refresh the heartbeat at least every quarter of it (at most every 30 s) while they wait,
        so a killed run frees the stack within about this time.
    type: int
    default: 120
  token:
    description: With O(state=absent), the token returned when the lock was taken; another run's lock is left alone.
    type: str
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.stack
  - geusemaker.stack.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Locking is bookkeeping, so the task never reports C(changed).
  - In check mode the lock is neither taken nor released.
"""

EXAMPLES = r"""
- name: Lock the stack
  geusemaker.stack.stack_lock:
    stack_name: demo
  register: deploy_lock

- name: Release the lock
  geusemaker.stack.stack_lock:
    stack_name: demo
    state: absent
    token: "{{ deploy_lock.token }}"
"""

RETURN = r"""
token:
  description: Identifies this run's lock.
  returned: state=present
  type: str
holder:
  description: The lock record (host, pid, started_at, ttl, awx_job_id), or the holder that refused the lock.
  returned: state=present
  type: dict
account_id:
  description: The AWS account the stack is recorded in, and the credentials act in.
  returned: state=present, outside check mode
  type: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackFailure, StackModule
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import LockHeld, StateError


def main():
    # The lock comes before any AWS call, so a second run of the stack stops without touching AWS.
    stack = StackModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            force=dict(type="bool", default=False),
            ttl=dict(type="int", default=120),
            token=dict(type="str", no_log=False),
            holder_pid=dict(type="int", required=True),
            holder_job_id=dict(type="str"),
        ),
        lock_first=True,
    )
    params, store, name = stack.params, stack.store, stack.stack_name
    try:
        if stack.check_mode:
            holder = store.read_lock(name)
            stack.module.exit_json(changed=False, skipped_lock=True, token="check-mode", **stack.stack_result(),
                                   holder=None if holder is None else {k: v for k, v in holder.items()
                                                                       if not k.startswith("_") and k != "token"})
        if params["state"] == "absent":
            stack.module.exit_json(changed=False, released=store.release_lock(name, params["token"]), **stack.stack_result())
    except StateError as e:
        stack.fail(str(e))
    try:
        lock, warnings = store.acquire_lock(name, params["holder_pid"], force=params["force"], ttl=params["ttl"],
                                            job_id=params["holder_job_id"])
    except LockHeld as e:
        # The holder without its token: only the holding run writes with it.
        stack.fail(str(e), holder={k: v for k, v in e.holder.items() if k != "token"})
    except StateError as e:
        stack.fail(str(e))
    try:
        stack.open()
    except StackFailure as e:
        store.release_lock(name, lock["token"])
        stack.fail(str(e), **{k: v for k, v in e.details.items() if v is not None})
    for warning in warnings:
        stack.module.warn(warning)
    stack.module.exit_json(changed=False, token=lock["token"], holder=lock, lock_warnings=warnings,
                           account_id=stack.account_id, **stack.stack_result())


if __name__ == "__main__":
    main()
