"""IAM policy evaluation, as AWS documents it, for the test world's authorization check.

The emulator grants every call. This module decides what AWS would: for one action on one resource with a request
context (the condition keys and their values), a set of identity policies (and, for a role, its permissions
boundary) gives Allow, an explicit Deny, or the implicit deny of no matching Allow.

Documented semantics followed here (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements"):
- an explicit Deny in any policy wins; otherwise an Allow is needed; nothing is allowed by default;
- a boundary limits identity permissions: both the identity policies and the boundary must allow;
- ``Action``/``NotAction`` match case-insensitively with ``*`` and ``?``; ``Resource``/``NotResource`` match
  case-sensitively with ``*`` and ``?``;
- a ``Condition`` block is the AND of its operators and of each operator's keys; a key's list of values is an OR;
- a key absent from the context fails a condition, except: ``Null`` (which tests absence), ``...IfExists``,
  ``ForAllValues:`` (true for an absent or empty key), and the negated operators (``StringNotEquals``,
  ``StringNotLike``, ``ArnNotEquals``, ``ArnNotLike``, ``NumericNotEquals``), which are true when the key is absent;
- condition key names are case-insensitive, values compare as the operator says;
- policy variables ``${aws:PrincipalAccount}`` and friends are replaced from the context, ``${*}``, ``${?}``,
  ``${$}`` are literal.

What the evaluator does not know fails loudly instead of guessing: an operator, a condition key (see
``known_key``), a policy variable or a policy element it has no rule for raises ``PolicyNotUnderstood``,
naming it. It is never treated as allowed.
"""

import functools
import re
from dataclasses import dataclass, field

__all__ = ["Decision", "Policy", "PolicyNotUnderstood", "evaluate", "wildcard_match"]

STRING_OPERATORS = {
    "StringEquals": lambda have, want: have == want,
    "StringNotEquals": lambda have, want: have != want,
    "StringEqualsIgnoreCase": lambda have, want: have.lower() == want.lower(),
    "StringNotEqualsIgnoreCase": lambda have, want: have.lower() != want.lower(),
    "StringLike": lambda have, want: wildcard_match(want, have),
    "StringNotLike": lambda have, want: not wildcard_match(want, have),
    "ArnEquals": lambda have, want: arn_match(want, have),
    "ArnLike": lambda have, want: arn_match(want, have),
    "ArnNotEquals": lambda have, want: not arn_match(want, have),
    "ArnNotLike": lambda have, want: not arn_match(want, have),
    "Bool": lambda have, want: str(have).lower() == str(want).lower(),
    "NumericEquals": lambda have, want: float(have) == float(want),
    "NumericNotEquals": lambda have, want: float(have) != float(want),
    "NumericLessThan": lambda have, want: float(have) < float(want),
    "NumericLessThanEquals": lambda have, want: float(have) <= float(want),
    "NumericGreaterThan": lambda have, want: float(have) > float(want),
    "NumericGreaterThanEquals": lambda have, want: float(have) >= float(want),
}
# A negated operator is true when the key is absent (IAM User Guide, "Condition operators").
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
           "NumericNotEquals"}
# For a negated operator with several values, the key must match none of them: AND of the negations.
ELEMENTS = {"Version", "Id", "Statement"}
STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
# A resource-based policy (a bucket's, a file system's) names who it is for.
RESOURCE_POLICY_ELEMENTS = STATEMENT_ELEMENTS | {"Principal"}
VARIABLE = re.compile(r"\$\{([^}]*)\}")


class PolicyNotUnderstood(Exception):
    """The policy uses something this evaluator has no rule for: an operator, a key, a variable, an element."""


def as_list(value):
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def wildcard_regex(pattern):
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def wildcard_match(pattern, value):
    """``*`` (any run of characters) and ``?`` (one character); everything else literal."""
    return wildcard_regex(pattern).fullmatch(value) is not None


def arn_match(pattern, value):
    """ArnLike/ArnEquals: each of the six colon-separated parts matched on its own (wildcards stay inside a part);
    the resource part keeps its colons."""
    want, have = pattern.split(":", 5), value.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return False
    return all(wildcard_match(w, h) for w, h in zip(want, have))


