"""The authorization check: recorded requests against a principal's policies, and hostile variants of them.

Two halves, both needed for a policy to pass:
- **every recorded request is allowed**: each call the collection made, with each resource it authorizes;
- **every hostile variant is refused**: the same calls made against what is not the stack's (an untagged
  resource, a role or parameter outside the stack's namespace), without the stack's tag on what they create, with a
  role passed to another service, a role created without the boundary... Each variant names the guard it tests.
  Explicit denies are tested with the principal also holding an allow-everything policy, because they exist to
  hold against whatever else the principal is granted.

A policy that lacks a statement fails the first half; a statement that lacks a condition fails the second.
"""

import copy
import json
from dataclasses import dataclass, field

from tests.support.authz.calls import Request, Target
from tests.support.authz.policy import Policy, evaluate, wildcard_match
from tests.support.authz.reference import Reference

__all__ = ["Principal", "check", "hostile_variants", "known_key", "load_policy"]

STACK_TAG = "geusemaker:stack"
# The condition keys the check fills wherever AWS does for the calls it models (tests/support/authz/calls.py);
# a policy that uses any other key fails as not understood.
KNOWN_KEYS = (
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:RequestedRegion", "aws:SecureTransport",
    "aws:RequestTag/*", "aws:ResourceTag/*", "aws:TagKeys",
    "ec2:ResourceTag/*", "iam:ResourceTag/*", "ssm:resourceTag/*",
    "ec2:CreateAction", "ec2:InstanceProfile", "ec2:InstanceMarketType", "ec2:InstanceType", "ec2:MetadataHttpTokens",
    "ec2:MetadataHttpPutResponseHopLimit", "ec2:MetadataHttpEndpoint", "ec2:Encrypted", "ec2:VolumeType",
    "elasticfilesystem:CreateAction", "elasticfilesystem:Encrypted", "elasticfilesystem:AccessedViaMountTarget",
    "iam:PassedToService", "iam:PermissionsBoundary", "iam:AWSServiceName", "iam:PolicyARN",
    "ssm:Overwrite", "ssm:Recursive", "servicequotas:service", "s3:prefix", "s3:if-match", "s3:if-none-match",
    "kms:ViaService", "kms:EncryptionContext:PARAMETER_ARN", "ec2:SourceInstanceARN",
)
# Global keys: AWS fills them for any action (ec2:SourceInstanceARN whenever EC2 role credentials sign the request).
GLOBAL_KEYS = ("aws:PrincipalAccount", "aws:PrincipalArn", "aws:RequestedRegion", "aws:SecureTransport",
               "ec2:SourceInstanceARN")
TAG_ALIASES = {"ec2": "ec2:ResourceTag/", "iam": "iam:ResourceTag/", "ssm": "ssm:resourceTag/"}

# The requests a create call makes only because it tags what it creates.
TAGGING_ACTIONS = ("ec2:CreateTags", "iam:TagRole", "iam:TagInstanceProfile", "ssm:AddTagsToResource",
                   "elasticfilesystem:TagResource")
# Where a stack may act on what is not its own, and why. Any other call that names a resource of the stack must be
# refused when that resource is someone else's.
FOREIGN_OK = {
    ("ec2:RunInstances", "subnet"): "a launch goes into the user's subnet when the stack reuses a VPC",
    ("ec2:RunInstances", "security-group"): "a launch may use the user's security group (reuse)",
    ("ec2:RunInstances", "image"): "the image is Amazon's or the user's, never the stack's",
    ("ec2:CreateSecurityGroup", "vpc"): "a stack's group is made in the user's VPC when the stack reuses it",
    ("ec2:CreateNetworkInterface", "subnet"): "EFS puts a mount target in the user's subnet when the stack reuses it",
    ("ec2:CreateNetworkInterface", "security-group"): "a mount target may carry the user's group",
}


def known_key(key):
    return any(wildcard_match(pattern.lower(), key.lower()) for pattern in KNOWN_KEYS)


