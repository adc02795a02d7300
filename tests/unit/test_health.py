import base64
import json
import ssl
import threading
import time
import urllib.request

import boto3
import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.geusemaker.stack.plugins.module_utils import health
from ansible_collections.geusemaker.stack.plugins.modules import health_check
from tests.support.health_stub import connect_to, start_stub
from tests.support.aws_calls import client_error

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
def test_any_failed_stage_ends_the_wait_at_once_saying_where_the_log_is(stub, fake_time, mode, stage, resource_type, error_code):
    url = stub(mode)
    result = health.check(url, health.SERVICES, timeout=900, interval=5, credentials=CREDENTIALS,
                          clock=fake_time.clock, sleep=fake_time.sleep)
    assert fake_time.sleeps == []  # the first round saw it
    assert result["health"] == "boot_failed"
    assert (result["stage"], result["resource_type"], result["error_code"]) == (stage, resource_type, error_code)
    assert "stage {0} ({0}_failed)".format(stage) in result["msg"]
    assert "the boot log is /var/log/geusemaker-boot.log on the instance, for root only" in result["msg"]
    assert result["services"] == {name: "failed" for name in health.SERVICES}


def test_a_schema_2_document_still_gives_its_log_tail():
    document = {"schema": 2, "stage": "efs_failed", "efs": {"state": "mount_failed", "detail": "mount failed"},
                "log_tail": ["== stage efs", "!! mount failed"]}
    message = health.boot_failure_message("efs", document)
    assert message.endswith(": mount failed; last lines of /var/log/geusemaker-boot.log:\n== stage efs\n!! mount failed")


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
    assert message.startswith("the instance reports that its boot failed at stage owner (owner_failed); the boot log is "
                              "/var/log/geusemaker-boot.log on the instance, for root only")


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


def run_module(capsys, tmp_path, **args):
    args.setdefault("stack_name", "unit")
    args.setdefault("state_dir", str(tmp_path / "stacks"))
    with patch_module_args(args), pytest.raises(SystemExit):
        health_check.main()
    return json.loads(capsys.readouterr().out)


STUB_KEY = "f70b8455ea64b2ee4af60d8badfc5189d0e62e17509fc5fc886061a14b67a565"  # tests/support/stub_tls/instance


def launch(stack_name="unit", pin=STUB_KEY):
    """An instance on the emulator with the stack's tag and, unless None, the key its boot published."""
    ec2 = boto3.client("ec2")
    image = sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])[0]
    tags = [{"Key": "geusemaker:stack", "Value": stack_name}] + ([{"Key": "geusemaker:tls-spki-sha256", "Value": pin}] if pin else [])
    [item] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                               TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"]
    return item["InstanceId"]


@pytest.fixture
def recorded(make_stack):
    """recorded(instance_id): the instance in the stack's ledger, as the deploy records it."""
    def record(instance_id, stack_name="unit"):
        make_stack(stack_name).record("instance", instance_id, "created", key="instance-1")
        return instance_id
    return record


def sent_credentials(seen):
    """The requests of stop.seen that carried a credential."""
    return [r for r in seen if {k.lower() for k in r["headers"]} & {"authorization", "api-key"}]


def test_the_stub_key_is_what_the_tests_pin():
    from tests.support.health_stub import spki_sha256
    assert spki_sha256("instance") == STUB_KEY and spki_sha256("impostor") != STUB_KEY


