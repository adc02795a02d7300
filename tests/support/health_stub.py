"""A loopback stand-in for a deployed stack's nginx: HTTPS with the instance's key, the boot status document
(schema 3) and the service probes, behind the same credentials the real proxy requires; and, as the instance's boot
does, the key's SHA-256 published on the stack's instance tag.

Library: ``url, stop = start_stub("healthy")`` (``url`` is ``https://127.0.0.1:<port>``; ``connect_to(url)`` gives the
``host:port`` a deploy passes as ``health_check_connect_to``). Command line (runs until killed):
``python tests/support/health_stub.py --port 8443 --mode healthy [--endpoint URL] [--ssm-path /geusemaker/demo/]``.

TLS: the key and certificate in tests/support/stub_tls (test-only, never a real stack's): ``key="instance"`` by
default, ``key="impostor"`` for a server that is not the instance. Every request's path and headers are kept in
``stop.seen`` (a list), so a test can show what reached the server.

Publishing: unless ``publish=False``, a thread reads the emulator (``endpoint``) every 0.2 s and tags each running or
pending instance of the stack (of ``ssm_path``'s stack, else of any) that has no ``geusemaker:tls-spki-sha256`` yet
with the SHA-256 of the stub's public key, as the boot script does on a real instance.

Credentials, as nginx on the instance: ``/ollama/`` and ``/crawl4ai/`` want HTTP basic auth ``geusemaker`` with
the stack's ``proxy_password``, ``/qdrant/`` the ``api-key`` header (or ``Authorization: Bearer``) with its
``qdrant_api_key``; n8n's ``/healthz`` and the status document are public. Without them: 401. The expected values
are ``credentials`` when given; else they are read, at each request (the deploy creates them after the stub
starts), from SSM on the emulator at ``endpoint`` (default: the AWS_ENDPOINT_URL of the moment), under
``ssm_path`` or, without it, under any stack's path below /geusemaker/. With neither, nothing opens.

Modes: ``healthy`` (everything mounted, every service answers), ``unhealthy`` (the services never come up:
502 behind the credentials), and failed boots, where the proxy never opened (503 everywhere but the status
document): ``efs_failed`` (the EFS mount failed), ``volume_failed`` (no data volume), ``secrets_failed`` (a
secret could not be read from SSM).
"""

import argparse
import base64
import hashlib
import json
import os
import ssl
import subprocess
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("healthy", "efs_failed", "unhealthy", "secrets_failed", "volume_failed")
SERVICES = ("n8n", "ollama", "qdrant", "crawl4ai", "postgres")
SERVICE_PATHS = {"/healthz": "n8n", "/ollama/": "ollama", "/qdrant/healthz": "qdrant", "/crawl4ai/health": "crawl4ai"}
CREDENTIALS = ("proxy_password", "qdrant_api_key")
STAGES = ["boot", "install", "volume", "efs", "secrets", "services", "owner", "proxy", "services_started"]
FAILED_AT = {"efs_failed": "efs", "volume_failed": "volume", "secrets_failed": "secrets"}
TLS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub_tls")
STACK_TAG = "geusemaker:stack"
TLS_KEY_TAG = "geusemaker:tls-spki-sha256"


def key_files(key):
    return os.path.join(TLS_DIR, key + "-cert.pem"), os.path.join(TLS_DIR, key + "-key.pem")


