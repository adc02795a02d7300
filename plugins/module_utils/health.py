# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Health of a deployed stack, read through its nginx: the boot status document plus each service's own probe.

The status document, ``/geusemaker/status.json``, public (it carries no secret), written by the boot script
(roles/services/templates/user_data.sh.j2) at every stage and every 30 s after, schema 2::

    {"schema": 2,
     "stage": "<stage>",
     "boot_id": "<the kernel's boot id>", "boot_count": <boots of this instance's root disk>,
     "address": "<the public name (else address) this boot found in the instance metadata>",
     "gpu": "pending|none|<the GPU names nvidia-smi lists, comma separated>",
     "volume": {"state": "pending|waiting|mounted|mount_failed|missing", "detail": "..."},
     "efs": {"state": "pending|mounted|mount_failed|missing", "detail": "..."},
     "services": {"n8n": "starting|running|failed", "ollama": ..., "qdrant": ..., "crawl4ai": ..., "postgres": ...},
     "log_tail": ["<the last 20 lines of /var/log/geusemaker-boot.log, printable ASCII>", ...],
     "updated_at": "<ISO 8601 UTC>"}

``stage`` goes ``boot``, ``install`` (packages, then nginx serving this document and 503 for everything else),
``volume`` (the data volume at /mnt/data: PostgreSQL, Qdrant), ``efs`` (/mnt/efs, TLS and IAM: n8n, Ollama,
Crawl4AI files), ``secrets`` (from SSM), ``services`` (containers), ``owner`` (n8n's owner account, on
127.0.0.1), ``proxy`` (nginx opens the services), ``services_started``, then ``running`` once every service
answers. A failure is published as ``<stage>_failed`` (``volume_failed`` and ``efs_failed`` with the mount's
``state: mount_failed`` and a ``detail``) and the boot stops there. At every later boot, a mount the boot script
made that is gone is ``missing``, and the stage becomes ``volume_failed`` or ``efs_failed``; EFS is tried again
until it mounts (the stage then goes back to ``services_started``), while the data volume's services run. The
address, n8n's URLs and the certificate follow the instance's public address at every boot. A service is
``starting`` until its container runs, ``failed`` when the boot failed before the containers or the container
stopped. Schema 1 (before the volume) had no volume, boot or log fields and published ``efs_mount_failed``.

The services' paths through nginx need their credentials (SSM SecureString parameters under the stack's path):
``/ollama/`` and ``/crawl4ai/`` HTTP basic auth, user ``geusemaker``, password ``proxy_password``;
``/qdrant/`` the ``api-key`` header, ``qdrant_api_key``. n8n's ``/healthz`` and the status document are public.
"""

import base64
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

PROXY_USER = "geusemaker"
# The SSM parameters, under the stack's path, that the probes need.
CREDENTIALS = ("proxy_password", "qdrant_api_key")
BASIC_AUTH_SERVICES = ("ollama", "crawl4ai")

FAILED_SUFFIX = "_failed"
# Failed boot stage -> (resource_type, error_code) of the failure; any other stage is the instance's.
STAGE_FAILURES = {
    "efs": ("file_system", "EfsMountFailed"),
    "volume": ("volume", "VolumeMountFailed"),
}
BOOT_FAILED = ("instance", "BootFailed")
UNHEALTHY = ("instance", "ServicesUnhealthy")


class CredentialsError(Exception):
    pass


def read_credentials(ssm, path, **call_options):
    """{name: value} of CREDENTIALS under ``path``, decrypted; the values are only ever kept in memory.

    ``ssm`` is a boto3 SSM client (AWS errors propagate), ``call_options`` extra arguments of its call (such as
    ``aws_retry=True``); CredentialsError names the parameters that are missing.
    """
    names = [path + name for name in CREDENTIALS]
    response = ssm.get_parameters(Names=names, WithDecryption=True, **call_options)
    values = {p["Name"][len(path):]: p["Value"] for p in response.get("Parameters", []) if p["Name"] in names}
    missing = [path + name for name in CREDENTIALS if not values.get(name)]
    if missing:
        raise CredentialsError("SSM parameter(s) missing: {0}".format(", ".join(missing)))
    return values


def auth_headers(service, credentials):
    """The headers that open ``service``'s path through nginx, from ``credentials`` (or none without)."""
    if not credentials:
        return {}
    if service in BASIC_AUTH_SERVICES:
        token = base64.b64encode("{0}:{1}".format(PROXY_USER, credentials["proxy_password"]).encode("utf-8"))
        return {"Authorization": "Basic " + token.decode("ascii")}
    if service == "qdrant":
        return {"api-key": credentials["qdrant_api_key"]}
    return {}