@dataclass
class Decision:
    """The outcome for one action on one resource: "allow", "deny" (explicit) or "implicit" (no Allow matched),
    with the reasons: for each statement that named the action, why it matched or not."""

    effect: str
    action: str
    resource: str
    reasons: list = field(default_factory=list)
    deciding: list = field(default_factory=list)  # the Sids of the statements that decided

    @property
    def allowed(self):
        return self.effect == "allow"

    def explain(self):
        lines = ["{0} on {1}: {2}".format(self.action, self.resource, {
            "allow": "allowed", "deny": "explicitly denied", "implicit": "not allowed (no statement allows it)"}[
            self.effect])]
        lines += ["  " + reason for reason in self.reasons] or ["  no statement names the action {0}".format(self.action)]
        return "\n".join(lines)


class Policy:
    """One policy document, checked once: every element, operator and condition key must be one this module (and
    ``known_key``) understands."""

    def __init__(self, document, name, known_key, resource_policy=False):
        self.name = name
        self.resource_policy = resource_policy
        self.document = document
        unknown = set(document) - ELEMENTS
        if unknown:
            raise PolicyNotUnderstood("{0}: unknown policy element(s) {1}".format(name, sorted(unknown)))
        self.statements = [dict(s) for s in as_list(document["Statement"])]
        for index, statement in enumerate(self.statements):
            statement.setdefault("Sid", "#{0}".format(index + 1))
            where = "{0} statement {1}".format(name, statement["Sid"])
            unknown = set(statement) - (RESOURCE_POLICY_ELEMENTS if resource_policy else STATEMENT_ELEMENTS)
            if resource_policy and "Principal" not in statement:
                raise PolicyNotUnderstood("{0}: a resource-based statement needs a Principal".format(where))
            if unknown:
                raise PolicyNotUnderstood("{0}: unknown element(s) {1}".format(where, sorted(unknown)))
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise PolicyNotUnderstood("{0}: Effect {1!r}".format(where, statement.get("Effect")))
            if ("Action" in statement) == ("NotAction" in statement):
                raise PolicyNotUnderstood("{0}: needs exactly one of Action and NotAction".format(where))
            if ("Resource" in statement) == ("NotResource" in statement):
                raise PolicyNotUnderstood("{0}: needs exactly one of Resource and NotResource".format(where))
            for operator, keys in (statement.get("Condition") or {}).items():
                base, _qualifier, _if_exists = split_operator(operator, where)
                for key, values in keys.items():
                    if not known_key(key):
                        raise PolicyNotUnderstood("{0}: condition key {1!r} (with {2}) is not one the check knows "
                                                  "how to fill".format(where, key, operator))
                    for value in as_list(values):
                        if base == "Null" and str(value).lower() not in ("true", "false"):
                            raise PolicyNotUnderstood("{0}: Null takes true or false, not {1!r}".format(where, value))

    def statements_for(self, action, principal=None):
        return [s for s in self.statements if action_matches(s, action) and (
            not self.resource_policy or principal_matches(s["Principal"], principal))]


def principal_matches(named, principal):
    """A statement's Principal against the caller's ARN: "*", {"AWS": ARN(s) or "*" or an account}."""
    if named == "*":
        return True
    if set(named) - {"AWS"}:
        raise PolicyNotUnderstood("Principal {0} is not one the check knows (only AWS principals)".format(named))
    for value in as_list(named["AWS"]):
        if value == "*" or value == principal:
            return True
        account = principal.split(":")[4] if principal and principal.count(":") >= 5 else None
        if value in (account, "arn:aws:iam::{0}:root".format(account)):
            return True
    return False


def split_operator(operator, where="policy"):
    """-> (base operator, "ForAllValues"/"ForAnyValue"/None, if_exists)."""
    qualifier = None
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAllValues", "ForAnyValue"):
            raise PolicyNotUnderstood("{0}: unknown set operator {1}".format(where, qualifier))
    if_exists = operator.endswith("IfExists")
    base = operator[:-len("IfExists")] if if_exists else operator
    if base != "Null" and base not in STRING_OPERATORS:
        raise PolicyNotUnderstood("{0}: unknown condition operator {1}".format(where, operator))
    if base == "Null" and (if_exists or qualifier):
        raise PolicyNotUnderstood("{0}: {1} is not a valid operator".format(where, operator))
    return base, qualifier, if_exists


def action_matches(statement, action):
    if "Action" in statement:
        return any(wildcard_match(p.lower(), action.lower()) for p in as_list(statement["Action"]))
    return not any(wildcard_match(p.lower(), action.lower()) for p in as_list(statement["NotAction"]))