def spki_sha256(key):
    """The SHA-256 of the key's public half, as the boot script computes it (openssl pkey ... | sha256sum)."""
    der = subprocess.run(["openssl", "pkey", "-in", key_files(key)[1], "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def connect_to(url):
    """``https://127.0.0.1:8443`` -> ``127.0.0.1:8443``."""
    return url.split("://", 1)[1].rstrip("/")


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_document(mode):
    volume = {"state": "mounted", "detail": "mounted on /mnt/data (existing ext4 filesystem)"}
    efs = {"state": "mounted", "detail": "mounted on /mnt/efs"}
    if mode in FAILED_AT:
        failed = FAILED_AT[mode]
        stage = failed + "_failed"
        problem = {
            "efs": "mount -t efs -o tls,iam of the stack's file system on /mnt/efs failed 6 times",
            "volume": "no data volume at /dev/sdf /dev/xvdf after 600 s",
            "secrets": "cannot read /geusemaker/demo/qdrant_api_key from SSM Parameter Store",
        }[failed]
        if failed == "efs":
            efs = {"state": "mount_failed", "detail": problem}
        elif failed == "volume":
            volume = {"state": "mount_failed", "detail": problem}
            efs = {"state": "pending", "detail": ""}
        services = {name: "failed" for name in SERVICES}
    else:
        stage = "running" if mode == "healthy" else "services_started"
        services = {name: "running" if mode == "healthy" else "starting" for name in SERVICES}
    return {
        "schema": 3,
        "stage": stage,
        "boot_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "boot_count": 1,
        "volume": volume,
        "efs": efs,
        "services": services,
        "updated_at": now(),
    }


class ExpectedCredentials:
    """The credentials a request must carry: given ones, or those SSM holds on the emulator right now."""

    def __init__(self, credentials=None, endpoint=None, ssm_path=None):
        self.credentials = credentials
        self.endpoint = endpoint
        self.ssm_path = ssm_path

    def candidates(self):
        """[{proxy_password, qdrant_api_key}], one per stack that has both."""
        if self.credentials is not None:
            return [self.credentials]
        endpoint = self.endpoint or os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            return []
        from botocore.exceptions import BotoCoreError, ClientError

        ssm = emulator_client("ssm", endpoint)
        found = {}
        try:
            kwargs = dict(Path=self.ssm_path or "/geusemaker/", Recursive=True, WithDecryption=True)
            while True:
                page = ssm.get_parameters_by_path(**kwargs)
                for parameter in page.get("Parameters", []):
                    path, _unused, name = parameter["Name"].rpartition("/")
                    if name in CREDENTIALS:
                        found.setdefault(path, {})[name] = parameter["Value"]
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        except (BotoCoreError, ClientError):
            return []
        return [values for values in found.values() if all(values.get(name) for name in CREDENTIALS)]


def authorized(service, headers, expected):
    if service == "n8n":
        return True
    authorization = headers.get("Authorization") or ""
    for values in expected.candidates():
        if service in ("ollama", "crawl4ai"):
            token = base64.b64encode("geusemaker:{0}".format(values["proxy_password"]).encode()).decode()
            if authorization == "Basic " + token:
                return True
        elif service == "qdrant":
            if values["qdrant_api_key"] in (headers.get("api-key"), authorization[len("Bearer "):] if authorization.startswith("Bearer ") else None):
                return True
    return False


def make_handler(mode, expected, seen):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            seen.append({"path": path, "headers": dict(self.headers)})
            service = SERVICE_PATHS.get(path)
            if path == "/geusemaker/status.json":
                self._send(200, json.dumps(status_document(mode)), "application/json")
            elif mode in FAILED_AT:  # the proxy never opened
                self._send(503, "service unavailable\n", "text/plain")
            elif service is None:
                self._send(404, "not found\n", "text/plain")
            elif not authorized(service, self.headers, expected):
                self._send(401, "authorization required\n", "text/plain")
            elif mode == "healthy":
                self._send(200, "ok\n", "text/plain")
            else:
                self._send(502, "bad gateway\n", "text/plain")

        def _send(self, code, body, content_type):
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass

    return Handler


def emulator_client(service, endpoint):
    import boto3  # only where the stub reads the emulator

    return boto3.client(
        service, endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
    )


class Publisher:
    """What the boot script does once on the instance: its key's SHA-256 on its tag geusemaker:tls-spki-sha256."""

    def __init__(self, key, endpoint=None, ssm_path=None, interval=0.2):
        self.pin = spki_sha256(key)
        self.endpoint, self.interval = endpoint, interval
        self.stack = ssm_path.strip("/").split("/")[-1] if ssm_path else None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def publish_once(self):
        endpoint = self.endpoint or os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        ec2 = emulator_client("ec2", endpoint)
        filters = [{"Name": "instance-state-name", "Values": ["pending", "running"]},
                   {"Name": "tag:" + STACK_TAG, "Values": [self.stack]} if self.stack else {"Name": "tag-key", "Values": [STACK_TAG]}]
        try:
            for reservation in ec2.describe_instances(Filters=filters)["Reservations"]:
                for item in reservation["Instances"]:
                    if not any(tag["Key"] == TLS_KEY_TAG for tag in item.get("Tags") or []):
                        ec2.create_tags(Resources=[item["InstanceId"]], Tags=[{"Key": TLS_KEY_TAG, "Value": self.pin}])
        except (BotoCoreError, ClientError):
            pass

    def run(self):
        while not self.stopped.wait(self.interval):
            self.publish_once()


def make_server(mode, port=0, credentials=None, endpoint=None, ssm_path=None, key="instance"):
    if mode not in MODES:
        raise ValueError("mode must be one of {0}".format(", ".join(MODES)))
    expected = ExpectedCredentials(credentials, endpoint, ssm_path)
    seen = []
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(mode, expected, seen))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*key_files(key))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.seen = seen
    return server


def start_stub(mode="healthy", port=0, credentials=None, endpoint=None, ssm_path=None, key="instance", publish=True):
    """Serve in a background thread; returns (base url, stop function), ``stop.seen`` the requests received.

    ``credentials``: {proxy_password, qdrant_api_key} the requests must carry; without it, those in SSM on the
    emulator (``endpoint``, default AWS_ENDPOINT_URL at request time), under ``ssm_path`` or any stack's path.
    ``key``: the stub's TLS key (tests/support/stub_tls). ``publish``: tag the stack's instances with it.
    """
    server = make_server(mode, port, credentials, endpoint, ssm_path, key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    publisher = Publisher(key, endpoint, ssm_path) if publish else None
    if publisher:
        publisher.thread.start()

    def stop():
        if publisher:
            publisher.stopped.set()
            publisher.thread.join()
        server.shutdown()
        server.server_close()
        thread.join()

    stop.seen = server.seen
    return "https://127.0.0.1:{0}".format(server.server_address[1]), stop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="healthy")
    parser.add_argument("--endpoint", help="the emulator holding the stack's SSM parameters (default: AWS_ENDPOINT_URL)")
    parser.add_argument("--ssm-path", help="the stack's SSM path (default: any stack's under /geusemaker/)")
    args = parser.parse_args()
    server = make_server(args.mode, args.port, endpoint=args.endpoint, ssm_path=args.ssm_path)
    publisher = Publisher("instance", args.endpoint, args.ssm_path)
    publisher.thread.start()
    print("https://127.0.0.1:{0}".format(server.server_address[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        publisher.stopped.set()
        server.server_close()


if __name__ == "__main__":
    main()
