"""The escalation gate: cloudsplaining and parliament over the collection's IAM policies.

    python scripts/policy-gate.py [--deployer FILE] [--boundary FILE] [--accepted FILE]

Analyses docs/iam/deployer-policy.json, docs/iam/instance-boundary.json and the instance role's policy (rendered by
module_utils/iam_role.py for an example stack). Prints one line per policy; exits 1 when a privilege escalation or
data exfiltration finding (cloudsplaining, flagging risky actions whatever their conditions), or any parliament
finding, is not accepted with its reason in docs/iam/escalation-gate.yml. Runs offline.
"""

import argparse
import json
import os
import sys

import yaml
from cloudsplaining.scan.policy_document import PolicyDocument
from parliament import analyze_policy_string

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".ansible", "collections"))


def instance_role_policy():
    from ansible_collections.geusemaker.stack.plugins.module_utils import iam_role

    return iam_role.inline_policy("example", "us-east-1",
                                  "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
                                  "123456789012")


def findings(document):
    """{category: {finding: detail}} of both analysers for one identity policy."""
    scanned = PolicyDocument(document, flag_conditional_statements=True, flag_resource_arn_statements=True)
    found = {
        "privilege_escalation": {item["type"]: ", ".join(item["actions"]) for item in scanned.allows_privilege_escalation},
        "data_exfiltration": {action: "data exfiltration" for action in scanned.allows_data_exfiltration_actions},
        "parliament": {},
    }
    for finding in analyze_policy_string(json.dumps(document), include_community_auditors=True).findings:
        where = finding.location or {}
        detail = where.get("type") or where.get("actions") or finding.detail
        found["parliament"].setdefault(finding.issue, str(detail)[:300])
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--deployer", default=os.path.join(ROOT, "docs", "iam", "deployer-policy.json"))
    parser.add_argument("--boundary", default=os.path.join(ROOT, "docs", "iam", "instance-boundary.json"))
    parser.add_argument("--accepted", default=os.path.join(ROOT, "docs", "iam", "escalation-gate.yml"))
    args = parser.parse_args(argv)
    with open(args.accepted) as handle:
        accepted = yaml.safe_load(handle)
    policies = {}
    for name, path in (("deployer-policy.json", args.deployer), ("instance-boundary.json", args.boundary)):
        with open(path) as handle:
            policies[name] = json.load(handle)
    policies["instance-role.json"] = instance_role_policy()
    failed = 0
    for name, document in policies.items():
        found = findings(document)
        allowed = accepted.get(name) or {}
        open_findings, kept = [], 0
        for category, items in found.items():
            reasons = allowed.get(category) or {}
            for item, detail in sorted(items.items()):
                if str(reasons.get(item, "")).strip():
                    kept += 1
                else:
                    open_findings.append("{0} {1}: {2}".format(category, item, detail))
        stale = ["{0} {1}".format(category, item) for category, reasons in allowed.items()
                 for item in reasons if item not in found.get(category, {})]
        status = "ok" if not open_findings else "FAILED"
        print("{0}: {1} ({2} accepted with a reason, {3} open)".format(name, status, kept, len(open_findings)))
        for line in open_findings:
            print("    " + line)
        for line in stale:
            print("    accepted but no longer found (remove it from {0}): {1}".format(
                os.path.basename(args.accepted), line))
        failed += bool(open_findings or stale)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
