"""No generated secret reaches output, state, reports or UserData: deploy, fail, roll back, deploy, destroy."""

import base64
import gzip
import json
import os
import stat

import pytest

from tests.support.fault_proxy import Rule

RECORDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support", "callback_plugins")


def recording(path):
    """Environment that makes a run write every task result to ``path`` (tests/support/callback_plugins), beside
    the collection's own callback: whatever the verbosity, registered results included."""
    return {"ANSIBLE_CALLBACK_PLUGINS": RECORDER, "ANSIBLE_CALLBACKS_ENABLED": "geusemaker.stack.recovery,record_results",
            "GEUSEMAKER_RECORD_RESULTS": path}


def recorded_results(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.figure("6 secrets")
def test_secrets_appear_nowhere(aws, proxy, playbook, deploy_vars, state_dir, record_property, tmp_path):
    places = {}
    seen = {}
    results_of = {}

    def run(label, name, **extra_vars):
        path = str(tmp_path / (label.replace(" ", "-") + ".results.jsonl"))
        done = playbook(name, env_changes=recording(path), **extra_vars)
        places[label + " stdout"] = done.stdout
        places[label + " stderr"] = done.stderr
        results_of[label] = recorded_results(path)
        places[label + " task results"] = "\n".join(json.dumps(r, sort_keys=True) for r in results_of[label])
        return done

    # The first deploy generates the secrets, then fails at the instance and rolls back (secrets deleted too).
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity"))
    failed = run("failed deploy", "deploy", stack_name="vault", **deploy_vars)
    assert failed.rc != 0
    original_put = [c.body for c in proxy.calls if c.operation == "PutParameter"]
    assert len(original_put) == 5
    proxy.clear()

    deployed = run("deploy", "deploy", stack_name="vault", **deploy_vars)
    assert deployed.rc == 0, deployed.output[-3000:]
    seen.update(aws.secrets("vault"))
    assert set(seen) == {"db_password", "n8n_encryption_key", "n8n_owner_password", "qdrant_api_key", "proxy_password"}
    assert all(len(v) >= 32 for v in seen.values())
    [instance_id] = aws.stack_resources("vault")["instance"]
    encoded = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    places["UserData"] = gzip.decompress(base64.b64decode(encoded)).decode()

    destroyed = run("destroy", "destroy", stack_name="vault")
    assert destroyed.rc == 0
    for name in os.listdir(state_dir):
        path = os.path.join(state_dir, name)
        if os.path.isfile(path):
            places[name] = open(path, encoding="utf-8", errors="replace").read()
            if name.endswith(".json"):
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
    assert "vault.json" in places and "vault.recovery.md" in places
    # The recorder saw every task, the secrets' own included: the sweep below is not vacuous.
    for label in ("failed deploy", "deploy"):
        secrets_results = [r for r in results_of[label] if r.get("action") == "geusemaker.stack.ssm_secrets"]
        assert secrets_results and "/geusemaker/vault/db_password" in json.dumps(secrets_results), label
    assert any(r["event"] == "failed" for r in results_of["failed deploy"]) and results_of["destroy"][-1]["event"] == "stats"

    # The first run's values went only into its PutParameter calls; look for those too.
    first_values = [body.split('"Value": "', 1)[1].split('"', 1)[0] for body in original_put]
    leaks = [(label, secret) for label, text in places.items()
             for secret in list(seen.values()) + first_values if secret in text]
    record_property("places", len(places))
    record_property("leaks", len(leaks))
    assert leaks == [], leaks
    assert len(places) >= 12  # 3 runs x (stdout, stderr, task results), UserData, state, report
