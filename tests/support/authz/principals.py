"""The principals the collection's calls are checked as, and the recorded calls kept for review.

- The deployer: docs/iam/deployer-policy.json, plus (on the AWX path) the state bucket's policy from
  docs/iam/state-bucket-policy.json as the bucket's resource policy.
- The stack's instances: the role's inline policy (``iam_role.inline_policy``) within the permissions boundary
  docs/iam/instance-boundary.json, and the file system's policy (``file_system.client_policy``).
"""

import json
import os
import re

from tests.support.authz.calls import Request
from tests.support.authz.check import Principal, load_policy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
IAM_DOCS = os.path.join(ROOT, "docs", "iam")
DEPLOYER_POLICY = os.path.join(IAM_DOCS, "deployer-policy.json")
STATE_BUCKET_POLICY = os.path.join(IAM_DOCS, "state-bucket-policy.json")
BOUNDARY_POLICY = os.path.join(IAM_DOCS, "instance-boundary.json")
CALLS = os.path.join(ROOT, "tests", "integration", "authz_calls")
ACCOUNT = "123456789012"
DEPLOYER_ARN = "arn:aws:iam::{0}:user/geusemaker-deployer".format(ACCOUNT)
BOUNDARY_ARN = "arn:aws:iam::{0}:policy/geusemaker/geusemaker-instance-boundary".format(ACCOUNT)
# The placeholders docs/iam/state-bucket-policy.json asks its reader to replace.
STATE_PLACEHOLDERS = {"account": "111122223333", "bucket": "example-geusemaker-state", "prefix": "geusemaker/stacks/"}


def deployer(policy=DEPLOYER_POLICY, state_bucket=None, state_prefix=None):
    """The deploying user (or AWX's job credential): the deployer policy; with S3 state, the bucket's policy too."""
    identity = [load_policy(policy, "deployer-policy.json")]
    principal = Principal("deployer", identity, DEPLOYER_ARN, ACCOUNT)
    if state_bucket:
        bucket_policy = load_policy(STATE_BUCKET_POLICY, "state-bucket-policy.json", resource_policy=True, replace={
            STATE_PLACEHOLDERS["account"]: ACCOUNT, STATE_PLACEHOLDERS["bucket"]: state_bucket,
            STATE_PLACEHOLDERS["prefix"]: state_prefix})
        principal.resource_policies["arn:aws:s3:::{0}*".format(state_bucket)] = [bucket_policy]
    return principal


INSTANCE_WRITTEN_TAG = "geusemaker:tls-spki-sha256"
IDS = re.compile(r"\b(vpc|subnet|igw|rtb|rtbassoc|sg|i|vol|eni|sir|fs|fsmt)-[0-9a-f]{8,17}\b")


def normalized(requests):
    """The calls of a run as sorted, de-duplicated groups of request dicts, ids replaced by their kind: what a
    reviewer reads, and what stays equal from one run to the next."""
    groups = {}
    for request in requests:
        number, _space, rest = request.label.partition(" ")
        data = request.as_json()
        data["label"] = rest
        # The instance writes this tag itself, early in its boot: whether a call of the deployer sees it yet is the
        # boot's timing, not the collection's, and no deployer statement depends on it. (Copies: the targets are the
        # requests' own, which the check evaluates next.)
        data["targets"] = [dict(target, resource_tags={k: v for k, v in target["resource_tags"].items() if k != INSTANCE_WRITTEN_TAG})
                           if target.get("resource_tags") else dict(target) for target in data["targets"]]
        groups.setdefault(number, []).append(data)
    unique = {}
    for group in groups.values():
        text = IDS.sub(lambda m: m.group(1) + "-ID", json.dumps(group, sort_keys=True))
        unique[text] = json.loads(text)
    return [unique[key] for key in sorted(unique)]


def as_requests(calls):
    """Requests from normalized groups, each group one call again (labelled #1, #2, ...)."""
    found = []
    for index, group in enumerate(calls, 1):
        for data in group:
            request = Request.from_json(data)
            request.label = "#{0} {1}".format(index, data["label"])
            found.append(request)
    return found


def calls_path(name):
    return os.path.join(CALLS, name + ".json")


def load_calls(name):
    with open(calls_path(name)) as handle:
        return json.load(handle)


def save_calls(name, calls):
    os.makedirs(CALLS, exist_ok=True)
    with open(calls_path(name), "w") as handle:
        json.dump(calls, handle, indent=1, sort_keys=True)
        handle.write("\n")