def load_policy(path_or_document, name=None, resource_policy=False, replace=None):
    """A Policy from a JSON file (or a document); ``replace`` maps placeholder text to values first."""
    if isinstance(path_or_document, str):
        with open(path_or_document) as handle:
            text = handle.read()
        name = name or path_or_document.rsplit("/", 1)[-1]
    else:
        text = json.dumps(path_or_document)
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return Policy(json.loads(text), name, known_key, resource_policy)


@dataclass
class Principal:
    """Who makes the calls: identity policies, an optional permissions boundary, and the resource-based policies
    of the resources it reaches ({ARN pattern: [Policy]}), with its ARN and account."""

    name: str
    identity: list
    arn: str = "arn:aws:iam::123456789012:user/geusemaker-deployer"
    account: str = "123456789012"
    region: str = "us-east-1"
    boundary: list = None
    resource_policies: dict = field(default_factory=dict)

    def with_extra(self, policy):
        other = copy.copy(self)
        other.identity = list(self.identity) + [policy]
        return other


ALLOW_EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Sid": "AnythingElseThePrincipalHolds", "Effect": "Allow",
                                                            "Action": "*", "Resource": "*"}]}


def context(request, target, principal, reference):
    """The request context AWS builds for ``request`` on ``target``: global keys, the service's keys where the
    reference says AWS fills them, request tags and resource tags."""
    found = {"aws:PrincipalAccount": principal.account, "aws:PrincipalArn": principal.arn,
             "aws:RequestedRegion": principal.region, "aws:SecureTransport": "true"}
    service = request.action.split(":", 1)[0]

    def supported(key):
        return key in GLOBAL_KEYS or reference.supports(request.action, target.type, key)

    for key, value in list(request.keys.items()) + list(target.keys.items()):
        if value is not None and (key.startswith("aws:") or supported(key)):
            found[key] = value
    if target.request_tags:
        for key, value in target.request_tags.items():
            if supported("aws:RequestTag/" + key):
                found["aws:RequestTag/" + key] = value
        if supported("aws:TagKeys"):
            found["aws:TagKeys"] = sorted(target.request_tags)
    for key, value in (target.resource_tags or {}).items():
        if supported("aws:ResourceTag/" + key):
            found["aws:ResourceTag/" + key] = value
        alias = TAG_ALIASES.get(service)
        if alias and supported(alias + key):
            found[alias + key] = value
    return found


def resource_policies_for(principal, arn):
    return [policy for pattern, policies in principal.resource_policies.items() if wildcard_match(pattern, arn)
            for policy in policies]


def decisions(request, principal, reference):
    """[(target, Decision)] of one request."""
    found = []
    for target in request.targets:
        ctx = context(request, target, principal, reference)
        found.append((target, evaluate(principal.identity, request.action, target.arn, ctx, principal.boundary,
                                       resource_policies_for(principal, target.arn), principal.arn)))
    return found


def refusals(requests, principal, reference, first_only=False):
    """The failure messages of recorded requests the principal may not make: the call, the ARN, and each
    statement that names the action with why it did not allow it."""
    failed = []
    for request in requests:
        for target, decision in decisions(request, principal, reference):
            if not decision.allowed:
                via = " (needed by {0})".format(request.via) if request.via else ""
                failed.append("{0}{1}: {2}".format(request.label, via, decision.explain()))
                if first_only:
                    return failed
    return failed


def calls_of(requests):
    """[[Request]] grouped by the call that made them (their label's "#N")."""
    groups = {}
    for request in requests:
        groups.setdefault(request.label.split(" ", 1)[0], []).append(request)
    return list(groups.values())


def stack_owned(target):
    return STACK_TAG in (target.resource_tags or {})