def test_spki_sha256_is_the_hash_of_the_public_key_openssl_gives():
    import ssl
    import subprocess
    from tests.support.health_stub import key_files

    for key in ("instance", "impostor"):
        cert, private = key_files(key)
        with open(cert) as handle:
            der = ssl.PEM_cert_to_DER_cert(handle.read())
        public = subprocess.run(["openssl", "pkey", "-in", private, "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
        import hashlib
        assert health.spki_sha256(der) == hashlib.sha256(public).hexdigest()
    # A certificate without the optional version field ([0]) is read too: a v1 one, built by hand.
    spki = b"\x30\x03\x02\x01\x07"
    fields = b"\x02\x01\x01" + b"\x30\x00" * 4 + spki
    tbs = b"\x30" + bytes([len(fields)]) + fields
    certificate = b"\x30" + bytes([len(tbs)]) + tbs
    assert health.spki_sha256(certificate) == hashlib.sha256(spki).hexdigest()


def test_module_sends_credentials_only_to_the_stack_instance_with_its_published_key(aws, tmp_path, recorded, capsys):
    put_credentials()
    instance_id = recorded(launch())
    url, stop = start_stub("healthy", credentials=CREDENTIALS, publish=False)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=5, interval=0.05)
    finally:
        stop()
    assert result["health"] == "healthy" and not result.get("failed"), result
    assert result["instance_id"] == instance_id and result["address"].startswith("ec2-")
    assert sent_credentials(stop.seen), "the instance got no credential"
    assert all(value not in json.dumps(result) for value in CREDENTIALS.values())


def test_a_server_with_another_key_receives_no_credential(aws, tmp_path, recorded, capsys):
    put_credentials()
    recorded(launch())
    url, stop = start_stub("healthy", credentials=CREDENTIALS, key="impostor", publish=False)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=1, interval=0.05)
    finally:
        stop()
    assert result["health"] == "degraded", result
    assert "presented the key" in result["msg"] and "not the instance's " + STUB_KEY in result["msg"]
    assert stop.seen == [] or sent_credentials(stop.seen) == []  # the handshake ends before any request
    assert stop.seen == []


def test_until_the_key_is_published_nothing_carries_a_credential(aws, tmp_path, recorded, capsys):
    put_credentials()
    instance_id = recorded(launch(pin=None))
    url, stop = start_stub("healthy", credentials=CREDENTIALS, publish=False)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=1, interval=0.05)
    finally:
        stop()
    assert result["health"] == "degraded" and result["services"]["ollama"] == "unreachable", result
    assert "has not published its certificate's public key" in result["msg"] and instance_id in result["msg"]
    assert stop.seen and sent_credentials(stop.seen) == []  # the public status document only
    assert {r["path"] for r in stop.seen} <= {"/geusemaker/status.json", "/healthz"}


def test_the_key_published_during_the_wait_is_found(aws, tmp_path, recorded, capsys):
    put_credentials()
    instance_id = recorded(launch(pin=None))
    url, stop = start_stub("healthy", credentials=CREDENTIALS, publish=False)

    def boot_publishes():  # what the boot script does, a moment into the wait
        time.sleep(0.5)
        boto3.client("ec2").create_tags(Resources=[instance_id], Tags=[{"Key": "geusemaker:tls-spki-sha256", "Value": STUB_KEY}])

    publisher = threading.Thread(target=boot_publishes)
    publisher.start()
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=10, interval=0.1)
    finally:
        publisher.join()
        stop()
    assert result["health"] == "healthy", result
    assert sent_credentials(stop.seen)


def test_an_instance_of_another_stack_in_the_ledger_gets_nothing(aws, tmp_path, recorded, capsys):
    put_credentials()
    recorded(launch(stack_name="victim"))  # a hostile ledger: someone else's instance recorded as the stack's
    url, stop = start_stub("healthy", credentials=CREDENTIALS, publish=False)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=5, interval=0.05)
    finally:
        stop()
    assert result["failed"] and result["error_code"] == "NotOwned", result
    assert "is not stack unit's (its geusemaker:stack tag says 'victim')" in result["msg"]
    assert stop.seen == []


def test_a_stack_without_an_instance_is_refused(aws, tmp_path, make_stack, capsys):
    make_stack("unit")
    result = run_module(capsys, tmp_path, timeout=5)
    assert result["failed"] and result["error_code"] == "NotOwned" and "has no instance recorded" in result["msg"]


def test_a_plain_url_gets_no_credential(aws, tmp_path, capsys):
    put_credentials()
    url, stop = start_stub("healthy", credentials=CREDENTIALS, publish=False)
    try:
        result = run_module(capsys, tmp_path, url=url, timeout=1, interval=0.05)
    finally:
        stop()
    assert result["health"] == "degraded" and result["services"]["n8n"] == "healthy", result
    assert stop.seen and sent_credentials(stop.seen) == []
    assert "instance_id" not in result


def test_a_redirect_is_not_followed(stub):
    import http.server
    import threading

    seen = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, _body = health.http_get("http://127.0.0.1:{0}/x".format(server.server_address[1]), 5, False)
    finally:
        server.shutdown()
        server.server_close()
    assert status == 302 and seen == ["/x"]


