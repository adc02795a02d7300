#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: stack_lock
short_description: Take or release a stack's lock
version_added: 0.1.0
description:
  - One run at a time per stack. The lock lives beside the stack's state (with the local backend,
    C(<state_dir>/<stack_name>.lock)) and records host, pid and start time of the holding ansible-playbook
    process.
  - A lock is stale when its process on this host is gone, or, from another host, when its heartbeat (refreshed
    on every state save) is older than its TTL. A stale lock is broken with a warning.
  - This is an action plugin; it runs on the controller.
options:
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
      - Pass at least the longest wait of the run without a state save (instance, health check, rollback).
    type: int
    default: 300
  token:
    description: With O(state=absent), the token returned when the lock was taken; another run's lock is left alone.
    type: str
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.stack
  - geusemaker.stack.state
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
  description: The lock record (host, pid, started_at), or the holder that refused the lock.
  returned: state=present
  type: dict
"""
