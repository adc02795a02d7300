# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Health of a deployed stack, read through its nginx: the boot status document plus each service's own probe.

The status document, ``/geusemaker/status.json``, public (it carries no secret), written by the boot script
(roles/services/templates/user_data.sh.j2) at every stage and every 30 s after, schema 3::

    {"schema": 3,
     "stage": "<stage>",
     "boot_id": "<the kernel's boot id>", "boot_count": <boots of this instance's root disk>,
     "address": "<the public name (else address) this boot found in the instance metadata>",
     "gpu": "pending|none|<the GPU names nvidia-smi lists, comma separated>",
     "volume": {"state": "pending|waiting|mounted|mount_failed|missing", "detail": "..."},
     "efs": {"state": "pending|mounted|mount_failed|missing", "detail": "..."},
     "services": {"n8n": "starting|running|failed", "ollama": ..., "qdrant": ..., "crawl4ai": ..., "postgres": ...},
     "updated_at": "<ISO 8601 UTC>"}

Anyone who reaches the address reads it, so it holds stages and states only: no log, no resource id or volume UUID,
no email (schema 2 also served the last 20 lines of the boot log; it is still read). The boot log itself,
/var/log/geusemaker-boot.log, is root's alone on the instance; a failure message says how to read it.

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
stopped. Schema 1 (before the volume) had no volume or boot fields and published ``efs_mount_failed``.

The services' paths through nginx need their credentials (SSM SecureString parameters under the stack's path):
``/ollama/`` and ``/crawl4ai/`` HTTP basic auth, user ``geusemaker``, password ``proxy_password``;
``/qdrant/`` the ``api-key`` header, ``qdrant_api_key``. n8n's ``/healthz`` and the status document are public.

Those credentials go to the stack's own instance only (StackInstance): its address is read from EC2, for the id the
ledger records and only when the instance's own tag names the stack, and the connection must present the public key
the instance published on its tag ``geusemaker:tls-spki-sha256`` (its boot script writes it with the instance role,
which may set that one tag and nothing else). HTTPS only, no redirect followed. Until the key is published, and
with a plain URL (``health_check_url``), the probes carry no credential. The status document is read before the key
is known too (it is public and holds no secret), so that a boot failing before it publishes the key ends the wait at
once; a server posing as the instance in that window could end a deploy early, never obtain a credential.
"""

import base64
import hashlib
import json
import socket
import ssl
import time
from http.client import HTTPException, HTTPSConnection
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import STACK_TAG, TLS_KEY_TAG, is_owned
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


class NotTheStacksInstance(Exception):
    """The instance the probes would reach is not the stack's, or has no address: no credential is sent."""


class NotTheInstance(Exception):
    """The server did not present the public key the instance published."""


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
    """(status, body) of a GET, or (None, reason) when nothing usable answered. A redirect is an answer, not a
    hop: no header is ever sent to where it points."""
    try:
        response = open_url(url, timeout=timeout, validate_certs=validate_certs, follow_redirects="none", headers=headers)
        return response.getcode(), response.read()
    except (OSError, HTTPException, ValueError) as e:
        return getattr(e, "code", None), str(e)


def _tlv(data, offset):
    """(tag, content start, end) of the DER element at ``offset``."""
    tag, length, head = data[offset], data[offset + 1], 2
    if length & 0x80:
        size = length & 0x7F
        length, head = int.from_bytes(data[offset + 2:offset + 2 + size], "big"), 2 + size
    return tag, offset + head, offset + head + length


def _children(data, start, end):
    """[(tag, element start, end)] of the elements between ``start`` and ``end``."""
    found = []
    while start < end:
        tag, _content, stop = _tlv(data, start)
        found.append((tag, start, stop))
        start = stop
    return found


def spki_sha256(certificate):
    """SHA-256 (hex) of a DER certificate's SubjectPublicKeyInfo: what ``openssl pkey -pubout -outform DER |
    sha256sum`` prints for its key. Stable while the key is: the instance signs its certificate again when its
    address moves, with the same key."""
    _tag, content, end = _tlv(certificate, 0)  # Certificate ::= SEQUENCE { tbsCertificate, ... }
    _tag, tbs_content, tbs_end = _tlv(certificate, content)
    fields = _children(certificate, tbs_content, tbs_end)
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    _tag, start, stop = fields[5]
    return hashlib.sha256(certificate[start:stop]).hexdigest()


class PinnedHTTPSConnection(HTTPSConnection):
    """HTTPS to ``host`` whose server must present the public key ``pin`` (spki_sha256, or None to read without
    credentials); ``connect_to`` (host, port), when given, is where the TCP connection goes (a port forward, or a
    tunnel), while the TLS name stays ``host``."""

    def __init__(self, host, pin=None, connect_to=None, timeout=REQUEST_TIMEOUT):
        tls = ssl.create_default_context()
        # The certificate is self-signed at boot: no CA vouches for it. The pin below is the check.
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        super().__init__(host, 443, timeout=timeout, context=tls)
        self.tls, self.pin, self.connect_to = tls, pin, connect_to

    def connect(self):
        raw = socket.create_connection(self.connect_to or (self.host, self.port), self.timeout)
        try:
            sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except Exception:
            raw.close()
            raise
        if self.pin is not None:
            presented = spki_sha256(sock.getpeercert(binary_form=True))
            if presented != self.pin:
                sock.close()
                raise NotTheInstance("the server at {0} presented the key {1}, not the instance's {2}".format(
                    "{0}:{1}".format(*self.connect_to) if self.connect_to else self.host, presented, self.pin))
        self.sock = sock


