# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a resource kind is: the record each kind file declares about itself, and the registry of the kinds loaded.

A kind file (vpc.py, instance.py, ...) ends with ``KIND = register(Kind(TYPE, sys.modules[__name__], ...))``: its
code (``delete``, ``exists``, ``discover``, ``owned``), the AWS answers that mean "already gone" and "still busy",
how a human finds and deletes one (console link, CLI command, the placeholders those need), what it costs, whether
it is data (kept by ``keep_data``), and the kinds that must be gone before it is deleted (``delete_after``).

This file imports no kind, so the ledger can check a type against the registry without carrying every kind's code:
a module registers the kinds whose files it loads, and a kind's type is recorded only by its own file.
``kinds.py`` loads them all, for the teardown, the list and the recovery report. Adding a kind: docs/design.md.
"""

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS, error_code

CONSOLE = "https://{r}.console.aws.amazon.com/"
# The consoles' own prefixes, after CONSOLE, that several kinds' links share.
VPC_CONSOLE = "vpcconsole/home?region={r}#"
EC2_CONSOLE = "ec2/home?region={r}#"
EFS_CONSOLE = "efs/home?region={r}#/file-systems/"


class Kind:
    """One resource type.

    ``console`` and ``delete_command`` are str.format templates over the ledger entry plus ``r`` (its region) and
    the ``placeholders`` (name: function of the entry giving the value when the entry lacks it).
    ``delete_after``: the types that must be gone before this one is deleted (required: a kind is never
    "independent" by omission). ``busy_codes``: refusals of its delete that clear once what holds it is gone.
    ``hourly_usd(entry)`` is the estimated cost per hour (None: not billed by the hour); ``cost_note`` (text, or a
    function of the entry) says what it costs, for people."""

    def __init__(self, type_name, impl, gone_codes, console, delete_command, delete_after, busy_codes=(),
                 placeholders=None, data=False, hourly_usd=None, cost_note=None):
        if isinstance(delete_after, str):
            raise TypeError("delete_after of {0} is a tuple of resource types, not {1!r}".format(type_name, delete_after))
        self.type = type_name
        self.impl = impl
        self.gone_codes = frozenset(gone_codes)
        self.busy_codes = frozenset(busy_codes)
        self.console = console
        self.delete_command = delete_command
        self.delete_after = tuple(delete_after)
        self.placeholders = dict(placeholders or {})
        self.data = data
        self._hourly_usd = hourly_usd
        self._cost_note = cost_note

    def exists(self, clients, entry):
        """Whether the entry's resource still exists: the kind's own ``exists``, with an answer in ``gone_codes``
        (what AWS says of an id it no longer knows) meaning no. Any other refusal is raised."""
        try:
            return self.impl.exists(clients, entry)
        except AWS_ERRORS as error:
            if error_code(error) in self.gone_codes:
                return False
            raise

    def hourly_usd(self, entry):
        return self._hourly_usd(entry) if self._hourly_usd else None

    def cost_note(self, entry):
        return self._cost_note(entry) if callable(self._cost_note) else self._cost_note


KINDS = {}


def register(kind):
    """Add a kind to the registry (a kind file's own record, or a test's throw-away kind). Returns it."""
    KINDS[kind.type] = kind
    return kind


def get(resource_type):
    try:
        return KINDS[resource_type]
    except KeyError:
        raise ValueError("unknown resource type {0}; known: {1}".format(resource_type, ", ".join(sorted(KINDS))))