def http_get(url, timeout, validate_certs, headers=None):
    """(status, body) of a GET, or (None, reason) when nothing usable answered."""
    try:
        response = open_url(url, timeout=timeout, validate_certs=validate_certs, follow_redirects="safe", headers=headers)
        return response.getcode(), response.read()
    except (OSError, HTTPException, ValueError) as e:
        return getattr(e, "code", None), str(e)


def _get(get, url, timeout, validate_certs, headers):
    # Callers' get functions without a headers argument still work where no credential is sent.
    if headers:
        return get(url, timeout, validate_certs, headers=headers)
    return get(url, timeout, validate_certs)


def read_status(base_url, timeout, validate_certs, get=http_get):
    status, body = _get(get, base_url + STATUS_PATH, timeout, validate_certs, None)
    if status != 200:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def service_states(base_url, services, document, timeout, validate_certs, get=http_get, credentials=None):
    """Per service: healthy, or what the document says (starting, failed), or unreachable."""
    reported = (document or {}).get("services") or {}
    states = {}
    for name in services:
        path = SERVICE_PATHS[name]
        if path is None:
            healthy = reported.get(name) == "running"
        else:
            status, _unused = _get(get, base_url + path, timeout, validate_certs, auth_headers(name, credentials))
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


def failed_stage(document):
    """The boot stage the instance reports as failed (``efs`` for ``efs_failed``), or None."""
    stage = (document or {}).get("stage")
    if isinstance(stage, str) and stage.endswith(FAILED_SUFFIX):
        return stage[:-len(FAILED_SUFFIX)]
    if efs_state(document) == "mount_failed":  # schema 1 published this alone at times
        return "efs"
    return None


def stage_failure(stage):
    """(resource_type, error_code) of a failed boot stage."""
    for prefix, failure in STAGE_FAILURES.items():
        if stage == prefix or stage.startswith(prefix + "_"):  # schema 1: efs_mount
            return failure
    return BOOT_FAILED


def log_tail(document):
    tail = (document or {}).get("log_tail")
    return [str(line) for line in tail] if isinstance(tail, list) else []


def boot_failure_message(stage, document):
    resource_type, _unused = stage_failure(stage)
    parts = ["the instance reports that its boot failed at stage {0} ({0}{1})".format(stage, FAILED_SUFFIX)]
    detail = ((document or {}).get({"volume": "volume", "file_system": "efs"}.get(resource_type, "")) or {}).get("detail")
    if detail:
        parts.append(": {0}".format(detail))
    tail = log_tail(document)
    if tail:
        parts.append("; last lines of /var/log/geusemaker-boot.log:\n" + "\n".join(tail))
    return "".join(parts)


def degraded_message(states, document, timeout):
    unhealthy = ", ".join("{0} {1}".format(name, state) for name, state in states.items() if state != "healthy")
    stage = (document or {}).get("stage", "unknown: no status document read")
    return "the services were not all healthy within {0}s: {1} (boot stage {2})".format(timeout, unhealthy, stage)


def check(url, services, timeout=900, interval=5.0, validate_certs=False, get=http_get, clock=time.monotonic,
          sleep=time.sleep, credentials=None, heartbeat=None):
    """Poll until every service is healthy, the instance reports a failed boot stage, or ``timeout``.

    ``credentials``: {proxy_password, qdrant_api_key} for the probes (see read_credentials), or None.
    ``heartbeat()``, when given, is called between rounds (the run's lock stays alive during the wait).
    Returns {health: healthy|degraded|boot_failed, status_document, services, elapsed}; a boot failure (at once,
    whatever the timeout) adds stage, resource_type, error_code and msg (with the log tail); degraded adds
    resource_type (instance), error_code (ServicesUnhealthy) and msg.
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
        last["services"] = service_states(base_url, services, last["document"], request_timeout, validate_certs, get,
                                          credentials)
        if failed_stage(last["document"]):
            return "boot_failed"
        if all(state == "healthy" for state in last["services"].values()):
            return "healthy"
        return None

    try:
        health = poll_until(probe, timeout, interval=interval, clock=clock, sleep=sleep, heartbeat=heartbeat)
    except PollTimeout:
        health = "degraded"
    result = {
        "health": health,
        "status_document": last["document"],
        "services": last["services"],
        "elapsed": round(clock() - started, 3),
    }
    if health == "boot_failed":
        stage = failed_stage(last["document"])
        resource_type, error_code = stage_failure(stage)
        result.update(stage=stage, resource_type=resource_type, error_code=error_code,
                      msg=boot_failure_message(stage, last["document"]))
    elif health == "degraded":
        result.update(resource_type=UNHEALTHY[0], error_code=UNHEALTHY[1],
                      msg=degraded_message(last["services"], last["document"], timeout))
    return result
