"""Figure 1, the fault matrix: every mutating call of a clean deploy fails in turn, three ways, and each run
ends with nothing of the stack left, the status rolled_back and the failure recorded.

MUTATING_CALLS is what a clean deploy makes; the first test re-records it, so a deploy that changes its calls
fails here until the list (and so the matrix) follows.
"""

import json
import os

import pytest

from tests.integration.conftest import assert_rolled_back
from tests.support.fault_proxy import Rule, is_mutating

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "deploy_calls.json")) as handle:
    MUTATING_CALLS = [tuple(call) for call in json.load(handle)]  # (operation, occurrence from 1)

# 4xx codes no retry layer retries, per service; the 5xx is retried by botocore and by AWSRetry.
REFUSALS = {"ec2": ("UnauthorizedOperation", 403), "iam": ("AccessDenied", 403), "ssm": ("AccessDeniedException", 400),
            "elasticfilesystem": ("AccessDeniedException", 403)}
WAYS = ("refused", "lost", "lost-retried")
# The fast tier (scripts/test.sh): one point of each way, spread over the deploy.
SAMPLE = {("CreateSubnet", 2, "refused"), ("CreateFileSystem", 1, "lost"), ("RunInstances", 1, "lost-retried"),
          ("PutParameter", 1, "lost-retried")}


def occurrences(calls):
    seen, numbered = {}, []
    for call in calls:
        seen[call.operation] = seen.get(call.operation, 0) + 1
        numbered.append((call.service, call.operation, seen[call.operation]))
    return numbered


@pytest.mark.aws_consistent_at_once  # the calls of a consistent deploy: late consistency adds retries of its own
def test_clean_deploy_makes_exactly_the_recorded_calls(aws, proxy, playbook, deploy_vars):
    run = playbook("deploy", stack_name="recording", **deploy_vars)
    assert run.rc == 0, run.output[-3000:]
    recorded = [list(call) for call in occurrences(c for c in proxy.calls if is_mutating(c.operation))]
    assert recorded == [list(call) for call in MUTATING_CALLS], json.dumps(recorded)


def rule_for(service, operation, occurrence, way):
    if way == "refused":
        code, status = REFUSALS[service]
        return Rule(operation, error=code, status=status, skip=occurrence - 1, times=1)
    if way == "lost":
        code, status = REFUSALS[service]
        return Rule(operation, error=code, status=status, skip=occurrence - 1, times=1, forward_first=True)
    # Every attempt reaches the emulator and gets a 500, until the retries give up.
    return Rule(operation, error="InternalError", status=500, skip=occurrence - 1, forward_first=True)


def matrix():
    for service, operation, occurrence in MUTATING_CALLS:
        for way in WAYS:
            marks = [pytest.mark.figure("1 fault matrix")]
            if (operation, occurrence, way) not in SAMPLE:
                marks.append(pytest.mark.full_only)
            yield pytest.param(service, operation, occurrence, way, marks=marks,
                               id="{0}{1}-{2}".format(operation, occurrence if occurrence > 1 else "", way))


@pytest.mark.parametrize("service,operation,occurrence,way", list(matrix()))
def test_failed_call_rolls_back_to_nothing(aws, proxy, playbook, deploy_vars, state_dir, service, operation, occurrence, way):
    stack = "fm-" + operation.lower()[:20] + str(occurrence)
    proxy.add(rule_for(service, operation, occurrence, way))
    run = playbook("deploy", stack_name=stack, **deploy_vars)
    assert proxy.count(operation) >= occurrence
    failure = assert_rolled_back(aws, state_dir, stack, run)["failure"]
    assert failure and failure["task"] and failure["critical"] is True and failure["at"], failure
    injected = "InternalError" if way == "lost-retried" else REFUSALS[service][0]
    assert failure["error_code"] == injected, failure