def foreign_arn(target):
    """For what the stack owns by name (its IAM path, its parameter path): an ARN of the same kind that is not the
    stack's. None for anything else."""
    head, _colon, tail = target.arn.rpartition(":")
    if ":iam::" in target.arn and tail.startswith(("role/geusemaker", "instance-profile/geusemaker")):
        return "{0}:{1}/admin".format(head, tail.split("/", 1)[0])
    if tail.startswith("parameter/geusemaker/"):
        return "{0}:parameter/other-application/database-password".format(head)
    return None


def hostile_variants(requests, reference=None):
    """[(what it tries, [Request] of one call)]: each must have a request the principal may not make. Reading
    what is not the stack's is not hostile (Read and List actions keep their own scope)."""
    reference = reference or Reference()
    variants = []
    for group in calls_of(requests):
        label = group[0].label.split(" -> ")[0]
        # 1. Create without the stack's tag: on one created resource at a time (its other tags kept), and with no
        #    tags at all (then no tag-on-create request follows).
        for request in group:
            if request.via and request.action in TAGGING_ACTIONS:
                continue  # its tags are the create call's: changed with the created resource below
            for target in request.targets:
                if STACK_TAG not in (target.request_tags or {}):
                    continue
                changed = copy.deepcopy(group)
                for other in changed:
                    for same in other.targets:
                        if same.arn == target.arn and same.request_tags:
                            same.request_tags = {k: v for k, v in same.request_tags.items() if k != STACK_TAG} or None
                variants.append(("{0} creating {1} {2} without the {3} tag".format(
                    label, request.action, target.type or "its resource", STACK_TAG), changed))
        if any(t.request_tags for r in group for t in r.targets):
            changed = [copy.deepcopy(r) for r in group if not (r.via and r.action in TAGGING_ACTIONS)]
            for request in changed:
                for target in request.targets:
                    target.request_tags = None
            variants.append(("{0} creating with no tags at all".format(label), changed))
        # 2. Act on someone else's resource, one resource at a time.
        for r_index, request in enumerate(group):
            if reference.privilege(request.action)["access_level"] in ("Read", "List"):
                continue
            for t_index, target in enumerate(request.targets):
                if (request.action, target.type) in FOREIGN_OK:
                    continue
                owned_by_tag = stack_owned(target)
                owned_by_name = foreign_arn(target) is not None
                if not (owned_by_tag or owned_by_name):
                    continue
                changed = copy.deepcopy(group)
                other = changed[r_index].targets[t_index]
                other.resource_tags = {"owner": "someone-else"} if target.resource_tags is not None else None
                if owned_by_name:
                    other.arn = foreign_arn(target)
                    # The same resource named by a dependent request of this call is the foreign one too.
                    for dependent in changed:
                        for same in dependent.targets:
                            if same.arn == target.arn:
                                same.arn, same.resource_tags = other.arn, other.resource_tags
                variants.append(("{0} {1} on {2} that is not the stack's ({3})".format(
                    label, request.action, target.type, other.arn), changed))
        # 3. Guards on what is passed, created or tagged.
        for r_index, request in enumerate(group):
            if request.action == "iam:PassRole" and "iam:PassedToService" in request.keys:
                changed = copy.deepcopy(group)
                changed[r_index].keys["iam:PassedToService"] = "lambda.amazonaws.com"
                variants.append(("{0} passing the stack's role to another service (lambda)".format(label), changed))
            if request.action == "iam:CreateRole":
                for boundary in (None, "arn:aws:iam::aws:policy/AdministratorAccess"):
                    changed = copy.deepcopy(group)
                    changed[r_index].keys.pop("iam:PermissionsBoundary", None)
                    if boundary:
                        changed[r_index].keys["iam:PermissionsBoundary"] = boundary
                    variants.append(("{0} creating the role {1}".format(
                        label, "with another boundary ({0})".format(boundary) if boundary else "without its boundary"),
                        changed))
            if request.action == "iam:PutRolePolicy":
                changed = copy.deepcopy(group)
                changed[r_index].keys.pop("iam:PermissionsBoundary", None)
                variants.append(("{0} writing the policy of a role without the boundary".format(label), changed))
            if request.action == "iam:CreateServiceLinkedRole":
                changed = copy.deepcopy(group)
                changed[r_index].keys["iam:AWSServiceName"] = "elasticbeanstalk.amazonaws.com"
                changed[r_index].targets[0].arn = changed[r_index].targets[0].arn.replace(
                    "spot.amazonaws.com/AWSServiceRoleForEC2Spot",
                    "elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk")
                variants.append(("{0} creating another service's linked role".format(label), changed))
            create_action = {"ec2:CreateTags": "ec2:CreateAction",
                             "elasticfilesystem:TagResource": "elasticfilesystem:CreateAction"}.get(request.action)
            if create_action and create_action in request.keys:
                changed = [copy.deepcopy(request)]
                changed[0].keys.pop(create_action)
                for target in changed[0].targets:
                    target.resource_tags = {"owner": "someone-else"}
                variants.append(("{0} tagging an existing resource (not on create)".format(label), changed))
            if request.action == "ec2:RunInstances":
                for key, value, what in (("ec2:MetadataHttpTokens", "optional", "with IMDSv1 open"),
                                         ("ec2:InstanceProfile", "arn:aws:iam::123456789012:instance-profile/admin",
                                          "with another instance profile")):
                    changed = copy.deepcopy(group)
                    for target in changed[r_index].targets:
                        if target.type == "instance":
                            target.keys[key] = value
                    variants.append(("{0} launching {1}".format(label, what), changed))
    return variants


