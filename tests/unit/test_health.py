import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.geusemaker.stack.plugins.module_utils import health
from ansible_collections.geusemaker.stack.plugins.modules import health_check
from tests.support.health_stub import start_stub


@pytest.fixture
def stub():
    stops = []

    def start(mode):
        url, stop = start_stub(mode)
        stops.append(stop)
        return url

    yield start
    for stop in stops:
        stop()


def test_healthy_stack(stub):
    result = health.check(stub("healthy"), health.SERVICES, timeout=5, interval=0.05)
    assert result["health"] == "healthy"
    assert result["services"] == {name: "healthy" for name in health.SERVICES}
    assert result["status_document"]["efs"]["state"] == "mounted"
    assert result["elapsed"] < 5


def test_failed_efs_mount_returns_at_once(stub):
    result = health.check(stub("efs_failed"), health.SERVICES, timeout=30, interval=0.05)
    assert result["health"] == "efs_mount_failed"
    assert result["status_document"]["efs"]["state"] == "mount_failed"
    assert result["services"]["n8n"] == "failed"
    assert result["elapsed"] < 5


def test_services_never_running_is_degraded(stub):
    result = health.check(stub("unhealthy") + "/", health.SERVICES, timeout=0.3, interval=0.05)
    assert result["health"] == "degraded"
    assert result["services"] == {name: "starting" for name in health.SERVICES}
    assert result["status_document"]["stage"] == "starting_services"


def test_nothing_answering_is_degraded(stub):
    url, stop = start_stub("healthy")
    stop()
    result = health.check(url, ["n8n", "postgres"], timeout=0.2, interval=0.05)
    assert result == {"health": "degraded", "status_document": None,
                      "services": {"n8n": "unreachable", "postgres": "unreachable"}, "elapsed": result["elapsed"]}


def test_unreadable_status_document_is_ignored():
    def get(url, timeout, validate_certs):
        return (200, b"<html>not json</html>") if url.endswith(".json") else (200, b"ok")

    assert health.read_status("https://x", 1, False, get) is None
    result = health.check("https://x", ["n8n"], timeout=1, interval=0.05, get=get)
    assert result["health"] == "healthy" and result["status_document"] is None


def run_module(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        health_check.main()
    return json.loads(capsys.readouterr().out)


def test_module_reports_health(stub, capsys):
    result = run_module(capsys, url=stub("efs_failed"), timeout=5, interval=0.05, fail_on_boot_failure=False)
    assert result["health"] == "efs_mount_failed" and not result["changed"] and not result.get("failed")


def test_module_fails_at_once_on_a_failed_boot(stub, capsys):
    result = run_module(capsys, url=stub("efs_failed"), timeout=5, interval=0.05)
    assert result["failed"] and result["health"] == "efs_mount_failed"
    assert (result["resource_type"], result["error_code"]) == ("file_system", "EfsMountFailed")


def test_module_check_mode_skips(capsys):
    result = run_module(capsys, url="https://127.0.0.1:9", _ansible_check_mode=True)
    assert result["health"] == "skipped"


@pytest.mark.parametrize("args, message", [
    (dict(url="127.0.0.1"), "url must start"),
    (dict(url="http://127.0.0.1:9", timeout=-1), "timeout"),
    (dict(url="http://127.0.0.1:9", interval=0), "interval"),
    (dict(url="http://127.0.0.1:9", services=["mysql"]), "mysql"),
])
def test_module_refuses_bad_options(capsys, args, message):
    result = run_module(capsys, **args)
    assert result["failed"] and message in result["msg"]
