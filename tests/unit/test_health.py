import base64
import json
import urllib.request

import boto3
import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.geusemaker.stack.plugins.module_utils import health
from ansible_collections.geusemaker.stack.plugins.modules import health_check
from tests.support.health_stub import start_stub

CREDENTIALS = {"proxy_password": "Pr0xyPassw0rdThatIsLongEnough1234", "qdrant_api_key": "QdrantKey0123456789abcdefABCDEF99"}
PATH = "/geusemaker/unit/"


@pytest.fixture
def stub():
    stops = []

    def start(mode, **options):
        options.setdefault("credentials", CREDENTIALS)
        url, stop = start_stub(mode, **options)
        stops.append(stop)
        return url

    yield start
    for stop in stops:
        stop()


def test_healthy_stack(stub):
    result = health.check(stub("healthy"), health.SERVICES, timeout=5, interval=0.05, credentials=CREDENTIALS)
    assert result["health"] == "healthy"
    assert result["services"] == {name: "healthy" for name in health.SERVICES}
    assert result["status_document"]["efs"]["state"] == "mounted"
    assert result["elapsed"] < 5
    assert "error_code" not in result and "msg" not in result


def test_failed_efs_mount_returns_at_once(stub):
    result = health.check(stub("efs_failed"), health.SERVICES, timeout=30, interval=0.05, credentials=CREDENTIALS)
    assert result["health"] == "boot_failed"
    assert result["status_document"]["efs"]["state"] == "mount_failed"
    assert result["services"]["n8n"] == "failed"
    assert result["elapsed"] < 5
    assert (result["stage"], result["resource_type"], result["error_code"]) == ("efs", "file_system", "EfsMountFailed")
    assert result["msg"].startswith("the instance reports that its boot failed at stage efs (efs_failed): mount -t efs")


@pytest.mark.parametrize("mode, stage, resource_type, error_code", [
    ("secrets_failed", "secrets", "instance", "BootFailed"),
    ("volume_failed", "volume", "volume", "VolumeMountFailed"),
])
def test_any_failed_stage_ends_the_wait_at_once_with_the_log_tail(stub, fake_time, mode, stage, resource_type, error_code):
    url = stub(mode)
    result = health.check(url, health.SERVICES, timeout=900, interval=5, credentials=CREDENTIALS,
                          clock=fake_time.clock, sleep=fake_time.sleep)
    assert fake_time.sleeps == []  # the first round saw it
    assert result["health"] == "boot_failed"
    assert (result["stage"], result["resource_type"], result["error_code"]) == (stage, resource_type, error_code)
    tail = result["status_document"]["log_tail"]
    assert tail[-1].endswith("stage {0}_failed".format(stage))
    assert "stage {0} ({0}_failed)".format(stage) in result["msg"] and "\n".join(tail) in result["msg"]
    assert result["services"] == {name: "failed" for name in health.SERVICES}


def test_services_never_running_is_degraded(stub):
    result = health.check(stub("unhealthy") + "/", health.SERVICES, timeout=0.3, interval=0.05, credentials=CREDENTIALS)
    assert result["health"] == "degraded"
    assert result["services"] == {name: "starting" for name in health.SERVICES}
    assert result["status_document"]["stage"] == "services_started"
    assert (result["resource_type"], result["error_code"]) == ("instance", "ServicesUnhealthy")
    assert result["msg"] == ("the services were not all healthy within 0.3s: n8n starting, ollama starting, qdrant starting, "
                             "crawl4ai starting, postgres starting (boot stage services_started)")


def test_without_credentials_the_services_stay_shut(stub):
    url = stub("healthy")
    result = health.check(url, health.SERVICES, timeout=0.2, interval=0.05)
    assert result["health"] == "degraded"
    # n8n's health path and the status document are public; the others answered 401.
    assert result["services"] == {"n8n": "healthy", "ollama": "unreachable", "qdrant": "unreachable",
                                  "crawl4ai": "unreachable", "postgres": "healthy"}
    assert health.http_get(url + "/ollama/", 5, False)[0] == 401
    wrong = dict(CREDENTIALS, proxy_password="wrong", qdrant_api_key="wrong")
    assert health.check(url, health.SERVICES, timeout=0.2, interval=0.05, credentials=wrong)["health"] == "degraded"


