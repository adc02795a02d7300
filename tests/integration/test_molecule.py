"""The molecule scenarios can fail: a copy of the collection with its network role broken on purpose, once so
that it leaves a resource behind, once so that a second converge changes something, must make
`molecule test -s network` fail, at the destroy step and at the idempotence step.

scripts/molecule.sh runs the real scenarios; this only proves their checks bite.
"""

import os
import shutil
import subprocess

import pytest

from tests.integration.conftest import BIN, ROOT, aws_env

IGNORED = shutil.ignore_patterns(".git", ".venv", ".run", ".ansible", ".pytest_cache", "__pycache__", "tests",
                                 "htmlcov", "*.tar.gz", "context", "collections")

BREAKS = {
    # A network interface carrying the stack's tag that no ledger entry or registered kind knows: only a check
    # of every tagged resource, whatever its kind, sees it after the cleanup role.
    "leaves-a-resource": """
- name: Broken on purpose - a network interface the cleanup role never hears of
  amazon.aws.ec2_eni:
    subnet_id: "{{ network_subnets.subnet_ids[0] }}"
    description: broken on purpose
    tags:
      "geusemaker:stack": "{{ network_stack_name_for_test }}"
  when: network_vpc is changed  # once, so that the idempotence step passes and the destroy step has to see it
""",
    # A task that reports a change on every run.
    "not-idempotent": """
- name: Broken on purpose - changes something on every run
  ansible.builtin.command: /bin/true
""",
}
EXPECTED = {
    "leaves-a-resource": "Left behind",
    "not-idempotent": "Idempotence test failed",
}


def broken_copy(tmp_path, break_name):
    copy = tmp_path / "stack"
    shutil.copytree(ROOT, copy, ignore=IGNORED, symlinks=True)
    link = copy / ".ansible" / "collections" / "ansible_collections" / "geusemaker" / "stack"
    link.parent.mkdir(parents=True)
    link.symlink_to(copy)
    tasks = copy / "roles" / "network" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text() + BREAKS[break_name])
    defaults = copy / "roles" / "network" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text() + "network_stack_name_for_test: mol-network\n")
    return copy


@pytest.mark.parametrize("break_name", sorted(BREAKS))
def test_a_broken_role_fails_its_scenario(aws, tmp_path, break_name):
    copy = broken_copy(tmp_path, break_name)
    env = dict(os.environ, **aws_env(aws.endpoint))
    env.update(PATH=BIN + os.pathsep + os.environ["PATH"], ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    env.pop("ANSIBLE_CONFIG", None)
    completed = subprocess.run([os.path.join(BIN, "molecule"), "test", "-s", "network"], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=600, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output[-3000:]
    assert EXPECTED[break_name] in output, output[-3000:]
