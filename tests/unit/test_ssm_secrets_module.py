"""The ssm_secrets module as Ansible runs it: its result names the parameters and never carries a secret value."""

import json

import boto3
import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.geusemaker.stack.plugins.module_utils.ssm_parameter import SECRETS
from ansible_collections.geusemaker.stack.plugins.modules import ssm_secrets


def run_module(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        ssm_secrets.main()
    return json.loads(capsys.readouterr().out)


def stored_values(path):
    ssm = boto3.client("ssm")
    found = ssm.get_parameters_by_path(Path=path, Recursive=True, WithDecryption=True)["Parameters"]
    return {p["Name"].rsplit("/", 1)[-1]: p["Value"] for p in found}


def test_the_result_names_every_parameter_and_holds_no_value(aws, tmp_path, capsys):
    created = run_module(capsys, stack_name="vault", state_dir=str(tmp_path / "stacks"))
    values = stored_values("/geusemaker/vault/")
    assert set(values) == set(SECRETS) and all(len(v) >= 32 for v in values.values())
    assert not created.get("failed") and created["changed"]
    assert created["parameter_path"] == "/geusemaker/vault/"
    assert sorted(created["parameter_names"]) == sorted("/geusemaker/vault/" + s for s in SECRETS)
    adopted = run_module(capsys, stack_name="vault", state_dir=str(tmp_path / "stacks"))
    assert not adopted.get("failed") and stored_values("/geusemaker/vault/") == values  # adopted, never regenerated
    state = (tmp_path / "stacks" / "vault.json").read_text()
    for label, text in (("first result", json.dumps(created)), ("second result", json.dumps(adopted)), ("state", state)):
        leaked = sorted(name for name, value in values.items() if value in text)
        assert leaked == [], "{0} carries the value of {1}".format(label, leaked)


@pytest.mark.parametrize("name", ["Bad-Name", "ab", "../x", "ok;rm -rf /", "a" * 33])
def test_a_bad_stack_name_is_refused_before_any_aws_call(aws, tmp_path, capsys, name):
    result = run_module(capsys, stack_name=name, state_dir=str(tmp_path / "stacks"))
    assert result["failed"] and "stack_name {0!r} is invalid".format(name) in result["msg"]
    assert boto3.client("ssm").describe_parameters()["Parameters"] == []
    assert not (tmp_path / "stacks").exists()