def test_probes_send_each_service_its_credential():
    seen = {}

    def get(url, timeout, validate_certs, headers=None):
        seen[url.split("x", 1)[1]] = headers
        if url.endswith(".json"):
            return 200, json.dumps({"schema": 2, "stage": "running", "services": {"postgres": "running"}})
        return 200, b"ok"

    result = health.check("https://x", health.SERVICES, timeout=1, interval=0.05, get=get, credentials=CREDENTIALS)
    assert result["health"] == "healthy"
    basic = "Basic " + base64.b64encode(("geusemaker:" + CREDENTIALS["proxy_password"]).encode()).decode()
    assert seen == {
        "/geusemaker/status.json": None,
        "/healthz": None,
        "/ollama/": {"Authorization": basic},
        "/qdrant/healthz": {"api-key": CREDENTIALS["qdrant_api_key"]},
        "/crawl4ai/health": {"Authorization": basic},
    }


def test_nothing_answering_is_degraded(stub):
    url, stop = start_stub("healthy")
    stop()
    result = health.check(url, ["n8n", "postgres"], timeout=0.2, interval=0.05)
    assert result["health"] == "degraded" and result["status_document"] is None
    assert result["services"] == {"n8n": "unreachable", "postgres": "unreachable"}
    assert result["msg"].endswith("n8n unreachable, postgres unreachable (boot stage unknown: no status document read)")


def test_unreadable_status_document_is_ignored():
    def get(url, timeout, validate_certs):
        return (200, b"<html>not json</html>") if url.endswith(".json") else (200, b"ok")

    assert health.read_status("https://x", 1, False, get) is None
    result = health.check("https://x", ["n8n"], timeout=1, interval=0.05, get=get)
    assert result["health"] == "healthy" and result["status_document"] is None


@pytest.mark.parametrize("document, stage", [
    ({"schema": 2, "stage": "owner_failed"}, "owner"),
    ({"schema": 1, "stage": "efs_mount_failed", "efs": {"state": "mount_failed"}}, "efs_mount"),
    ({"schema": 1, "stage": "efs", "efs": {"state": "mount_failed"}}, "efs"),
    ({"schema": 2, "stage": "services_started"}, None),
    ({"stage": 3}, None),
    (None, None),
])
def test_failed_stage(document, stage):
    assert health.failed_stage(document) == stage


def test_schema_1_efs_failure_is_still_the_file_system():
    assert health.stage_failure("efs_mount") == ("file_system", "EfsMountFailed")
    assert health.stage_failure("proxy") == ("instance", "BootFailed")
    message = health.boot_failure_message("owner", {"stage": "owner_failed", "log_tail": "not a list"})
    assert message == "the instance reports that its boot failed at stage owner (owner_failed)"


def put_credentials(path=PATH, **values):
    ssm = boto3.client("ssm")
    for name, value in dict(CREDENTIALS, **values).items():
        if value is not None:
            ssm.put_parameter(Name=path + name, Value=value, Type="SecureString")


def test_read_credentials(aws):
    put_credentials()
    assert health.read_credentials(boto3.client("ssm"), PATH) == CREDENTIALS
    with pytest.raises(health.CredentialsError, match="missing: /geusemaker/other/proxy_password, /geusemaker/other/qdrant_api_key"):
        health.read_credentials(boto3.client("ssm"), "/geusemaker/other/")


