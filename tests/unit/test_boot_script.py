"""The rendered UserData, run under bash in scratch instances with stub system commands (tests/support/boot_harness).

Each test boots one or more instances of a stack whose AWS side (SSM values, the data volume, the EFS file system,
n8n's database) the stubs keep, then asserts on what the instance left: the status document, the boot log, the
files it wrote, and the calls it made (tests/support/boot_stubs, calls.log).
"""

import json
import os
import ssl
import stat
import re
import subprocess

import pytest
import yaml

from tests.support.boot_harness import SECRET_NAMES, Stack, can_run, render_user_data

pytestmark = pytest.mark.skipif(can_run() is not None, reason=str(can_run()))

STAGES = ["boot", "install", "volume", "efs", "secrets", "services", "owner", "proxy", "services_started"]
SERVICES = ["n8n", "ollama", "qdrant", "crawl4ai", "postgres"]
TLS_KEY_TAG_ARG = "Key=geusemaker:tls-spki-sha256,Value="
with open(os.path.join(os.path.dirname(__file__), "..", "..", "roles", "services", "defaults", "main.yml")) as _defaults:
    CRAWL4AI = yaml.safe_load(_defaults)["services_crawl4ai_image"]


@pytest.fixture(scope="module")
def user_data():
    return render_user_data()


@pytest.fixture
def stack(tmp_path):
    return Stack(tmp_path / "stack")


def boot(stack, user_data, name="a"):
    instance = stack.instance(name)
    run = instance.boot(user_data)
    return instance, run


def stages_in_log(log):
    return re.findall(r"^== \S+ stage (\S+)$", log, re.M)


def instance_files(instance):
    """Every file the instance's root disk holds that the boot script wrote: {path: text}."""
    found = {}
    upper = os.path.join(instance.root, "upper")
    for directory, _unused, names in os.walk(upper):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    found["/" + os.path.relpath(path, upper)] = f.read()
    return found


def assert_no_secret_anywhere(stack, instance, user_data):
    """No SSM value in the UserData, the log, the status document, a command's arguments, or any file the boot
    script wrote other than the secret files themselves (which hold one value each, or its hash)."""
    secret_files = {"/opt/geusemaker/secrets/postgres/db_password", "/opt/geusemaker/secrets/n8n/db_password",
                    "/opt/geusemaker/secrets/n8n/encryption_key", "/opt/geusemaker/secrets/qdrant/local.yaml",
                    "/etc/nginx/geusemaker/http.d/qdrant-key.conf"}
    places = {"UserData": user_data, "calls.log": "\n".join("\t".join(row) for row in stack.calls())}
    places.update({path: text for path, text in instance_files(instance).items() if path not in secret_files})
    leaks = [(place, name) for place, text in places.items() for name, value in stack.secrets.items() if value in text]
    assert leaks == []
    assert "/var/log/geusemaker-boot.log" in places and "/opt/geusemaker/www/geusemaker/status.json" in places