def pinned_get(host, pin, connect_to=None):
    """A get function (see http_get) over PinnedHTTPSConnection; with ``pin`` None it refuses to send headers."""

    def get(url, timeout, validate_certs, headers=None):
        if headers and pin is None:
            return None, "no credential sent: the instance's certificate key is not known"
        parts = urlsplit(url)
        connection = PinnedHTTPSConnection(host, pin, connect_to, timeout)
        try:
            connection.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""), headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, HTTPException, ValueError, NotTheInstance) as e:
            return None, str(e)
        finally:
            connection.close()

    return get


def parse_connect_to(text):
    """``host:port`` -> (host, port); ValueError names what is wrong."""
    host, sep, port = (text or "").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("connect_to must be host:port, such as 127.0.0.1:8443, not {0!r}".format(text))
    return host.strip("[]"), int(port)


class StackInstance:
    """The stack's instance as the probes reach it: the first of the ledger's ``ids`` that EC2 says runs and whose
    own tag names ``stack_name``, its public address (name, else IP) and the key it published on its tag.

    ``describe(ids)`` returns EC2's instances (boto3 dicts) for those ids. The key is read again at each round until
    the instance publishes it (its boot does, early in the install stage); until then nothing carries a credential.
    """

    def __init__(self, describe, ids, stack_name, connect_to=None):
        self.describe, self.ids, self.stack_name, self.connect_to = describe, list(ids), stack_name, connect_to
        self.instance_id = self.address = self.pin = None
        self.problem = None
        self.refresh()

    def refresh(self):
        if not self.ids:
            raise NotTheStacksInstance("stack {0} has no instance recorded: nothing to probe".format(self.stack_name))
        items = sorted(self.describe(self.ids), key=lambda item: (item["State"]["Name"] != "running", item["InstanceId"]))
        for item in items:
            tags = boto3_tag_list_to_ansible_dict(item.get("Tags"))
            if not is_owned(tags, self.stack_name):
                raise NotTheStacksInstance(
                    "instance {0} is not stack {1}'s (its {2} tag says {3!r}): no probe and no credential goes to it"
                    .format(item["InstanceId"], self.stack_name, STACK_TAG, tags.get(STACK_TAG)))
        if not items:
            raise NotTheStacksInstance("EC2 knows none of stack {0}'s instances ({1})".format(
                self.stack_name, ", ".join(self.ids)))
        item = items[0]
        address = item.get("PublicDnsName") or item.get("PublicIpAddress")
        if not address:
            raise NotTheStacksInstance("instance {0} ({1}) has no public address to probe".format(
                item["InstanceId"], item["State"]["Name"]))
        pin = boto3_tag_list_to_ansible_dict(item.get("Tags")).get(TLS_KEY_TAG)
        self.instance_id, self.address = item["InstanceId"], address
        self.pin = pin.lower() if pin and len(pin) == 64 and all(c in "0123456789abcdefABCDEF" for c in pin) else None
        if self.pin is None:
            self.problem = ("instance {0} has not published its certificate's public key (tag {1}) yet: the probes "
                            "carried no credential".format(self.instance_id, TLS_KEY_TAG))

    @property
    def url(self):
        return "https://" + (self.address if ":" not in self.address else "[{0}]".format(self.address))

    def get(self, url, timeout, validate_certs, headers=None):
        """A get function (see http_get): pinned once the key is known; each status read looks for the key again."""
        if self.pin is None and urlsplit(url).path == STATUS_PATH:
            self.refresh()
        if self.pin is not None:
            self.problem = None
        status, body = pinned_get(self.address, self.pin, self.connect_to)(url, timeout, validate_certs, headers)
        if status is None and "not the instance's" in str(body):
            self.problem = str(body)
        return status, body


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
    else:
        parts.append("; the boot log is /var/log/geusemaker-boot.log on the instance, for root only (read it through "
                     "SSM Session Manager: sudo tail -n 50 /var/log/geusemaker-boot.log)")
    return "".join(parts)


def degraded_message(states, document, timeout, problem=None):
    unhealthy = ", ".join("{0} {1}".format(name, state) for name, state in states.items() if state != "healthy")
    stage = (document or {}).get("stage", "unknown: no status document read")
    message = "the services were not all healthy within {0}s: {1} (boot stage {2})".format(timeout, unhealthy, stage)
    return message + ("; " + problem if problem else "")


def check(url, services, timeout=900, interval=5.0, validate_certs=False, get=http_get, clock=time.monotonic,
          sleep=time.sleep, credentials=None, heartbeat=None, problem=None):
    """Poll until every service is healthy, the instance reports a failed boot stage, or ``timeout``.

    ``credentials``: {proxy_password, qdrant_api_key} for the probes (see read_credentials), or None; give them
    only with a ``get`` that reaches the stack's own instance (StackInstance.get).
    ``heartbeat()``, when given, is called between rounds (the run's lock stays alive during the wait).
    ``problem()``, when given, says why the probes may not have reached the services (added to a degraded msg).
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
                      msg=degraded_message(last["services"], last["document"], timeout, problem() if problem else None))
    return result
