# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Options every geusemaker.stack resource module takes.
    DOCUMENTATION = r"""
options:
  stack_name:
    description:
      - Name of the stack; 3 to 32 lowercase letters, digits and hyphens, starting with a letter.
      - Marks everything the stack creates (tag C(geusemaker:stack)) and names its state file.
    type: str
    required: true
  state_dir:
    description:
      - Directory of the stack state files; C(<state_dir>/<stack_name>.json) is rewritten atomically
        (mode 0600) after every resource created or adopted.
    type: path
    default: ~/.geusemaker/stacks
  tags:
    description:
      - Tags added to every resource created. They cannot override the ownership tags.
    type: dict
    default: {}
notes:
  - The module finds its resource by ownership tags first and adopts it; otherwise it creates it, tagged on the create call.
  - Returns the updated ledger as the fact C(geusemaker_ledger), after the state file has been saved.
  - In check mode nothing is created and the state file is not written.
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
planned:
  description: In check mode, what would be created.
  returned: when something would be created
  type: list
  elements: dict
"""