def substitute(text, context):
    """Replace policy variables from the context; an unknown one is refused."""

    def value(match):
        name = match.group(1)
        if name in ("*", "?", "$"):
            return name
        if ", " in name:  # ${key, 'default'}
            name, default = name.split(", ", 1)
            found = lookup(context, name)
            return found if isinstance(found, str) else default.strip("'")
        found = lookup(context, name)
        if not isinstance(found, str):
            raise PolicyNotUnderstood("policy variable ${{{0}}} has no single value in this request".format(name))
        return found

    return VARIABLE.sub(value, text)


def resource_matches(statement, resource, context):
    if "Resource" in statement:
        return any(wildcard_match(substitute(p, context), resource) for p in as_list(statement["Resource"]))
    return not any(wildcard_match(substitute(p, context), resource) for p in as_list(statement["NotResource"]))


def lookup(context, key):
    """The context value of ``key`` (names compare case-insensitively), or None when absent."""
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def condition_holds(operator, key, wanted, context):
    """-> (holds, reason)."""
    base, qualifier, if_exists = split_operator(operator)
    have = lookup(context, key)
    wanted = [substitute(str(w), context) if isinstance(w, str) else w for w in as_list(wanted)]
    shown = "{0} {1} {2}".format(operator, key, wanted if len(wanted) > 1 else wanted[0])
    if base == "Null":
        absent = have is None or have == []
        holds = any(absent == (str(w).lower() == "true") for w in wanted)
        return holds, "{0}: the request has {1}".format(shown, "no such key" if absent else repr(have))
    if have is None:
        holds = if_exists or qualifier == "ForAllValues" or (base in NEGATED and qualifier is None)
        return holds, "{0}: the request has no such key".format(shown)
    test = STRING_OPERATORS[base]
    values = have if isinstance(have, list) else [have]
    if isinstance(have, list) and qualifier is None:
        raise PolicyNotUnderstood("{0}: {1} has several values; use ForAllValues or ForAnyValue".format(shown, key))

    def one(value):
        if base in NEGATED:
            return all(test(value, w) for w in wanted)
        return any(test(value, w) for w in wanted)

    if qualifier == "ForAllValues":
        holds = all(one(v) for v in values)
    else:
        holds = any(one(v) for v in values)
    return holds, "{0}: the request has {1!r}".format(shown, have)


def conditions_hold(statement, context):
    """-> (holds, [reasons of the failing conditions])."""
    failed = []
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            holds, reason = condition_holds(operator, key, wanted, context)
            if not holds:
                failed.append(reason)
    return not failed, failed


def decide(policies, action, resource, context, principal=None):
    """One set of policies (the identity policies, or a boundary alone, or resource policies): a Decision."""
    decision = Decision("implicit", action, resource)
    denied, allowed = [], []
    for policy in policies:
        for statement in policy.statements_for(action, principal):
            label = "{0} {1} ({2})".format(policy.name, statement["Sid"], statement["Effect"])
            if not resource_matches(statement, resource, context):
                decision.reasons.append("{0}: its Resource does not cover {1}".format(label, resource))
                continue
            holds, failed = conditions_hold(statement, context)
            if not holds:
                decision.reasons.append("{0}: condition not met: {1}".format(label, "; ".join(failed)))
                continue
            decision.reasons.append("{0}: matches".format(label))
            (denied if statement["Effect"] == "Deny" else allowed).append(label)
    if denied:
        decision.effect, decision.deciding = "deny", denied
    elif allowed:
        decision.effect, decision.deciding = "allow", allowed
    return decision


def evaluate(identity, action, resource, context, boundary=None, resource_policies=(), principal=None):
    """AWS's decision for a principal with ``identity`` policies, an optional permissions ``boundary``, and the
    resource-based policies of the resource (same account: either side may allow; a Deny anywhere wins)."""
    decision = decide(identity, action, resource, context)
    if boundary is not None:
        limit = decide(boundary, action, resource, context)
        decision.reasons += ["boundary: " + reason for reason in limit.reasons]
        if limit.effect == "deny" or (decision.effect == "allow" and limit.effect != "allow"):
            decision.effect, decision.deciding = limit.effect, limit.deciding
            decision.reasons.append("the permissions boundary does not allow it")
    if resource_policies:
        granted = decide(resource_policies, action, resource, context, principal)
        decision.reasons += ["resource policy: " + reason for reason in granted.reasons]
        if granted.effect == "deny":
            decision.effect, decision.deciding = "deny", granted.deciding
        elif granted.effect == "allow" and decision.effect == "implicit":
            decision.effect, decision.deciding = "allow", granted.deciding
    return decision
