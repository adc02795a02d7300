"""Runs the instance's nginx for real and sends it requests; prints one JSON object of results.

Started by tests/unit/test_nginx.py inside a scratch instance (boot_harness: its /etc/nginx and /opt/geusemaker,
as the boot script left them) and a network namespace of its own (unshare -n), so that 443 and the services'
ports are free. Stub upstreams listen on the ports nginx proxies to and answer with what they received.

    python nginx_probe.py REQUESTS_JSON
REQUESTS_JSON: [{"path": "/ollama/", "headers": {"Authorization": "Basic ..."}}, ...]
Output: {"requests": [{"path", "status", "body", "upstream": {"port", "path", "headers"} or null}], "nginx_error": ...}
"""

import http.client
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NGINX = "/usr/sbin/nginx"
UPSTREAM_PORTS = {5678: "n8n", 11434: "ollama", 6333: "qdrant", 11235: "crawl4ai"}


def upstream(port):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"port": port, "service": UPSTREAM_PORTS[port], "path": self.path,
                               "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_for_port(port, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def request(path, headers, method="GET"):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", 443, context=context, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
    finally:
        connection.close()
    seen = None
    if response.getheader("Content-Type", "").startswith("application/json"):
        try:
            parsed = json.loads(body)
            seen = parsed if isinstance(parsed, dict) and "port" in parsed else None
        except ValueError:
            pass
    return {"path": path, "status": response.status, "body": body, "upstream": seen}


def main():
    wanted = json.loads(sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    servers = [upstream(port) for port in UPSTREAM_PORTS]
    # In the foreground, so that it ends with this process and nothing is left in the namespace.
    nginx = subprocess.Popen([NGINX, "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = {"nginx_started": False, "requests": []}
    try:
        result["nginx_started"] = wait_for_port(443) and nginx.poll() is None
        if result["nginx_started"]:
            for item in wanted:
                result["requests"].append(request(item["path"], item.get("headers"), item.get("method", "GET")))
    finally:
        nginx.terminate()
        result["nginx_output"] = nginx.communicate(timeout=20)[0][-4000:]
        for server in servers:
            server.shutdown()
        try:
            with open("/var/log/nginx/error.log", encoding="utf-8", errors="replace") as f:
                result["nginx_error"] = f.read()[-4000:]
        except OSError as e:
            result["nginx_error"] = str(e)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
