import gzip
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.support.boot_harness import INPUTS, render_user_data as render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "services")


@pytest.fixture(scope="module")
def script():
    return render()


def test_bash_syntax(script, tmp_path):
    path = tmp_path / "user_data.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert script.startswith("#!/usr/bin/env bash\n")  # cloud-init runs a user-data script by its shebang


def test_inputs_and_pinned_images(script):
    assert "FS_ID=fs-0123456789abcdef0" in script
    assert "SSM_PATH=/geusemaker/demo/" in script
    # EFS with TLS and IAM authorization (the file system policy refuses anything else).
    assert "mount -t efs -o tls,iam \"$FS_ID:/\"" in script and "efs _netdev,tls,iam" in script
    for name in ("n8n", "ollama", "qdrant", "crawl4ai", "postgres"):
        assert re.search(r"^  {0}:$".format(name), script, re.M), name
    images = re.findall(r"image: (\S+)", script)
    assert len(images) == 5 and all(re.match(r"[a-z0-9./-]+:[A-Za-z0-9._-]+$", i) and not i.endswith(":latest") for i in images)
    # Service ports only on loopback (PostgreSQL has none); nginx alone faces the network.
    assert re.findall(r'"(\d+\.\d+\.\d+\.\d+):\d+:\d+"', script) == ["127.0.0.1"] * 4
    assert "listen 443 ssl" in script and "{{ " not in script
    # Amazon Linux 2023 only: packages from the distribution, nothing built from a branch.
    assert "apt-get" not in script and "git clone" not in script and "build-deb" not in script
    assert "dnf install -y amazon-efs-utils amazon-ec2-utils docker nvidia-container-toolkit" in script


def test_status_document_matches_the_health_check(script):
    from ansible_collections.geusemaker.stack.plugins.module_utils import health

    assert health.STATUS_PATH in script
    assert '{"schema": 3, "stage": "%s", "boot_id": "%s", "boot_count": %d, "address": "%s", "gpu": "%s", ' \
        '"volume": {"state": "%s", "detail": "%s"}, "efs": {"state": "%s", "detail": "%s"}, "services": {' in script
    for state in ("mounted", "mount_failed"):
        assert "put EFS_STATE " + state in script and "put VOLUME_STATE " + state in script
    for name, path in health.SERVICE_PATHS.items():
        if path:
            prefix = path.rsplit("/", 2)[0] + "/" if path.count("/") > 1 else "/"
            assert "location {0}".format(prefix) in script, name


def test_small_enough_for_user_data(script):
    assert len(gzip.compress(script.encode())) < 16384


def test_no_secret_in_the_script(script):
    assert "--with-decryption" in script
    assert not re.search(r"(?i)(password|secret|key)\s*[:=]\s*['\"]?[A-Za-z0-9+/]{12,}", script)
    assert not re.search(r"-----BEGIN", script)


def test_role_renders_the_fact(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [
            {"name": "Render", "ansible.builtin.include_role": {"name": "geusemaker.stack.services"}, "vars": INPUTS},
            {"name": "Save", "ansible.builtin.copy": {"content": "{{ services_user_data }}", "dest": str(tmp_path / "out.sh")}},
        ],
    }]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    run = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-e",
                          "ansible_python_interpreter=" + sys.executable, str(playbook)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out.sh").read_text().strip() == render().strip()
