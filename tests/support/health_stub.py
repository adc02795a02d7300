"""A loopback stand-in for a deployed stack's nginx: the boot status document and the service probes.

Library: ``url, stop = start_stub("healthy")``. Command line (runs until killed):
``python tests/support/health_stub.py --port 8443 --mode healthy``.

Modes: ``healthy`` (EFS mounted, every service answers), ``efs_failed`` (the EFS mount failed),
``unhealthy`` (EFS mounted, the services never come up).
"""

import argparse
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("healthy", "efs_failed", "unhealthy")
SERVICES = ("n8n", "ollama", "qdrant", "crawl4ai", "postgres")
SERVICE_PATHS = ("/healthz", "/ollama/", "/qdrant/healthz", "/crawl4ai/health")


def status_document(mode):
    if mode == "efs_failed":
        efs = {"state": "mount_failed", "detail": "mount -t efs fs-12345678:/ /mnt/efs failed 5 times"}
        services = {name: "failed" for name in SERVICES}
        stage = "efs_mount_failed"
    else:
        efs = {"state": "mounted", "detail": "fs-12345678 on /mnt/efs"}
        services = {name: "running" if mode == "healthy" else "starting" for name in SERVICES}
        stage = "running" if mode == "healthy" else "starting_services"
    return {
        "schema": 1,
        "stage": stage,
        "efs": efs,
        "services": services,
        "updated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def make_handler(mode):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/geusemaker/status.json":
                self._send(200, json.dumps(status_document(mode)), "application/json")
            elif path in SERVICE_PATHS and mode == "healthy":
                self._send(200, "ok\n", "text/plain")
            elif path in SERVICE_PATHS:
                self._send(502, "bad gateway\n", "text/plain")
            else:
                self._send(404, "not found\n", "text/plain")

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


def make_server(mode, port=0):
    if mode not in MODES:
        raise ValueError("mode must be one of {0}".format(", ".join(MODES)))
    return ThreadingHTTPServer(("127.0.0.1", port), make_handler(mode))


def start_stub(mode="healthy", port=0):
    """Serve in a background thread; returns (base url, stop function)."""
    server = make_server(mode, port)
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
    args = parser.parse_args()
    server = make_server(args.mode, args.port)
    print("http://127.0.0.1:{0}".format(server.server_address[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
