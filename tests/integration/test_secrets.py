"""No generated secret reaches output, state, reports or UserData: deploy, fail, roll back, deploy, destroy."""

import base64
import gzip
import os
import stat

import pytest

from tests.support.fault_proxy import Rule


@pytest.mark.figure("6 secrets")
def test_secrets_appear_nowhere(aws, proxy, playbook, deploy_vars, state_dir, record_property):
    places = {}
    seen = {}

    def keep(label, run):
        places[label + " stdout"] = run.stdout
        places[label + " stderr"] = run.stderr

    # The first deploy generates the secrets, then fails at the instance and rolls back (secrets deleted too).
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity"))
    failed = playbook("deploy", stack_name="vault", **deploy_vars)
    assert failed.rc != 0
    keep("failed deploy", failed)
    original_put = [c.body for c in proxy.calls if c.operation == "PutParameter"]
    assert len(original_put) == 5
    proxy.clear()

    deployed = playbook("deploy", stack_name="vault", **deploy_vars)
    assert deployed.rc == 0, deployed.output[-3000:]
    keep("deploy", deployed)
    seen.update(aws.secrets("vault"))
    assert set(seen) == {"db_password", "n8n_encryption_key", "n8n_owner_password", "qdrant_api_key", "proxy_password"}
    assert all(len(v) >= 32 for v in seen.values())
    [instance_id] = aws.stack_resources("vault")["instance"]
    encoded = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    places["UserData"] = gzip.decompress(base64.b64decode(encoded)).decode()

    destroyed = playbook("destroy", stack_name="vault")
    assert destroyed.rc == 0
    keep("destroy", destroyed)
    for name in os.listdir(state_dir):
        path = os.path.join(state_dir, name)
        if os.path.isfile(path):
            places[name] = open(path, encoding="utf-8", errors="replace").read()
            if name.endswith(".json"):
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
    assert "vault.json" in places and "vault.recovery.md" in places

    # The first run's values went only into its PutParameter calls; look for those too.
    first_values = [body.split('"Value": "', 1)[1].split('"', 1)[0] for body in original_put]
    leaks = [(label, secret) for label, text in places.items()
             for secret in list(seen.values()) + first_values if secret in text]
    record_property("places", len(places))
    record_property("leaks", len(leaks))
    assert leaks == [], leaks
    assert len(places) >= 9
