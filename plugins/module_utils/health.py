# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Health of a deployed stack, read through its nginx: the boot status document plus each service's own probe.

The status document, written by the UserData (roles/services/templates/user_data.sh.j2)::

    {"schema": 1, "stage": "...", "efs": {"state": "pending|mounted|mount_failed", "detail": "..."},
     "services": {"n8n": "starting|running|failed", "ollama": ..., "qdrant": ..., "crawl4ai": ..., "postgres": ...},
     "updated_at": "<ISO UTC>"}
"""

import json
import time
from http.client import HTTPException

from ansible.module_utils.urls import open_url

from ansible_collections.geusemaker.stack.plugins.module_utils.polling import PollTimeout, poll_until

STATUS_PATH = "/geusemaker/status.json"
# Paths through nginx; postgres has none and is judged by the status document alone.
SERVICE_PATHS = {
    "n8n": "/healthz",
    "ollama": "/ollama/",
    "qdrant": "/qdrant/healthz",
    "crawl4ai": "/crawl4ai/health",
    "postgres": None,
}
SERVICES = tuple(SERVICE_PATHS)
REQUEST_TIMEOUT = 10


def http_get(url, timeout, validate_certs):
    """(status, body) of a GET, or (None, reason) when nothing usable answered."""
    try:
        response = open_url(url, timeout=timeout, validate_certs=validate_certs, follow_redirects="safe")
        return response.getcode(), response.read()
    except (OSError, HTTPException, ValueError) as e:
        return getattr(e, "code", None), str(e)


def read_status(base_url, timeout, validate_certs, get=http_get):
    status, body = get(base_url + STATUS_PATH, timeout, validate_certs)
    if status != 200:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def service_states(base_url, services, document, timeout, validate_certs, get=http_get):
    """Per service: healthy, or what the document says (starting, failed), or unreachable."""
    reported = (document or {}).get("services") or {}
    states = {}
    for name in services:
        path = SERVICE_PATHS[name]
        if path is None:
            healthy = reported.get(name) == "running"
        else:
            status, _ = get(base_url + path, timeout, validate_certs)
            healthy = status is not None and 200 <= status < 300
        if healthy:
            states[name] = "healthy"
        elif reported.get(name) in ("starting", "failed"):
            states[name] = reported[name]
        else:
            states[name] = "unreachable"
    return states


def efs_state(document):
    return ((document or {}).get("efs") or {}).get("state", "unknown")


def check(url, services, timeout=900, interval=5.0, validate_certs=False, get=http_get, clock=time.monotonic, sleep=time.sleep):
    """Poll until every service is healthy, the EFS mount is reported failed, or ``timeout``.

    Returns {health: healthy|degraded|efs_mount_failed, status_document, services, elapsed}.
    """
    base_url = url.rstrip("/")
    started = clock()
    deadline = started + timeout
    last = {"document": None, "services": {name: "unreachable" for name in services}}

    def probe():
        request_timeout = max(1, min(REQUEST_TIMEOUT, deadline - clock()))
        document = read_status(base_url, request_timeout, validate_certs, get)
        if document is not None:
            last["document"] = document
        last["services"] = service_states(base_url, services, last["document"], request_timeout, validate_certs, get)
        if efs_state(last["document"]) == "mount_failed":
            return "efs_mount_failed"
        if all(state == "healthy" for state in last["services"].values()):
            return "healthy"
        return None

    try:
        health = poll_until(probe, timeout, interval=interval, clock=clock, sleep=sleep)
    except PollTimeout:
        health = "degraded"
    return {
        "health": health,
        "status_document": last["document"],
        "services": last["services"],
        "elapsed": round(clock() - started, 3),
    }