def test_module_fails_on_a_failed_boot_with_the_failure_record(aws, tmp_path, recorded, capsys):
    put_credentials()
    recorded(launch())
    for mode, expected in (("efs_failed", ("file_system", "EfsMountFailed", "efs")), ("secrets_failed", ("instance", "BootFailed", "secrets"))):
        url, stop = start_stub(mode, credentials=CREDENTIALS, publish=False)
        try:
            result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=60, interval=0.05)
        finally:
            stop()
        assert result["failed"] and result["health"] == "boot_failed"
        assert (result["resource_type"], result["error_code"], result["stage"]) == expected
        assert "stage {0} ({0}_failed)".format(expected[2]) in result["msg"]
        assert result["status_document"]["stage"] == expected[2] + "_failed"


def test_module_reports_a_failed_boot_without_failing_when_told(aws, tmp_path, recorded, capsys):
    put_credentials()
    recorded(launch())
    url, stop = start_stub("volume_failed", credentials=CREDENTIALS, publish=False)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=60, interval=0.05, fail_on_boot_failure=False)
    finally:
        stop()
    assert not result.get("failed") and result["health"] == "boot_failed" and result["error_code"] == "VolumeMountFailed"


def test_module_degraded_result_carries_the_failure_record(aws, tmp_path, recorded, capsys):
    put_credentials()
    recorded(launch())
    url, stop = start_stub("unhealthy", credentials=CREDENTIALS, publish=False)
    try:
        result = run_module(capsys, tmp_path, connect_to=connect_to(url), timeout=0, interval=0.05)
    finally:
        stop()
    assert not result.get("failed") and result["health"] == "degraded"
    assert (result["resource_type"], result["error_code"]) == ("instance", "ServicesUnhealthy") and result["msg"]


def test_module_fails_when_its_credentials_are_missing(aws, tmp_path, recorded, capsys):
    put_credentials(qdrant_api_key=None)
    recorded(launch())
    result = run_module(capsys, tmp_path, connect_to="127.0.0.1:9")
    assert result["failed"] and result["error_code"] == "ParameterNotFound"
    assert result["msg"] == "cannot authenticate the probes: SSM parameter(s) missing: /geusemaker/unit/qdrant_api_key"
    assert CREDENTIALS["proxy_password"] not in json.dumps(result)


def test_module_fails_when_ssm_refuses(aws, tmp_path, recorded, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise client_error("AccessDeniedException", "GetParameters", message="no")

    recorded(launch())
    monkeypatch.setattr(health, "read_credentials", refuse)
    result = run_module(capsys, tmp_path, connect_to="127.0.0.1:9")
    assert result["failed"] and "cannot read the probes' credentials under /geusemaker/unit/" in result["msg"]
    assert result["error_code"] == "AccessDeniedException"


def test_module_check_mode_skips(aws, tmp_path, capsys):
    result = run_module(capsys, tmp_path, url="https://127.0.0.1:9", _ansible_check_mode=True)
    assert result["health"] == "skipped"


@pytest.mark.parametrize("args, message", [
    (dict(url="127.0.0.1"), "url must start"),
    (dict(url="http://127.0.0.1:9", timeout=-1), "timeout"),
    (dict(url="http://127.0.0.1:9", interval=0), "interval"),
    (dict(url="http://127.0.0.1:9", services=["mysql"]), "mysql"),
    (dict(connect_to="127.0.0.1"), "connect_to must be host:port"),
    (dict(connect_to="127.0.0.1:99999"), "connect_to must be host:port"),
    (dict(url="https://127.0.0.1:9", connect_to="127.0.0.1:9"), "mutually exclusive"),
])
def test_module_refuses_bad_options(aws, tmp_path, capsys, args, message):
    result = run_module(capsys, tmp_path, **args)
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
        unverified = ssl._create_unverified_context()  # the stub's certificate is self-signed
        assert urllib.request.urlopen(urllib.request.Request(url + "/qdrant/healthz", headers=bearer), context=unverified).status == 200
    finally:
        stop()
    url, stop = start_stub("healthy", endpoint=emulator, ssm_path="/geusemaker/other/")  # one stack's only
    try:
        assert health.check(url, ["ollama"], timeout=0, interval=0.05, credentials=CREDENTIALS)["health"] == "degraded"
        assert health.check(url, ["ollama"], timeout=0, interval=0.05, credentials=other)["health"] == "healthy"
    finally:
        stop()