def run_module(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        health_check.main()
    return json.loads(capsys.readouterr().out)


def test_module_reads_its_credentials_and_never_shows_them(aws, stub, capsys):
    put_credentials()
    result = run_module(capsys, url=stub("healthy"), credentials_path=PATH, timeout=5, interval=0.05)
    assert result["health"] == "healthy" and not result["changed"] and not result.get("failed")
    printed = json.dumps(result)
    assert all(value not in printed for value in CREDENTIALS.values())


def test_module_fails_on_a_failed_boot_with_the_failure_record(aws, stub, capsys):
    put_credentials()
    result = run_module(capsys, url=stub("efs_failed"), credentials_path=PATH, timeout=60, interval=0.05)
    assert result["failed"] and result["health"] == "boot_failed"
    assert (result["resource_type"], result["error_code"]) == ("file_system", "EfsMountFailed")
    assert "stage efs (efs_failed)" in result["msg"] and "failed 6 times" in result["msg"]
    assert result["status_document"]["stage"] == "efs_failed"
    result = run_module(capsys, url=stub("secrets_failed"), credentials_path=PATH, timeout=60, interval=0.05)
    assert result["failed"] and (result["resource_type"], result["error_code"], result["stage"]) == ("instance", "BootFailed", "secrets")


def test_module_reports_a_failed_boot_without_failing_when_told(aws, stub, capsys):
    put_credentials()
    result = run_module(capsys, url=stub("volume_failed"), credentials_path=PATH, timeout=60, interval=0.05,
                        fail_on_boot_failure=False)
    assert not result.get("failed") and result["health"] == "boot_failed" and result["error_code"] == "VolumeMountFailed"


def test_module_degraded_result_carries_the_failure_record(aws, stub, capsys):
    put_credentials()
    result = run_module(capsys, url=stub("unhealthy"), credentials_path=PATH, timeout=0, interval=0.05)
    assert not result.get("failed") and result["health"] == "degraded"
    assert (result["resource_type"], result["error_code"]) == ("instance", "ServicesUnhealthy") and result["msg"]


def test_module_fails_when_its_credentials_are_missing(aws, stub, capsys):
    put_credentials(qdrant_api_key=None)
    result = run_module(capsys, url=stub("healthy"), credentials_path=PATH)
    assert result["failed"] and result["error_code"] == "ParameterNotFound"
    assert result["msg"] == "cannot authenticate the probes: SSM parameter(s) missing: /geusemaker/unit/qdrant_api_key"
    assert CREDENTIALS["proxy_password"] not in json.dumps(result)


def test_module_fails_when_ssm_refuses(aws, stub, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        from botocore.exceptions import ClientError
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameters")

    monkeypatch.setattr(health, "read_credentials", refuse)
    result = run_module(capsys, url=stub("healthy"), credentials_path=PATH)
    assert result["failed"] and "cannot read the probes' credentials under /geusemaker/unit/" in result["msg"]
    assert result["error"]["code"] == "AccessDeniedException"


def test_module_check_mode_skips(capsys):
    result = run_module(capsys, url="https://127.0.0.1:9", _ansible_check_mode=True)
    assert result["health"] == "skipped"


@pytest.mark.parametrize("args, message", [
    (dict(url="127.0.0.1"), "url must start"),
    (dict(url="http://127.0.0.1:9", timeout=-1), "timeout"),
    (dict(url="http://127.0.0.1:9", interval=0), "interval"),
    (dict(url="http://127.0.0.1:9", services=["mysql"]), "mysql"),
    (dict(url="http://127.0.0.1:9", credentials_path="geusemaker/demo"), "credentials_path must start and end"),
])
def test_module_refuses_bad_options(capsys, args, message):
    result = run_module(capsys, **args)
    assert result["failed"] and message in result["msg"]


@pytest.fixture
def emulator(monkeypatch):
    """A moto server on loopback, as the integration tests have, for the stub to read SSM from."""
    from moto.server import ThreadedMotoServer

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield "http://{0}:{1}".format(host, port)
    server.stop()


def test_stub_requires_the_credentials_ssm_holds_when_asked(emulator, monkeypatch):
    ssm = boto3.client("ssm", endpoint_url=emulator, region_name="us-east-1")
    url, stop = start_stub("healthy")  # before the deploy made the parameters, and before AWS_ENDPOINT_URL is set
    try:
        assert health.check(url, ["ollama", "qdrant"], timeout=0, interval=0.05, credentials=CREDENTIALS)["health"] == "degraded"
        monkeypatch.setenv("AWS_ENDPOINT_URL", emulator)
        assert health.check(url, ["ollama", "qdrant"], timeout=0, interval=0.05, credentials=CREDENTIALS)["health"] == "degraded"
        for name, value in CREDENTIALS.items():
            ssm.put_parameter(Name=PATH + name, Value=value, Type="SecureString")
        other = {"proxy_password": "OtherStackProxyPassword000000000", "qdrant_api_key": "OtherStackQdrantKey0000000000000"}
        for name, value in other.items():
            ssm.put_parameter(Name="/geusemaker/other/" + name, Value=value, Type="SecureString")
        # Read at each request: any stack's pair opens it, and nothing else does.
        assert health.check(url, health.SERVICES, timeout=0, interval=0.05, credentials=CREDENTIALS)["health"] == "healthy"
        assert health.check(url, health.SERVICES, timeout=0, interval=0.05, credentials=other)["health"] == "healthy"
        mixed = {"proxy_password": CREDENTIALS["proxy_password"], "qdrant_api_key": "nope"}
        assert health.check(url, ["qdrant"], timeout=0, interval=0.05, credentials=mixed)["services"] == {"qdrant": "unreachable"}
        bearer = {"Authorization": "Bearer " + CREDENTIALS["qdrant_api_key"]}
        assert urllib.request.urlopen(urllib.request.Request(url + "/qdrant/healthz", headers=bearer)).status == 200
    finally:
        stop()
    url, stop = start_stub("healthy", endpoint=emulator, ssm_path="/geusemaker/other/")  # one stack's only
    try:
        assert health.check(url, ["ollama"], timeout=0, interval=0.05, credentials=CREDENTIALS)["health"] == "degraded"
        assert health.check(url, ["ollama"], timeout=0, interval=0.05, credentials=other)["health"] == "healthy"
    finally:
        stop()
