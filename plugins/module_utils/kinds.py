# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every resource kind, loaded: the list of kind files, whose records (kind.Kind) register themselves.

The teardown, the list and the recovery report import this file to know every kind; a module that handles one kind
imports only that kind's file. ``DELETE_AFTER`` (what must be gone before each type is deleted) is read from the
records. Adding a kind: docs/design.md.
"""

from ansible.module_utils.six.moves.collections_abc import Mapping

from ansible_collections.geusemaker.stack.plugins.module_utils import (
    file_system,
    iam_role,
    instance,
    instance_profile,
    internet_gateway,
    mount_target,
    route_table,
    security_group,
    ssm_parameter,
    subnet,
    volume,
    vpc,
)
from ansible_collections.geusemaker.stack.plugins.module_utils import kind

KIND_FILES = (vpc, subnet, internet_gateway, route_table, security_group, file_system, mount_target, ssm_parameter,
              iam_role, instance_profile, instance, volume)


class DeleteAfter(Mapping):
    """{type: the types that must be gone before it is deleted}, read from the registered records."""

    def __getitem__(self, resource_type):
        try:
            return kind.KINDS[resource_type].delete_after
        except KeyError:
            raise KeyError(resource_type)

    def __iter__(self):
        return iter(list(kind.KINDS))

    def __len__(self):
        return len(kind.KINDS)


DELETE_AFTER = DeleteAfter()
# The registry, for the code that works across kinds (kinds.get(type), kinds.KINDS) and a test's throw-away kind.
KINDS = kind.KINDS
Kind = kind.Kind
get = kind.get
register = kind.register
