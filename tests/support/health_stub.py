"""A loopback stand-in for a deployed stack's nginx: the boot status document (schema 2) and the service probes,
behind the same credentials the real proxy requires.

Library: ``url, stop = start_stub("healthy")``. Command line (runs until killed):
``python tests/support/health_stub.py --port 8443 --mode healthy [--endpoint URL] [--ssm-path /geusemaker/demo/]``.

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
import json
import os
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("healthy", "efs_failed", "unhealthy", "secrets_failed", "volume_failed")
SERVICES = ("n8n", "ollama", "qdrant", "crawl4ai", "postgres")
SERVICE_PATHS = {"/healthz": "n8n", "/ollama/": "ollama", "/qdrant/healthz": "qdrant", "/crawl4ai/health": "crawl4ai"}
CREDENTIALS = ("proxy_password", "qdrant_api_key")
STAGES = ["boot", "install", "volume", "efs", "secrets", "services", "owner", "proxy", "services_started"]
FAILED_AT = {"efs_failed": "efs", "volume_failed": "volume", "secrets_failed": "secrets"}


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_document(mode):
    volume = {"state": "mounted", "detail": "/dev/nvme1n1 (existing ext4 filesystem, UUID=0f0e0d0c-0000-4000-8000-000000000000) on /mnt/data"}
    efs = {"state": "mounted", "detail": "fs-12345678 on /mnt/efs"}
    if mode in FAILED_AT:
        failed = FAILED_AT[mode]
        stage = failed + "_failed"
        problem = {
            "efs": "mount -t efs -o tls,iam fs-12345678:/ /mnt/efs failed 6 times",
            "volume": "no data volume at /dev/sdf /dev/xvdf after 600 s",
            "secrets": "cannot read /geusemaker/demo/qdrant_api_key from SSM Parameter Store",
        }[failed]
        if failed == "efs":
            efs = {"state": "mount_failed", "detail": problem}
        elif failed == "volume":
            volume = {"state": "mount_failed", "detail": problem}
            efs = {"state": "pending", "detail": ""}
        services = {name: "failed" for name in SERVICES}
        log = ["== {0} stage {1}".format(now(), s) for s in STAGES[:STAGES.index(failed) + 1]]
        log += ["!! " + problem, "!! stage {0} failed (exit status 1)".format(failed), "== {0} stage {1}".format(now(), stage)]
    else:
        stage = "running" if mode == "healthy" else "services_started"
        services = {name: "running" if mode == "healthy" else "starting" for name in SERVICES}
        log = ["== {0} stage {1}".format(now(), s) for s in STAGES]
    return {
        "schema": 2,
        "stage": stage,
        "boot_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "boot_count": 1,
        "volume": volume,
        "efs": efs,
        "services": services,
        "log_tail": log[-20:],
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
        import boto3  # only where the stub reads the emulator
        from botocore.exceptions import BotoCoreError, ClientError

        ssm = boto3.client(
            "ssm", endpoint_url=endpoint,
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
        )
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


def make_handler(mode, expected):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
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


def make_server(mode, port=0, credentials=None, endpoint=None, ssm_path=None):
    if mode not in MODES:
        raise ValueError("mode must be one of {0}".format(", ".join(MODES)))
    expected = ExpectedCredentials(credentials, endpoint, ssm_path)
    return ThreadingHTTPServer(("127.0.0.1", port), make_handler(mode, expected))


def start_stub(mode="healthy", port=0, credentials=None, endpoint=None, ssm_path=None):
    """Serve in a background thread; returns (base url, stop function).

    ``credentials``: {proxy_password, qdrant_api_key} the requests must carry; without it, those in SSM on the
    emulator (``endpoint``, default AWS_ENDPOINT_URL at request time), under ``ssm_path`` or any stack's path.
    """
    server = make_server(mode, port, credentials, endpoint, ssm_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join()

    return "http://127.0.0.1:{0}".format(server.server_address[1]), stop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="healthy")
    parser.add_argument("--endpoint", help="the emulator holding the stack's SSM parameters (default: AWS_ENDPOINT_URL)")
    parser.add_argument("--ssm-path", help="the stack's SSM path (default: any stack's under /geusemaker/)")
    args = parser.parse_args()
    server = make_server(args.mode, args.port, endpoint=args.endpoint, ssm_path=args.ssm_path)
    print("http://127.0.0.1:{0}".format(server.server_address[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
