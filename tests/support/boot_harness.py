"""Runs the rendered UserData under bash in a scratch instance: a private mount namespace (unshare -m) laid out by
boot_root.sh, with the stub system commands of boot_stubs/ first in PATH. Nothing in the product script knows.

``Stack`` is the AWS side one test shares between instances (SSM values, the data volume, the EFS file system,
n8n's database, the stubs' configuration); ``stack.instance(name)`` is one instance with its own root disk;
``instance.boot(user_data)`` runs the boot script as cloud-init would, ``instance.reboot()`` a later boot of the
same instance, where only systemd's units run (here: what geusemaker-status.service runs first).
"""

import json
import os
import subprocess
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROLE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "roles", "services")
INPUTS = dict(services_ssm_path="/geusemaker/demo/", services_file_system_id="fs-0123456789abcdef0", services_region="eu-west-1")
BOOT_ROOT = os.path.join(HERE, "boot_root.sh")
SECRET_NAMES = ("db_password", "n8n_encryption_key", "n8n_owner_password", "qdrant_api_key", "proxy_password")
AL2023 = 'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\nPRETTY_NAME="Amazon Linux 2023"\n'


def render_user_data(**overrides):
    """The role's template rendered with its defaults, INPUTS and ``overrides``, as the main entry point does."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    with open(os.path.join(ROLE, "defaults", "main.yml")) as f:
        variables = yaml.safe_load(f)
    variables.update(INPUTS, **overrides)
    # Role defaults are trusted templates in a play; plain YAML here, so say so.
    variables = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()}
    with open(os.path.join(ROLE, "templates", "user_data.sh.j2")) as f:
        return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(f.read()))


def can_run():
    """Why the harness cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (private mount namespaces and overlays)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "unshare -m fails: " + probe.stderr.strip()
    return None


class Stack:
    def __init__(self, directory, ssm_path="/geusemaker/demo/"):
        self.dir = str(directory)
        self.ssm_path = ssm_path
        for sub in ("config", "volume", "efs", "ssm"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        # Values with what breaks careless quoting: a quote, a dollar, a backslash, a space (generated ones are
        # alphanumeric; an operator may set others). qdrant_api_key must stay [A-Za-z0-9_-] (nginx compares it).
        self.secrets = {
            "db_password": "Db'pass\"$HOME `x` \\n 1" + uuid.uuid4().hex[:8],
            "n8n_encryption_key": "enc-" + uuid.uuid4().hex,
            "n8n_owner_password": "Owner\"Pa$$w0rd\\" + uuid.uuid4().hex[:8],
            "qdrant_api_key": "qk_" + uuid.uuid4().hex,
            "proxy_password": "Pr0xy pass'" + uuid.uuid4().hex[:8],
        }
        for name, value in self.secrets.items():
            self.set_secret(name, value)

    def set_secret(self, name, value):
        path = os.path.join(self.dir, "ssm", self.ssm_path.strip("/"), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if value is None:
            if os.path.exists(path):
                os.remove(path)
            self.secrets.pop(name, None)
            return
        with open(path, "w") as f:
            f.write(value)
        self.secrets[name] = value

    def configure(self, **flags):
        """configure(efs_fail=True, volume_after="never", region="us-east-1", gpu=False, ...)."""
        for name, value in flags.items():
            path = os.path.join(self.dir, "config", name)
            if value is False or value is None:
                if os.path.exists(path):
                    os.remove(path)
            else:
                with open(path, "w") as f:
                    f.write("" if value is True else str(value))

    def instance(self, name):
        return Instance(self, os.path.join(self.dir, "..", "instance-" + name))

    def calls(self, command=None):
        """[(command, arguments, note)] in call order."""
        path = os.path.join(self.dir, "calls.log")
        if not os.path.exists(path):
            return []
        rows = [tuple((line.rstrip("\n").split("\t") + ["", ""])[:3]) for line in open(path, encoding="utf-8")]
        return [row for row in rows if command is None or row[0] == command]

    def clear_calls(self):
        for name in ("calls.log", "udevadm.count", "containers_up", "owner_request.json"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                os.remove(path)

    def read(self, relative):
        with open(os.path.join(self.dir, relative), encoding="utf-8") as f:
            return f.read()


class Instance:
    def __init__(self, stack, root):
        self.stack = stack
        self.root = os.path.abspath(root)
        os.makedirs(os.path.join(self.root, "upper", "etc"), exist_ok=True)
        with open(os.path.join(self.root, "upper", "etc", "os-release"), "w") as f:
            f.write(AL2023)
        with open(os.path.join(self.root, "upper", "etc", "fstab"), "w") as f:
            f.write("UUID=0a1b2c3d / ext4 defaults 1 1\n")
        self.new_boot_id()

    def new_boot_id(self):
        with open(os.path.join(self.root, "boot_id"), "w") as f:
            f.write(str(uuid.uuid4()) + "\n")

    def run(self, *command, network=False, timeout=120):
        """COMMAND in this instance's namespace; network=True adds a network namespace of its own (loopback)."""
        unshare = ["unshare", "-m", "--propagation", "private"] + (["-n"] if network else [])
        return subprocess.run(unshare + ["bash", BOOT_ROOT, self.root, self.stack.dir, "--"] + list(command),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def boot(self, user_data):
        """The first boot: cloud-init runs the UserData (as a file, once per instance)."""
        path = os.path.join(self.root, "user_data.sh")
        with open(path, "w") as f:
            f.write(user_data)
        return self.run("bash", path)

    def reboot(self, mounts=("/mnt/data", "/mnt/efs")):
        """A later boot: a new boot id; geusemaker-address.service follows the address; systemd mounts what
        /etc/fstab lists (here those of ``mounts``, through the stub mount), then geusemaker-status.service's first
        run checks the mounts. (geusemaker.service's EFS retry, efs-mount.sh, is the test's to run.)"""
        self.new_boot_id()
        steps = ["/opt/geusemaker/address.sh"]
        if "/mnt/data" in mounts:
            steps.append("mount /mnt/data")
        if "/mnt/efs" in mounts:
            steps.append("mount -t efs -o tls,iam \"$(awk '$2 == \"/mnt/efs\" {print $1}' /etc/fstab)\" /mnt/efs")
        steps.append("/opt/geusemaker/status.sh")
        return self.run("bash", "-c", " && ".join(steps))

    def verify_units(self):
        """systemd-analyze verify of the units the boot script wrote (see verify_units.sh)."""
        return self.run("bash", os.path.join(HERE, "verify_units.sh"))

    def file(self, path):
        """The file as the instance's root disk has it (written by the boot script, else the host's)."""
        written = os.path.join(self.root, "upper", path.lstrip("/"))
        return written if os.path.lexists(written) else path

    def read(self, path):
        with open(self.file(path), encoding="utf-8") as f:
            return f.read()

    def status(self):
        return json.loads(self.read("/opt/geusemaker/www/geusemaker/status.json"))

    def log(self):
        return self.read("/var/log/geusemaker-boot.log")
