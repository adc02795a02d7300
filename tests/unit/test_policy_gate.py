"""The escalation gate (scripts/policy-gate.py): clean on the shipped policies, and failing when the deployer policy
regains what made it an escalation path, or names an action AWS does not have."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATE = os.path.join(ROOT, "scripts", "policy-gate.py")
POLICY = os.path.join(ROOT, "docs", "iam", "deployer-policy.json")


def gate(*args):
    return subprocess.run([sys.executable, GATE] + list(args), capture_output=True, text=True, timeout=120, check=False)


def test_the_shipped_policies_pass_with_every_accepted_finding_reasoned():
    run = gate()
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": ok (") == 3, run.stdout


def changed_policy(tmp_path, change):
    with open(POLICY) as handle:
        document = json.load(handle)
    statements = {s["Sid"]: s for s in document["Statement"]}
    change(statements)
    path = tmp_path / "deployer-policy.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize("name, change, expected", [
    ("attach-role-policy-back",
     lambda s: s["TakeApartTheStacksRolesAndProfiles"]["Action"].append("iam:AttachRolePolicy"),
     "privilege_escalation AttachRolePolicy"),
    ("update-assume-role-policy",
     lambda s: s["TakeApartTheStacksRolesAndProfiles"]["Action"].append("iam:UpdateAssumeRolePolicy"),
     "privilege_escalation UpdateRolePolicyToAssumeIt"),
    ("read-every-secret",
     lambda s: s["TheStacksParameters"]["Action"].append("ssm:GetParametersByPath"),
     "data_exfiltration ssm:GetParametersByPath"),
    ("unknown-action", lambda s: s["ReadTheAccount"]["Action"].append("ec2:DescribeEverything"),
     "parliament UNKNOWN_ACTION"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_the_gate_fails_on_an_escalation_put_back(tmp_path, name, change, expected):
    run = gate("--deployer", changed_policy(tmp_path, change))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "deployer-policy.json: FAILED" in run.stdout and expected in run.stdout, run.stdout