def test_first_boot_publishes_every_stage_and_ends_running(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    log = instance.log()
    assert stages_in_log(log) == STAGES
    status = instance.status()
    assert status["schema"] == 3 and status["stage"] == "running"
    assert status["services"] == {name: "running" for name in SERVICES}
    assert status["volume"] == {"state": "mounted", "detail": "mounted on /mnt/data (formatted ext4)"}
    assert status["efs"] == {"state": "mounted", "detail": "mounted on /mnt/efs"}
    assert status["boot_count"] == 1 and status["boot_id"] == open(os.path.join(instance.root, "boot_id")).read().strip()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", status["updated_at"])
    # The public document names no resource and no person; the log, which does, is root's alone.
    uuid = re.search(r"^UUID=(\S+)$", stack.read("volume/fs"), re.M).group(1)
    public = instance.read("/opt/geusemaker/www/geusemaker/status.json")
    assert "log_tail" not in status and log.splitlines()[-1].endswith("stage services_started")
    for private in ("fs-0123456789abcdef0", uuid, "owner@geusemaker.local", "nvme1n1"):
        assert private not in public, private
    assert "owner@geusemaker.local" in log
    assert stat.S_IMODE(os.stat(instance.file("/var/log/geusemaker-boot.log")).st_mode) == 0o600
    assert_no_secret_anywhere(stack, instance, user_data)


def test_volume_formatted_once_mounted_by_uuid_and_efs_with_tls_and_iam(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    assert [args for _unused, args, _unused in stack.calls("mkfs.ext4")] == ["-q -L geusemaker-data /dev/nvme1n1"]
    uuid = re.search(r"^UUID=(\S+)$", stack.read("volume/fs"), re.M).group(1)
    fstab = instance.read("/etc/fstab").splitlines()
    assert fstab[0] == "UUID=0a1b2c3d / ext4 defaults 1 1"  # the AMI's own lines stay
    assert "UUID={0} /mnt/data ext4 defaults,nofail,nosuid,nodev,x-systemd.device-timeout=120s 0 2".format(uuid) in fstab
    assert "fs-0123456789abcdef0:/ /mnt/efs efs _netdev,tls,iam,nofail 0 0" in fstab
    assert ("mount", "-t efs -o tls,iam fs-0123456789abcdef0:/ /mnt/efs", "") in stack.calls("mount")
    # PostgreSQL, Qdrant and Ollama's models on the volume; n8n and Crawl4AI files on EFS, bound only where EFS made the
    # directory (never on the empty mount point while EFS is not mounted).
    compose = yaml.safe_load(instance.read("/opt/geusemaker/compose.yml"))
    volumes = {name: service["volumes"] for name, service in compose["services"].items()}

    def on_efs(source, target):
        return [{"type": "bind", "source": source, "target": target, "bind": {"create_host_path": False}}]

    assert volumes == {
        "postgres": ["/mnt/data/postgres:/var/lib/postgresql/data"],
        "qdrant": ["/mnt/data/qdrant:/qdrant/storage"],
        "n8n": on_efs("/mnt/efs/n8n", "/home/node/.n8n"),
        "ollama": ["/mnt/data/ollama:/root/.ollama"],
        "crawl4ai": on_efs("/mnt/efs/crawl4ai", "/data"),
    }
    assert sorted(os.listdir(os.path.join(stack.dir, "volume", "content"))) == ["ollama", "postgres", "qdrant"]
    assert sorted(os.listdir(os.path.join(stack.dir, "efs"))) == ["crawl4ai", "n8n"]
    # Crawl4AI's files are its image user's (the stub image runs as 999), closed to everyone else on the instance.
    crawl = os.stat(os.path.join(stack.dir, "efs", "crawl4ai"))
    assert (stat.S_IMODE(crawl.st_mode), crawl.st_uid, crawl.st_gid) == (0o750, 999, 999)
    assert ("docker", "run --rm --entrypoint id {0} -u".format(CRAWL4AI), "") in stack.calls("docker")


def test_each_container_gets_only_its_own_secrets_from_files(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    text = instance.read("/opt/geusemaker/compose.yml")
    compose = yaml.safe_load(text)
    assert "env_file" not in text
    files = {name: spec["file"] for name, spec in compose["secrets"].items()}

    def readable_by(service):
        """The SSM values a container can read: its secret files, and its environment."""
        spec = compose["services"][service]
        values = set()
        for entry in spec.get("secrets", []):
            source = entry["source"] if isinstance(entry, dict) else entry
            content = open(instance.file(files[source])).read()
            values |= {name for name, value in stack.secrets.items() if value in content}
        environment = json.dumps(spec.get("environment", {}))
        values |= {name for name, value in stack.secrets.items() if value in environment}
        return values

    assert readable_by("postgres") == {"db_password"}
    assert readable_by("n8n") == {"db_password", "n8n_encryption_key"}
    assert readable_by("qdrant") == {"qdrant_api_key"}
    assert readable_by("ollama") == set() and readable_by("crawl4ai") == set()
    # Exact values (no newline, no quoting), through *_FILE variables and Qdrant's own config file.
    postgres, n8n, qdrant = (compose["services"][name] for name in ("postgres", "n8n", "qdrant"))
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_db_password"
    assert n8n["environment"]["DB_POSTGRESDB_PASSWORD_FILE"] == "/run/secrets/n8n_db_password"
    assert n8n["environment"]["N8N_ENCRYPTION_KEY_FILE"] == "/run/secrets/n8n_encryption_key"
    assert n8n["environment"]["N8N_BLOCK_ENV_ACCESS_IN_NODE"] == "true"
    assert qdrant["secrets"] == [{"source": "qdrant_config", "target": "/qdrant/config/local.yaml"}]
    expected = {
        "postgres_db_password": (stack.secrets["db_password"], 999),
        "n8n_db_password": (stack.secrets["db_password"], 1000),
        "n8n_encryption_key": (stack.secrets["n8n_encryption_key"], 1000),
    }
    for name, (value, uid) in expected.items():
        path = instance.file(files[name])
        assert open(path).read() == value, name
        assert (os.stat(path).st_uid, os.stat(path).st_mode & 0o777) == (uid, 0o400), name
    assert yaml.safe_load(open(instance.file(files["qdrant_config"]))) == {"service": {"api_key": stack.secrets["qdrant_api_key"]}}
    assert os.stat(instance.file("/opt/geusemaker/secrets")).st_mode & 0o777 == 0o700
    # The owner password reaches n8n's REST API on 127.0.0.1 only, through curl's standard input.
    owner = json.loads(stack.read("owner_request.json"))
    assert owner == {"email": "owner@geusemaker.local", "firstName": "GeuseMaker", "lastName": "Owner",
                     "password": stack.secrets["n8n_owner_password"]}
    assert_no_secret_anywhere(stack, instance, user_data)


def test_proxy_password_kept_as_a_hash_nginx_reads(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    path = instance.file("/etc/nginx/geusemaker/htpasswd")
    user, hashed = open(path).read().strip().split(":", 1)
    assert user == "geusemaker" and hashed.startswith("$6$")
    salt = hashed.split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=stack.secrets["proxy_password"] + "\n",
                           capture_output=True, text=True, check=True).stdout.strip()
    assert again == hashed
    assert (os.stat(path).st_uid, os.stat(path).st_gid, os.stat(path).st_mode & 0o777) == (0, 994, 0o640)
    key_file = instance.file("/etc/nginx/geusemaker/http.d/qdrant-key.conf")
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert "~^{0}$".format(stack.secrets["qdrant_api_key"]) in open(key_file).read()


def test_owner_set_up_before_the_proxy_opens_the_services(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    calls = stack.calls()
    index = {row: i for i, row in reversed(list(enumerate(calls)))}  # first occurrence
    nginx_started = index[("systemctl", "restart nginx", "routes=bootstrap")]
    volume_stage = min(i for i, row in enumerate(calls) if row[0] == "blkid")
    owner = [i for i, row in enumerate(calls) if row[0] == "curl" and row[1].endswith("/rest/owner/setup")]
    opened = [i for i, row in enumerate(calls) if row[:2] == ("systemctl", "reload nginx")]
    # nginx serves the status document from the install stage on, with every other path answering 503...
    assert nginx_started < volume_stage
    assert [calls[i][2] for i in owner] == ["routes=bootstrap"]
    # ...and opens the services only after the owner exists, checking the configuration first.
    assert [calls[i][2] for i in opened] == ["routes=services"] and owner[0] < opened[0]
    assert index[("nginx", "-t", "routes=services")] < opened[0]
    assert all(note != "routes=services" for _unused, _unused, note in calls[:opened[0] - 1] if note.startswith("routes="))


def test_containers_start_only_on_mounted_storage_and_units_verify(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    starts = [note for command, args, note in stack.calls("systemctl") if args == "start geusemaker.service"]
    assert starts == ["routes=bootstrap /mnt/data=mounted /mnt/efs=mounted"]
    assert not any(args.startswith("compose -f /opt/geusemaker/compose.yml up") for _unused, args, _unused in stack.calls("docker"))
    # docker (and with it PostgreSQL and Qdrant) waits for the data volume only; the containers on EFS wait for
    # geusemaker.service, which mounts EFS first, retrying for as long as it takes.
    drop_in = instance.read("/etc/systemd/system/docker.service.d/geusemaker-storage.conf")
    assert drop_in.splitlines() == ["[Unit]", "RequiresMountsFor=/mnt/data"]
    unit = instance.read("/etc/systemd/system/geusemaker.service")
    for line in ("RequiresMountsFor=/mnt/data", "Requires=docker.service", "ExecStartPre=/opt/geusemaker/efs-mount.sh",
                 "ExecStart=/usr/bin/docker compose -f /opt/geusemaker/compose.yml up -d --remove-orphans",
                 "TimeoutStartSec=infinity", "WantedBy=multi-user.target"):
        assert line in unit.splitlines()
    address_unit = instance.read("/etc/systemd/system/geusemaker-address.service").splitlines()
    assert "ExecStart=/opt/geusemaker/address.sh" in address_unit
    assert "Before=nginx.service geusemaker.service geusemaker-status.service" in address_unit
    assert ("systemctl", "enable geusemaker-address.service", "routes=bootstrap") in stack.calls("systemctl")
    status_unit = instance.read("/etc/systemd/system/geusemaker-status.service")
    assert "After=local-fs.target remote-fs.target mnt-data.mount mnt-efs.mount docker.service" in status_unit
    assert "Requires" not in status_unit  # it runs, and reports, when a mount is missing
    verified = instance.verify_units()
    assert verified.returncode == 0 and verified.stdout + verified.stderr == "", verified.stdout + verified.stderr


def test_units_that_systemd_refuses_fail_the_verification(stack, user_data):
    """The check above can fail: a broken unit in the same place is reported."""
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    path = instance.file("/etc/systemd/system/geusemaker.service")
    text = open(path).read()
    with open(path, "w") as f:  # two commands for a service that is not oneshot
        f.write(text.replace("Type=oneshot\n", "Type=simple\nExecStart=/usr/bin/docker ps\n"))
    verified = instance.verify_units()
    assert verified.returncode != 0 and "geusemaker.service" in verified.stderr
    with open(path, "w") as f:  # a misspelt key is only a warning, which the check refuses too
        f.write(text.replace("RequiresMountsFor=", "RequiresMountFor="))
    verified = instance.verify_units()
    assert "Unknown key 'RequiresMountFor'" in verified.stderr


def test_waits_for_a_volume_attached_after_boot(stack, user_data):
    stack.configure(volume_after=3)
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    assert len(stack.calls("udevadm")) == 3 and instance.status()["stage"] == "running"


FAILURES = [
    # (case, stack configuration, secrets to change, failed stage, text the boot log shows)
    ("packages", dict(fail_dnf=True), {}, "install", "failed 5 times: dnf install -y nginx openssl"),
    ("compose checksum", dict(no_compose=True), {}, "install", "does not match its pinned sha256"),
    ("no volume", dict(volume_after="never"), {}, "volume", "no data volume at /dev/sdf /dev/xvdf after 600 s"),
    ("volume mount", dict(volume_mount_fail=True), {}, "volume", "mount /mnt/data (ext4) failed"),
    ("efs mount", dict(efs_fail=True), {}, "efs", "mount -t efs -o tls,iam of the stack's file system on /mnt/efs failed"),
    ("missing secret", {}, dict(qdrant_api_key=None), "secrets", "cannot read /geusemaker/demo/qdrant_api_key"),
    ("bad qdrant key", {}, dict(qdrant_api_key="not ok; with spaces and \"quotes\""), "secrets", "qdrant_api_key must be"),
    ("image pull", dict(fail_pull=True), {}, "services", "failed 5 times: docker compose -f /opt/geusemaker/compose.yml pull"),
    ("containers", dict(fail_start=True), {}, "services", "systemctl start geusemaker.service"),
    ("owner refused", dict(n8n_refuse_owner=True), {}, "owner", "n8n refused the owner setup for owner@geusemaker.local"),
    ("n8n never answers", dict(n8n_down=True), {}, "owner", "n8n did not answer on 127.0.0.1:5678 within 10 minutes"),
    ("nginx refuses", dict(nginx_refuses=True), {}, "proxy", "nginx refused the service routes"),
]


@pytest.mark.parametrize("case, flags, secrets, failed, shown", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failure_is_published_as_its_stage_and_stops_the_boot(stack, user_data, case, flags, secrets, failed, shown):
    stack.configure(**flags)
    for name, value in secrets.items():
        stack.set_secret(name, value)
    instance, run = boot(stack, user_data)
    assert run.returncode == 1
    status = instance.status()
    assert status["stage"] == failed + "_failed"
    assert stages_in_log(instance.log()) == STAGES[:STAGES.index(failed) + 1] + [failed + "_failed"]
    log = instance.log().splitlines()
    assert any(shown in line for line in log), log[-20:]
    assert log[-1].endswith("stage {0}_failed".format(failed))
    started = failed in ("owner", "proxy")  # the containers run; the proxy never opened
    expected = {name: "running" for name in SERVICES} if started else {name: "failed" for name in SERVICES}
    assert status["services"] == expected
    if failed in ("volume", "efs"):
        assert status[failed]["state"] == "mount_failed" and shown in status[failed]["detail"]
    # Nothing after the failure: no container before its stage, and the proxy never opened.
    calls = [row[:2] for row in stack.calls()]
    assert (("systemctl", "start geusemaker.service") in calls) == (started or case == "containers")
    assert ("systemctl", "reload nginx") not in calls
    if case != "packages":  # nginx runs, serving the status document and 503 for everything else
        assert ("systemctl", "restart nginx") in calls
        assert instance.read("/etc/nginx/geusemaker/routes.conf") == "location / { return 503; }\n"
    if case == "no volume":
        assert stack.calls("mkfs.ext4") == [] and len(stack.calls("udevadm")) == 120  # bounded: 600 s
    assert_no_secret_anywhere(stack, instance, render_user_data())


def test_a_volume_with_data_but_no_filesystem_is_never_formatted(stack, user_data):
    with open(os.path.join(stack.dir, "volume", "fs"), "w") as f:
        f.write("PTUUID=0f0e0d0c\nPTTYPE=gpt\n")
    instance, run = boot(stack, user_data)
    assert run.returncode == 1
    status = instance.status()
    assert status["stage"] == "volume_failed" and status["volume"]["state"] == "mount_failed"
    assert "holds data but no filesystem" in status["volume"]["detail"] and "it is not formatted" in status["volume"]["detail"]
    assert stack.calls("mkfs.ext4") == []


def test_a_new_instance_on_the_same_data_reads_the_secrets_again_and_keeps_the_rest(stack, user_data):
    first, run = boot(stack, user_data, "first")
    assert run.returncode == 0, first.log()
    uuid = re.search(r"^UUID=(\S+)$", stack.read("volume/fs"), re.M).group(1)
    with open(os.path.join(stack.dir, "volume", "content", "postgres", "PG_VERSION"), "w") as f:
        f.write("16\n")  # what PostgreSQL left there
    stack.clear_calls()
    stack.set_secret("proxy_password", "rotated-proxy-password-0123456789")
    second, run = boot(stack, user_data, "second")  # keep_data, then a new deploy: a new root disk, the same volume
    assert run.returncode == 0, second.log()
    status = second.status()
    assert status["stage"] == "running" and status["boot_count"] == 1
    assert status["volume"]["detail"] == "mounted on /mnt/data (existing ext4 filesystem)"
    assert stack.calls("mkfs.ext4") == []  # not formatted again
    assert open(os.path.join(stack.dir, "volume", "content", "postgres", "PG_VERSION")).read() == "16\n"
    assert not any(args.endswith("/rest/owner/setup") for _unused, args, _unused in stack.calls("curl"))  # not created again
    assert "n8n owner exists already; not created again" in second.log()
    read = [re.search(r"--name (\S+)", args).group(1) for _unused, args, _unused in stack.calls("aws") if args.startswith("ssm ")]
    assert read == ["/geusemaker/demo/" + name for name in SECRET_NAMES]  # every secret read again
    hashed = second.read("/etc/nginx/geusemaker/htpasswd").strip().split(":", 1)[1]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", hashed.split("$")[2], "-stdin"],
                           input="rotated-proxy-password-0123456789\n", capture_output=True, text=True, check=True)
    assert again.stdout.strip() == hashed
    assert_no_secret_anywhere(stack, second, user_data)


def test_every_boot_checks_the_mounts_again(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    rebooted = instance.reboot()
    assert rebooted.returncode == 0, rebooted.stderr
    status = instance.status()
    assert (status["stage"], status["boot_count"], status["volume"]["state"], status["efs"]["state"]) == ("running", 2, "mounted", "mounted")
    assert status["boot_id"] == open(os.path.join(instance.root, "boot_id")).read().strip()

    instance.reboot(mounts=("/mnt/efs",))  # the volume did not come back
    status = instance.status()
    assert (status["stage"], status["boot_count"], status["volume"]) == (
        "volume_failed", 3, {"state": "missing", "detail": "/mnt/data is not mounted at boot 3"})
    assert status["efs"]["state"] == "mounted"

    instance.reboot(mounts=("/mnt/data",))
    status = instance.status()
    assert (status["stage"], status["boot_count"], status["efs"]) == (
        "efs_failed", 4, {"state": "missing", "detail": "/mnt/efs is not mounted at boot 4"})

    instance.reboot()  # both back: the boot is whole again
    status = instance.status()
    assert (status["stage"], status["boot_count"], status["volume"]["state"], status["efs"]["state"]) == ("running", 5, "mounted", "mounted")


def test_efs_is_retried_at_a_later_boot_while_the_data_services_run(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    instance.reboot(mounts=("/mnt/data",))  # EFS did not come back with the boot
    assert (instance.status()["stage"], instance.status()["efs"]["state"]) == ("efs_failed", "missing")
    stack.configure(efs_fail_times=3)
    before = len(stack.calls("mount"))
    retried = instance.run("/opt/geusemaker/efs-mount.sh")  # geusemaker.service's ExecStartPre, before compose up
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert len(stack.calls("mount")) - before == 4 and "EFS mount attempt 3 failed; trying again in 15 s" in retried.stdout
    status = instance.status()
    assert (status["stage"], status["efs"]) == ("running", {"state": "mounted", "detail": "mounted on /mnt/efs"})


def test_a_reboot_after_a_failed_boot_keeps_the_failure(stack, user_data):
    stack.configure(n8n_refuse_owner=True)
    instance, run = boot(stack, user_data)
    assert run.returncode == 1
    instance.reboot()
    status = instance.status()
    assert status["stage"] == "owner_failed" and status["boot_count"] == 2


def test_ollama_gets_the_gpu_when_nvidia_smi_sees_one(stack, user_data):
    stack.configure(gpu=True)
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    ollama = yaml.safe_load(instance.read("/opt/geusemaker/compose.yml"))["services"]["ollama"]
    assert ollama["deploy"]["resources"]["reservations"]["devices"] == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert instance.status()["gpu"] == "Tesla T4"
    stack.configure(gpu=False)
    other, run = boot(stack, user_data, "cpu")  # a type without a GPU (services_gpu_required false): the CPU
    assert run.returncode == 0 and other.status()["gpu"] == "none"
    assert "deploy" not in yaml.safe_load(other.read("/opt/geusemaker/compose.yml"))["services"]["ollama"]


def test_a_gpu_type_waits_for_its_driver_and_fails_the_boot_without_it(stack):
    user_data = render_user_data(services_gpu_required=True)
    stack.configure(gpu_after=3)  # the driver answers at the fourth try
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    assert len(stack.calls("nvidia-smi")) == 4 and instance.status()["gpu"] == "Tesla T4"
    assert "deploy" in yaml.safe_load(instance.read("/opt/geusemaker/compose.yml"))["services"]["ollama"]
    stack.configure(gpu_after=False)
    stack.clear_calls()
    broken, run = boot(stack, user_data, "no-driver")  # never: a boot failure, not Ollama on the CPU unnoticed
    assert run.returncode == 1
    status = broken.status()
    assert (status["stage"], status["gpu"]) == ("install_failed", "pending")
    assert "nvidia-smi sees no GPU after 5 tries: the NVIDIA driver is not loaded" in broken.log()
    assert len(stack.calls("nvidia-smi")) == 5 and stack.calls("docker") == [("docker", "compose version", "")]


def test_n8n_and_the_certificate_follow_the_public_address_at_every_boot(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    first = "ec2-203-0-113-10.eu-west-1.compute.amazonaws.com"
    n8n = yaml.safe_load(instance.read("/opt/geusemaker/compose.yml"))["services"]["n8n"]["environment"]
    # compose takes ${GEUSEMAKER_HOST} from .env beside compose.yml at every `up`, which geusemaker.service runs
    assert n8n["WEBHOOK_URL"] == n8n["N8N_EDITOR_BASE_URL"] == "https://${GEUSEMAKER_HOST}/"
    assert instance.read("/opt/geusemaker/.env") == "GEUSEMAKER_HOST={0}\n".format(first)
    assert instance.status()["address"] == first

    def certificate():
        text = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName", "-pubkey", "-in",
                               instance.file("/etc/nginx/geusemaker/tls/cert.pem")], capture_output=True, text=True, check=True).stdout
        return re.search(r"CN ?= ?(\S+)", text).group(1), re.search(r"(DNS:.*|IP Address:.*)", text).group(1), text.split("-----BEGIN")[1]

    name, alt, key = certificate()
    assert (name, alt) == (first, "DNS:{0}, IP Address:203.0.113.10".format(first))
    stack.configure(public_ip="198.51.100.23")  # stopped and started: a new address
    assert instance.reboot().returncode == 0
    moved = "ec2-198-51-100-23.eu-west-1.compute.amazonaws.com"
    assert instance.read("/opt/geusemaker/.env") == "GEUSEMAKER_HOST={0}\n".format(moved)
    assert instance.status()["address"] == moved
    name, alt, same_key = certificate()
    assert (name, alt, same_key) == (moved, "DNS:{0}, IP Address:198.51.100.23".format(moved), key)
    # The key the instance published at its first boot still pins the certificate signed for the new address.
    assert published_key(stack) == served_key(instance)
    signed = os.path.getmtime(instance.file("/etc/nginx/geusemaker/tls/cert.pem"))
    assert instance.reboot().returncode == 0  # the same address: the certificate is not signed again
    assert os.path.getmtime(instance.file("/etc/nginx/geusemaker/tls/cert.pem")) == signed
    stack.configure(no_public_ip=True)  # no public address (a private subnet): the private one
    assert instance.reboot().returncode == 0 and instance.status()["address"] == "10.42.0.10"


def test_region_from_instance_metadata_else_the_role_input(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0 and {re.search(r"--region (\S+)", a).group(1) for _unused, a, _unused in stack.calls("aws")} == {"eu-west-1"}
    stack.configure(region="ap-south-1")
    stack.clear_calls()
    instance, run = boot(stack, user_data, "b")
    assert run.returncode == 0 and {re.search(r"--region (\S+)", a).group(1) for _unused, a, _unused in stack.calls("aws")} == {"ap-south-1"}
    stack.configure(imds_down=True)
    stack.clear_calls()
    instance, run = boot(stack, user_data, "c")  # no metadata: the role's services_region
    assert run.returncode == 0 and {re.search(r"--region (\S+)", a).group(1) for _unused, a, _unused in stack.calls("aws")} == {"eu-west-1"}
    stack.clear_calls()
    instance, run = boot(stack, render_user_data(services_region=""), "d")  # neither
    assert run.returncode == 1 and instance.status()["stage"] == "secrets_failed"
    assert "cannot read /geusemaker/demo/db_password from SSM Parameter Store" in instance.log()


def test_amazon_linux_2023_only(stack, user_data):
    instance = stack.instance("ubuntu")
    with open(os.path.join(instance.root, "upper", "etc", "os-release"), "w") as f:
        f.write('ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04 LTS"\n')
    run = instance.boot(user_data)
    assert run.returncode == 1
    assert instance.status()["stage"] == "install_failed"
    assert "Amazon Linux 2023 only, not Ubuntu 24.04 LTS" in instance.log()
    assert stack.calls("dnf") == []


def test_an_image_name_is_data_to_the_boot_script_never_a_command(stack):
    # The role refuses such a name before any AWS call (tasks/inputs.yml); the script does not rely on it.
    hostile = "n8nio/n8n:1.123.48$(echo owned >/opt/geusemaker/owned)`echo owned >/opt/geusemaker/owned-too`"
    instance, run = boot(stack, render_user_data(services_n8n_image=hostile))
    assert run.returncode == 0, instance.log()
    assert [path for path in instance_files(instance) if path.startswith("/opt/geusemaker/owned")] == []
    assert yaml.safe_load(instance.read("/opt/geusemaker/compose.yml"))["services"]["n8n"]["image"] == hostile


def published_key(stack):
    """The value of the one tag the boot wrote on its instance (through the stub aws CLI)."""
    [line] = stack.read("instance_tags").splitlines()
    instance_id, tag = line.split(" ", 1)
    assert instance_id == "i-0123456789abcdef0" and tag.startswith(TLS_KEY_TAG_ARG), line
    return tag[len(TLS_KEY_TAG_ARG):]


def served_key(instance):
    """spki_sha256 of the certificate nginx serves, as the health check computes it from the TLS handshake."""
    from ansible_collections.geusemaker.stack.plugins.module_utils.health import spki_sha256

    with open(instance.file("/etc/nginx/geusemaker/tls/cert.pem")) as handle:
        return spki_sha256(ssl.PEM_cert_to_DER_cert(handle.read()))


def test_the_boot_publishes_its_certificate_key_on_its_own_tag_once(stack, user_data):
    instance, run = boot(stack, user_data)
    assert run.returncode == 0, instance.log()
    assert re.fullmatch(r"[0-9a-f]{64}", published_key(stack)) and published_key(stack) == served_key(instance)
    [call] = [args for _unused, args, _unused in stack.calls("aws") if args.startswith("ec2 ")]
    assert call.startswith("ec2 create-tags --region eu-west-1 --resources i-0123456789abcdef0 --tags ")
    assert instance.reboot().returncode == 0  # a later boot keeps its key: nothing to publish again
    assert len(stack.read("instance_tags").splitlines()) == 1


def test_a_key_the_instance_cannot_publish_leaves_the_services_running(stack, user_data):
    stack.configure(fail_tag=True)
    instance, run = boot(stack, user_data)
    assert run.returncode == 0 and instance.status()["stage"] == "running", instance.log()
    assert "the certificate's public key is not published" in instance.log()
