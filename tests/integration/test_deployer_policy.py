"""docs/iam/deployer-policy.json, the least-privilege policy of a deploying user (and of AWX's job credential),
allows every AWS call the playbooks make: each one the fault proxy saw during a deploy, a check, a list, a
check-mode deploy and a destroy is matched against the policy's actions."""

import fnmatch
import json
import os

from tests.integration.conftest import ROOT

POLICY = os.path.join(ROOT, "docs", "iam", "deployer-policy.json")
IAM_PREFIX = {"ec2": "ec2", "elasticfilesystem": "elasticfilesystem", "ssm": "ssm", "iam": "iam", "sts": "sts",
              "servicequotas": "servicequotas"}


def allowed_actions():
    with open(POLICY) as handle:
        statements = json.load(handle)["Statement"]
    actions = []
    for statement in statements:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement, statement
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in listed and not any(action.endswith(":*") for action in listed), statement["Sid"]
        actions += listed
    return actions


def test_the_deployer_policy_allows_every_call_the_playbooks_make(aws, proxy, playbook, deploy_vars, healthy_url):
    runs = [("deploy", ("--check",), deploy_vars), ("deploy", (), deploy_vars), ("list", (), {}),
            ("check", (), dict(health_check_url=healthy_url, health_check_timeout=10)), ("destroy", (), {})]
    for name, options, extra in runs:
        run = playbook(name, *options, stack_name="least", **extra)
        assert run.rc == 0, (name, run.output[-3000:])
    made = {"{0}:{1}".format(IAM_PREFIX[call.service], call.operation) for call in proxy.calls}
    assert {action.split(":")[0] for action in made} >= {"ec2", "elasticfilesystem", "ssm", "iam", "sts"}
    allowed = allowed_actions()
    missing = sorted(action for action in made if not any(fnmatch.fnmatchcase(action, pattern) for pattern in allowed))
    assert missing == [], missing
