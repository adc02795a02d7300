# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The EC2 describes the network kinds share: what the stack owns by tag, one id, and whether an id still exists."""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import KEY_TAG, is_owned, owner_filters


def carries_marks(item, stack_name, key=None):
    """The item's own tags say it is the stack's (its logical ``key``, when given)."""
    tags = boto3_tag_list_to_ansible_dict(item.get("Tags"))
    return is_owned(tags, stack_name) and (key is None or tags.get(KEY_TAG) == key)


class Describe:
    """One EC2 resource type as its describe call lists it: operation, result key, id filter and id field."""

    def __init__(self, operation, result_key, id_filter, id_field):
        self.operation = operation
        self.result_key = result_key
        self.id_filter = id_filter
        self.id_field = id_field

    def owned(self, ec2, stack_name, key=None, vpc_id=None, recorded=()):
        """Every item carrying the stack's tags (one logical ``key``, in one VPC). The ``recorded`` ids (the ledger's)
        are read by id as well: AWS's tag filters may not show yet what was created seconds ago, while a describe by
        id shows its tags."""
        filters = owner_filters(stack_name, key)
        if vpc_id is not None:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        found = list_all(ec2, self.operation, self.result_key, Filters=filters)
        seen = {item[self.id_field] for item in found}
        unseen = [resource_id for resource_id in recorded if resource_id not in seen]
        if unseen:
            found += [item for item in self.by_ids(ec2, unseen)
                      if carries_marks(item, stack_name, key) and vpc_id in (None, item.get("VpcId"))]
        return found

    def first_owned(self, ec2, stack_name, key, vpc_id=None, recorded=()):
        found = self.owned(ec2, stack_name, key, vpc_id, recorded)
        return found[0] if found else None

    def by_ids(self, ec2, ids):
        return list_all(ec2, self.operation, self.result_key, Filters=[{"Name": self.id_filter, "Values": list(ids)}])

    def marks(self, clients, entry, stack_name, region):
        """A kind's ``owned``: None when the id is not listed, else whether its own tags name the stack."""
        found = self.by_ids(clients.ec2, [entry["id"]])
        return carries_marks(found[0], stack_name) if found else None

    def exists(self, clients, entry):
        """A kind's ``exists``: True while the id is still listed."""
        return bool(self.by_ids(clients.ec2, [entry["id"]]))

    def deleter(self, operation):
        """A kind's ``delete``: the one EC2 call that deletes it by id."""

        def delete(clients, entry):
            getattr(clients.ec2, operation)(aws_retry=True, **{self.id_field: entry["id"]})

        return delete

    def reuse(self, stack, resource_type, ids, label, attributes):
        """Record the user's resources as reused (with ``attributes(item)``), changing nothing; returns their
        descriptions by id. An id that is not there fails with the resource type."""
        with stack.aws_call("{0} {1} cannot be described".format(label, ", ".join(ids)), resource_type, ids[0], action="reuse"):
            found = {item[self.id_field]: item for item in self.by_ids(stack.clients.ec2, ids)}
        missing = [resource_id for resource_id in ids if resource_id not in found]
        if missing:
            stack.fail("{0} {1} does not exist".format(label, ", ".join(missing)), resource_type=resource_type,
                       resource_id=missing[0], error_code="NotFound")
        for resource_id in ids:
            stack.record(resource_type, resource_id, "reused", **attributes(found[resource_id]))
        return found

    def reuser(self, resource_type, label, attributes):
        """A kind's ``reuse(stack, id)`` for one resource the user brings; returns its id."""

        def reuse(stack, resource_id):
            self.reuse(stack, resource_type, [resource_id], label, attributes)
            return resource_id

        return reuse