BOUNDARY_GUARDS = [
    ("iam:PutRolePermissionsBoundary", "the stack's role's permissions boundary replaced"),
    ("iam:DeleteRolePermissionsBoundary", "the stack's role's permissions boundary removed"),
]


def boundary_guards(requests, boundary_arn):
    """Explicit denies that must hold whatever else the principal is allowed: the boundary stays on the stack's
    roles, and the boundary policy itself is not rewritten."""
    variants = []
    roles = sorted({t.arn for r in requests if r.action == "iam:CreateRole" for t in r.targets})
    for role in roles:
        for action, what in BOUNDARY_GUARDS:
            variants.append((what, [Request(action, [Target("role", role, resource_tags={STACK_TAG: "any"})],
                                            {"iam:PermissionsBoundary": boundary_arn}, "(guard)")]))
    for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy",
                   "iam:DeletePolicyVersion"):
        variants.append(("the permissions boundary policy changed ({0})".format(action),
                         [Request(action, [Target("policy", boundary_arn)], {}, "(guard)")]))
    return variants


def allowed_variants(variants, principal, reference, first_only=False):
    """The variants the principal may make in full (every request of the call allowed): each is a hole."""
    holes = []
    for what, group in variants:
        if all(d.allowed for request in group for _t, d in decisions(request, principal, reference)):
            holes.append(what)
            if first_only:
                break
    return holes


def check(requests, principal, reference=None, boundary_arn=None, first_only=False, variants=None):
    """-> [failure message]: recorded requests refused, hostile variants allowed, explicit denies that do not hold
    against an allow-everything policy. ``first_only`` stops at the first failure (the mutation check);
    ``variants`` passes hostile variants made once for several checks of the same requests."""
    reference = reference or Reference()
    failures = refusals(requests, principal, reference, first_only)
    if failures and first_only:
        return failures
    variants = hostile_variants(requests, reference) if variants is None else variants
    failures += ["allowed, and it must not be: " + what
                 for what in allowed_variants(variants, principal, reference, first_only)]
    if boundary_arn and not (failures and first_only):
        anything = principal.with_extra(load_policy(ALLOW_EVERYTHING, "allow-everything"))
        failures += ["not denied when the principal may do anything else: " + what
                     for what in allowed_variants(boundary_guards(requests, boundary_arn), anything, reference,
                                                  first_only)]
    return failures
