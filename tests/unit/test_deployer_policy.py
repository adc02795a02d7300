"""docs/iam/deployer-policy.json against what the collection really asks of IAM.

The calls come from tests/integration/authz_calls/ (recorded by tests/integration/test_authorization.py from real
runs on the emulator: a spot stack's whole life, a rollback after every launch was refused, the AWX path). Here,
fast enough to run on every change of the policy:
- every recorded call is allowed, and every hostile variant of them refused (tests/support/authz/check.py);
- the mutation check: without any one statement, or any one condition, the check fails; so does PassRole on
  ``Resource: "*"``;
- every action the policy allows is one the collection uses;
- the commands a ``--check`` deploy prints to check the policy on an account ask only what the policy allows.
"""

import copy
import json

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import preflight
from tests.support.authz.calls import Request, Target
from tests.support.authz.check import check, hostile_variants, refusals
from tests.support.authz.principals import (
    ACCOUNT,
    BOUNDARY_ARN,
    DEPLOYER_POLICY,
    as_requests,
    deployer,
    load_calls,
)
from tests.support.authz.reference import Reference

RUNS = {"spot": {}, "refused": {}, "awx": {"state_bucket": "geusemaker-state", "state_prefix": "geusemaker/stacks/"}}


def policy_document():
    with open(DEPLOYER_POLICY) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def runs():
    reference = Reference()
    found = {}
    for name, state in RUNS.items():
        requests = as_requests(load_calls(name))
        found[name] = (requests, state, hostile_variants(requests, reference))
    return reference, found


def failures_with(document, runs, first_only=True):
    reference, found = runs
    failures = []
    for name, (requests, state, variants) in found.items():
        failures += check(requests, deployer(document, **state), reference, BOUNDARY_ARN, first_only, variants)
        if failures and first_only:
            break
    return failures


def test_every_recorded_call_is_allowed_and_every_hostile_variant_refused(runs):
    assert failures_with(policy_document(), runs, first_only=False) == []


def mutations(document):
    """(what, mutated document): each statement removed; each condition key removed from its statement."""
    for index, statement in enumerate(document["Statement"]):
        mutated = copy.deepcopy(document)
        del mutated["Statement"][index]
        yield "without statement {0}".format(statement["Sid"]), mutated
        for operator, keys in (statement.get("Condition") or {}).items():
            for key in keys:
                mutated = copy.deepcopy(document)
                condition = mutated["Statement"][index]["Condition"]
                del condition[operator][key]
                if not condition[operator]:
                    del condition[operator]
                if not condition:
                    del mutated["Statement"][index]["Condition"]
                yield "{0} without its condition {1} {2}".format(statement["Sid"], operator, key), mutated


def test_removing_any_statement_or_condition_fails_the_check(runs):
    document = policy_document()
    tried = list(mutations(document))
    assert len(tried) >= len(document["Statement"]) + 10
    survivors = [what for what, mutated in tried if not failures_with(mutated, runs)]
    assert survivors == [], "the check cannot tell these mutations from the policy: {0}".format(survivors)


@pytest.mark.parametrize("change", ["PassRole on any role", "a role without the boundary", "AttachRolePolicy back"])
def test_the_escalations_the_issue_names_fail_the_check(runs, change):
    document = policy_document()
    statements = {s["Sid"]: s for s in document["Statement"]}
    if change == "PassRole on any role":
        statements["GiveTheInstanceItsRole"]["Resource"] = "*"
    elif change == "a role without the boundary":
        del statements["CreateTheStacksRolesTaggedWithTheBoundary"]["Condition"]["ArnLike"]
    else:
        statements["TakeApartTheStacksRolesAndProfiles"]["Action"].append("iam:AttachRolePolicy")
        statements["TakeApartTheStacksRolesAndProfiles"]["Resource"] = "*"
    assert failures_with(document, runs)


# Actions the policy allows that no recorded run makes, each with why it stays.
UNEXERCISED = {}


def test_every_allowed_action_is_one_the_collection_makes(runs):
    _reference, found = runs
    made = {r.action.lower() for requests, _state, _variants in found.values() for r in requests}
    allowed = {a.lower() for s in policy_document()["Statement"] if s["Effect"] == "Allow"
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert sorted(allowed - made - {a.lower() for a in UNEXERCISED}) == []
    assert all(reason for reason in UNEXERCISED.values())
    assert sorted(made & {a.lower() for a in UNEXERCISED}) == [], "used now: remove them from UNEXERCISED"


def test_the_reference_gaps_are_all_needed(runs):
    reference, found = runs
    for requests, _state, _variants in found.values():
        for request in requests:
            reference.check_targets(request.action, {t.type for t in request.targets if t.type})
            if request.via:
                reference.check_dependent(request.via, request.action)
    assert sorted(reference.used_gaps) == list(range(len(reference.gaps))), [
        row["name"] for index, row in enumerate(reference.gaps) if index not in reference.used_gaps]


def test_the_policy_check_commands_ask_what_the_policy_allows(runs):
    reference, _found = runs
    probes = preflight.policy_probes("aws", "us-east-1", ACCOUNT, "demo")
    requests = [Request(action, [Target("", resource)], dict(context), "#1 simulate {0}".format(action))
                for action, resource, context in probes]
    # The simulator's context keys are all a probe has: every probe passes under the deployer policy...
    simulator = _SimulatorReference(reference)
    assert refusals(requests, deployer(), simulator) == []
    # ...and without the statement that lets a launch create tagged spot requests, the spot probe is refused.
    old = copy.deepcopy(policy_document())
    old["Statement"] = [s for s in old["Statement"] if s["Sid"] != "CreateOnlyTaggedForAStack"]
    refused = refusals(requests, deployer(old), simulator)
    assert any("spot-instances-request" in message for message in refused), refused
    commands = preflight.policy_check_commands("arn:aws:sts::{0}:assumed-role/deployer/session".format(ACCOUNT), "aws",
                                               "us-east-1", ACCOUNT, "demo")
    assert len(commands) == len(probes)
    assert all(c.startswith("aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::{0}:role/deployer "
                            "--action-names ".format(ACCOUNT)) for c in commands)
    assert ("ContextKeyName=iam:PermissionsBoundary,ContextKeyValues={0},ContextKeyType=string".format(BOUNDARY_ARN)
            in " ".join(commands))


class _SimulatorReference:
    """The IAM policy simulator takes the context keys it is given, whatever the action: no reference filter."""

    def __init__(self, reference):
        self.reference = reference

    def supports(self, _action, _resource_type, _key):
        return True

    def privilege(self, action):
        return self.reference.privilege(action)
