# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Options every module acting on one stack takes. A play gives them once, as module_defaults of the action
    # group geusemaker.stack.stack, together with the state location (doc fragment geusemaker.stack.state).
    DOCUMENTATION = r"""
options:
  stack_name:
    description:
      - Name of the stack; 3 to 32 lowercase letters, digits and hyphens, starting with a letter.
      - Marks everything the stack creates (tag C(geusemaker:stack)) and names its state.
    type: str
    required: true
  tags:
    description:
      - Tags added to every resource created. They cannot override the ownership tags.
    type: dict
    default: {}
notes:
  - Give O(stack_name), O(tags) and the state location once per play, as module_defaults of the action group
    C(group/geusemaker.stack.stack).
  - A resource module finds its resource by ownership tags first and adopts it; otherwise it creates it, tagged on
    the create call, and records it in the stack's state at once.
  - Returns the updated ledger as the fact C(geusemaker_ledger), after the state has been saved.
  - In check mode nothing is created and the state is not written.
"""

    RETURN = r"""
ansible_facts:
  description: The updated ledger.
  returned: always
  type: dict
  contains:
    geusemaker_ledger:
      description: The stack's state document (schema_version, status, resources, events, failure).
      type: dict
geusemaker_stack:
  description: The stack's name and state location, for the recovery callback.
  returned: always
  type: dict
planned:
  description: In check mode, what would be created.
  returned: when something would be created
  type: list
  elements: dict
"""
