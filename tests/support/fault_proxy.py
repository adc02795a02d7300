"""A fault-injecting HTTP proxy between AWS clients and the local emulator (moto server).

It runs in a background thread of the test process, on 127.0.0.1 and a free port::

    proxy = FaultProxy(upstream="http://127.0.0.1:5000")
    os.environ["AWS_ENDPOINT_URL"] = proxy.url          # clients (and ansible modules) talk to the proxy
    proxy.add(Rule("RunInstances", error="InsufficientInstanceCapacity", times=1))
    proxy.add(Rule("DeleteSecurityGroup", error="DependencyViolation", after="TerminateInstances", for_seconds=2))
    ...
    assert proxy.count("RunInstances") == 2
    proxy.stop()

What real AWS does and the emulator does not (see /work/shared/aws-on-moto.md) is what rules are for:
eventual consistency windows, lost responses, throttling, capacity errors, resources stuck in a state.

Identifying a call. The service is the credential scope of the SigV4 Authorization header
(``Credential=AKID/DATE/REGION/SERVICE/aws4_request``, or ``X-Amz-Credential`` in a presigned query).
The operation is ``Action=`` of a query-protocol body or query string (ec2, iam, sts, autoscaling...),
the part after the dot of ``X-Amz-Target`` (json protocols: ssm, logs...), the ``/operation/<Name>`` of a
smithy rpc-v2-cbor path, or, for EFS (service "elasticfilesystem", rest-json), the operation whose
HTTP method and URI template match (table below; anything else is ``"EFS:<METHOD> <path>"``).
Other calls are named ``"<METHOD> <path>"``. Paths under ``/moto-api/`` are forwarded untouched and not logged.

Rules (checked in the order added; the first matching rule that is not spent decides):

- match: ``operation`` equals the call's operation (or is ``"*"``); ``service`` (optional) equals the
  service; ``body_contains`` is a substring of the request body, of its URL-decoded form, or of the
  request path+query (so ``body_contains="fs-1234"`` also matches ``DELETE /2015-02-01/file-systems/fs-1234``);
  ``after``: the operation ``after`` has been forwarded at least once and, when ``for_seconds`` is given,
  fewer than ``for_seconds`` seconds have passed since the first time it was.
- ``skip=N``: the first N matching calls pass untouched (forwarded as is; later rules are not consulted).
- ``times=K``: the rule acts on at most K calls, then it is spent (``None``: never spent).
- actions, after sleeping ``delay`` seconds:
  ``respond=(status, body, headers)`` answers that without forwarding;
  ``error=CODE`` answers an AWS-shaped error with ``status`` without forwarding, or, with
  ``forward_first=True``, after forwarding (the emulator did the work, the caller sees the error: a lost response);
  ``rewrite=[(regex, replacement), ...]`` forwards and applies ``re.sub`` to the response body;
  none of these: forward (``delay`` alone simulates a slow call);
  ``hook``: called with the Call once the rule has acted (after any forwarding), before the caller is answered:
  a test kills its client there, mid-call.
  ``respond`` may also be a callable: ``respond(call)`` gives the (status, body, headers) of that call.

Observers (``proxy.observers``) see every logged call: ``observer.before(call)`` runs before the call is acted on
(the emulator still holds what it held when the caller sent it), and ``observer.after(call, before_result, status,
body)`` once the answer is known. The authorization check (tests/support/authz) records calls this way.

Idempotency tokens, as AWS honours them and the emulator does not (/work/shared/aws-on-moto.md): a RunInstances
whose ClientToken was already answered with success gets that same answer again, without reaching the emulator
(``Call.injected`` is ``"replayed"``). So a retried launch whose first response was lost launches once, as on AWS.

The call log (``proxy.calls``) holds a :class:`Call` per request in arrival order. ``Call.injected`` is None for
untouched calls, else the error code (``error``, with or without ``forward_first``), ``"respond"``,
``"rewrite"`` or ``"delay"``. ``Call.status`` is the status the caller got (None while in flight).
"""

import http.client
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

__all__ = ["Call", "FaultProxy", "Rule", "MUTATING_PREFIXES", "is_mutating"]

MUTATING_PREFIXES = (
    "Create", "Delete", "Put", "Run", "Terminate", "Attach", "Detach", "Associate", "Disassociate", "Replace",
    "Modify", "Authorize", "Revoke", "Add", "Remove", "Tag", "Untag", "Update",
)

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "expect", "host", "content-length",
}
# http.server writes its own Server and Date headers.
RESPONSE_DROP = HOP_BY_HOP | {"server", "date"}

# EFS (rest-json) method + URI template -> operation; the more literal templates come first.
EFS_OPERATIONS = [
    ("GET", "/2015-02-01/file-systems/replication-configurations", "DescribeReplicationConfigurations"),
    ("POST", "/2015-02-01/file-systems", "CreateFileSystem"),
    ("GET", "/2015-02-01/file-systems", "DescribeFileSystems"),
    ("DELETE", "/2015-02-01/file-systems/{id}", "DeleteFileSystem"),
    ("PUT", "/2015-02-01/file-systems/{id}", "UpdateFileSystem"),
    ("POST", "/2015-02-01/mount-targets", "CreateMountTarget"),
    ("GET", "/2015-02-01/mount-targets", "DescribeMountTargets"),
    ("DELETE", "/2015-02-01/mount-targets/{id}", "DeleteMountTarget"),
    ("GET", "/2015-02-01/mount-targets/{id}/security-groups", "DescribeMountTargetSecurityGroups"),
    ("PUT", "/2015-02-01/mount-targets/{id}/security-groups", "ModifyMountTargetSecurityGroups"),
    ("GET", "/2015-02-01/resource-tags/{id}", "ListTagsForResource"),
    ("POST", "/2015-02-01/resource-tags/{id}", "TagResource"),
    ("DELETE", "/2015-02-01/resource-tags/{id}", "UntagResource"),
    ("POST", "/2015-02-01/access-points", "CreateAccessPoint"),
    ("GET", "/2015-02-01/access-points", "DescribeAccessPoints"),
    ("DELETE", "/2015-02-01/access-points/{id}", "DeleteAccessPoint"),
    ("GET", "/2015-02-01/file-systems/{id}/policy", "DescribeFileSystemPolicy"),
    ("PUT", "/2015-02-01/file-systems/{id}/policy", "PutFileSystemPolicy"),
    ("DELETE", "/2015-02-01/file-systems/{id}/policy", "DeleteFileSystemPolicy"),
    ("GET", "/2015-02-01/file-systems/{id}/backup-policy", "DescribeBackupPolicy"),
    ("PUT", "/2015-02-01/file-systems/{id}/backup-policy", "PutBackupPolicy"),
    ("GET", "/2015-02-01/file-systems/{id}/lifecycle-configuration", "DescribeLifecycleConfiguration"),
    ("PUT", "/2015-02-01/file-systems/{id}/lifecycle-configuration", "PutLifecycleConfiguration"),
    ("PUT", "/2015-02-01/file-systems/{id}/protection", "UpdateFileSystemProtection"),
    ("POST", "/2015-02-01/file-systems/{id}/replication-configuration", "CreateReplicationConfiguration"),
    ("DELETE", "/2015-02-01/file-systems/{id}/replication-configuration", "DeleteReplicationConfiguration"),
    ("GET", "/2015-02-01/account-preferences", "DescribeAccountPreferences"),
    ("PUT", "/2015-02-01/account-preferences", "PutAccountPreferences"),
    ("GET", "/2015-02-01/tags/{id}", "DescribeTags"),
    ("POST", "/2015-02-01/create-tags/{id}", "CreateTags"),
    ("POST", "/2015-02-01/delete-tags/{id}", "DeleteTags"),
]
_EFS_PATTERNS = [
    (method, re.compile("^" + re.escape(template).replace(re.escape("{id}"), "[^/]+") + "/?$"), name)
    for method, template, name in EFS_OPERATIONS
]

_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_CBOR_PATH = re.compile(r"/service/[^/]+/operation/([^/?]+)")

# Services whose errors use the "ec2" query dialect; the rest of the query family uses <ErrorResponse>.
EC2_SERVICES = {"ec2"}
QUERY_SERVICES = {
    "iam", "sts", "autoscaling", "elasticloadbalancing", "cloudformation", "rds", "sns", "ses", "elasticache",
    "redshift", "monitoring", "sdb", "elasticbeanstalk", "importexport", "neptune", "docdb",
}


# Operations whose ClientToken AWS honours and the emulator ignores.
IDEMPOTENT_BY_TOKEN = ("RunInstances",)


def client_token(operation, body):
    if operation not in IDEMPOTENT_BY_TOKEN:
        return None
    return parse_qs(body.decode("utf-8", "replace")).get("ClientToken", [None])[0]


def is_mutating(operation):
    """True for operation names that change state (by prefix); fallback names count when the method writes."""
    if operation.startswith(MUTATING_PREFIXES):
        return True
    fallback = operation[4:] if operation.startswith("EFS:") else operation
    return fallback.split(" ", 1)[0] in ("POST", "PUT", "DELETE", "PATCH") and " /" in fallback


@dataclass
class Call:
    service: str
    operation: str
    status: Optional[int]
    injected: Optional[str]
    at: float
    body: str
    method: str = ""
    path: str = ""
    headers: Optional[dict] = None  # the request's headers as received (a test checks X-Amz-Security-Token)
    rule: Optional[object] = None  # the Rule that acted on the call, if one did


@dataclass(eq=False)
class Rule:
    operation: str
    error: Optional[str] = None
    message: str = "injected by the fault proxy"
    status: int = 400
    skip: int = 0
    times: Optional[int] = None
    body_contains: Optional[str] = None
    after: Optional[str] = None
    for_seconds: Optional[float] = None
    forward_first: bool = False
    respond: Optional[tuple] = None
    rewrite: Optional[list] = None
    delay: float = 0.0
    service: Optional[str] = None
    hook: Optional[object] = None
    matched: int = field(default=0, init=False)  # matching calls seen, skipped ones included
    hits: int = field(default=0, init=False)  # calls the rule acted on

    def __init__(self, operation, *, error=None, message="injected by the fault proxy", status=400, skip=0,
                 times=None, body_contains=None, after=None, for_seconds=None, forward_first=False, respond=None,
                 rewrite=None, delay=0.0, service=None, hook=None):
        self.operation = operation
        self.error = error
        self.message = message
        self.status = int(status)
        self.skip = int(skip)
        self.times = times
        self.body_contains = body_contains
        self.after = after
        self.for_seconds = for_seconds
        self.forward_first = forward_first
        self.respond = respond
        self.rewrite = [(re.compile(p) if isinstance(p, str) else p, r) for p, r in (rewrite or [])] or None
        self.delay = float(delay or 0.0)
        self.service = service
        self.hook = hook
        self.matched = 0
        self.hits = 0
        if forward_first and not error:
            raise ValueError("forward_first needs error")
        if respond is not None and (error or rewrite):
            raise ValueError("respond excludes error and rewrite")

    @property
    def spent(self):
        return self.times is not None and self.hits >= self.times

    def _matches(self, service, operation, haystacks, first_seen, now):
        if self.operation != "*" and self.operation != operation:
            return False
        if self.service is not None and self.service != service:
            return False
        if self.body_contains is not None and not any(self.body_contains in h for h in haystacks):
            return False
        if self.after is not None:
            since = first_seen.get(self.after)
            if since is None:
                return False
            if self.for_seconds is not None and now - since >= self.for_seconds:
                return False
        return True


# ---------------------------------------------------------------------------------------------------------------
# Request identification and error bodies


def _service_of(headers, query):
    match = _CREDENTIAL.search(headers.get("Authorization") or "")
    scope = match.group(1) if match else unquote(query.get("X-Amz-Credential", [""])[0])
    parts = scope.split("/")
    return parts[3] if len(parts) >= 5 else ""


def identify(method, raw_path, headers, body):
    """-> (service, operation, protocol) of a request; protocol picks the error dialect."""
    split = urlsplit(raw_path)
    path, query = split.path, parse_qs(split.query, keep_blank_values=True)
    service = _service_of(headers, query)
    target = headers.get("X-Amz-Target")
    content_type = (headers.get("Content-Type") or "").lower()
    if target:
        return service, target.rsplit(".", 1)[-1], "json"
    cbor = _CBOR_PATH.search(path)
    if cbor and "cbor" in (headers.get("Smithy-Protocol") or content_type):
        return service, cbor.group(1), "cbor"
    action = None
    if body and ("x-www-form-urlencoded" in content_type or body[:7] == b"Action="):
        try:
            action = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get("Action", [None])[0]
        except ValueError:
            action = None
    if action is None and "Action" in query:
        action = query["Action"][0]
    if action:
        if service in EC2_SERVICES or (not service and b"Version=2016-11-15" in (body or b"")):
            return service or "ec2", action, "ec2"
        return service, action, "query"
    if service == "elasticfilesystem" or path.startswith("/2015-02-01/"):
        for verb, pattern, name in _EFS_PATTERNS:
            if verb == method and pattern.match(path):
                return service or "elasticfilesystem", name, "rest-json"
        return service or "elasticfilesystem", "EFS:%s %s" % (method, path), "rest-json"
    if service == "s3":
        return service, "%s %s" % (method, path), "rest-xml"
    return service, "%s %s" % (method, path), "rest-json"


def _cbor_text(value):
    data = value.encode("utf-8")
    return _cbor_head(3, len(data)) + data


def _cbor_head(major, length):
    if length < 24:
        return bytes([(major << 5) | length])
    if length < 256:
        return bytes([(major << 5) | 24, length])
    if length < 65536:
        return bytes([(major << 5) | 25]) + length.to_bytes(2, "big")
    return bytes([(major << 5) | 26]) + length.to_bytes(4, "big")


def _xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def error_response(protocol, code, message, status, request_headers=None):
    """-> (status, headers, body bytes) of an AWS error in the dialect botocore expects for protocol."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    code_x, msg_x = _xml_escape(code), _xml_escape(message)
    if protocol == "ec2":
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message>'
            "</Error></Errors><RequestID>%s</RequestID></Response>" % (code_x, msg_x, request_id)
        ).encode()
    elif protocol == "query":
        headers["Content-Type"] = "text/xml"
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>%s</Type>'
            "<Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>"
            % ("Receiver" if status >= 500 else "Sender", code_x, msg_x, request_id)
        ).encode()
    elif protocol == "rest-xml":
        headers["Content-Type"] = "application/xml"
        headers["x-amz-request-id"] = request_id
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message>'
            "<RequestId>%s</RequestId></Error>" % (code_x, msg_x, request_id)
        ).encode()
    elif protocol == "json":
        requested = ((request_headers or {}).get("Content-Type") or "").lower()
        headers["Content-Type"] = "application/x-amz-json-1.0" if "1.0" in requested else "application/x-amz-json-1.1"
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "cbor":
        headers["Content-Type"] = "application/cbor"
        headers["Smithy-Protocol"] = "rpc-v2-cbor"
        body = _cbor_head(5, 2) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
    else:  # rest-json (EFS and the like)
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"ErrorCode": code, "Message": message}).encode()
    return status, headers, body


# ---------------------------------------------------------------------------------------------------------------
# The server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):  # a client hanging up is not worth a traceback
        pass


class FaultProxy:
    def __init__(self, upstream="http://127.0.0.1:5000", host="127.0.0.1", port=0, timeout=60.0):
        split = urlsplit(upstream)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError("upstream must be an http(s) URL: %r" % upstream)
        self.upstream = upstream.rstrip("/")
        self._up_scheme = split.scheme
        self._up_host = split.hostname
        self._up_port = split.port or (443 if split.scheme == "https" else 80)
        self._up_prefix = split.path.rstrip("/")
        self._up_hostheader = split.netloc
        self.timeout = timeout
        self._lock = threading.Lock()
        self._rules = []
        self._calls = []
        self._first_seen = {}
        self._token_answers = {}
        self.observers = []
        self._server = _Server((host, port), self._make_handler())
        self.port = self._server.server_address[1]
        self.url = "http://%s:%d" % (host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fault-proxy",
                                        daemon=True)
        self._thread.start()

    # --- public API -------------------------------------------------------------------------------------------

    def add(self, rule):
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule):
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    @property
    def rules(self):
        with self._lock:
            return list(self._rules)

    def clear(self, calls=True):
        """Drop every rule; with calls=True (default) also the call log, the observers and the 'first seen' times of
        `after`. The idempotency tokens stay: AWS remembers them, whatever the test does next (forget_tokens)."""
        with self._lock:
            self._rules.clear()
            if calls:
                self.observers.clear()
                self._calls.clear()
                self._first_seen.clear()

    def forget_tokens(self):
        """Forget the answered idempotency tokens: only with a new emulator world (its reset), as AWS forgets a
        token no sooner than its account does."""
        with self._lock:
            self._token_answers.clear()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def calls(self):
        with self._lock:
            return list(self._calls)

    def operations(self, mutating_only=False):
        return [c.operation for c in self.calls if not mutating_only or is_mutating(c.operation)]

    def count(self, operation):
        return sum(1 for c in self.calls if operation == "*" or c.operation == operation)

    def first_seen(self, operation):
        """Monotonic time the operation was first forwarded, or None."""
        with self._lock:
            return self._first_seen.get(operation)

    # --- internals --------------------------------------------------------------------------------------------

    def _decide(self, service, operation, method, path, body):
        """Log the call and pick the acting rule (or None), atomically."""
        text = body.decode("utf-8", "replace")
        haystacks = [text, path, unquote_plus(path)]
        if "%" in text or "+" in text:
            haystacks.append(unquote_plus(text))
        now = time.monotonic()
        call = Call(service, operation, None, None, now, text, method, path)
        with self._lock:
            self._calls.append(call)
            for rule in self._rules:
                if rule.spent or not rule._matches(service, operation, haystacks, self._first_seen, now):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    return call, None
                rule.hits += 1
                call.rule = rule
                return call, rule
        return call, None

    def _mark_forwarded(self, operation):
        with self._lock:
            self._first_seen.setdefault(operation, time.monotonic())

    def _forward(self, method, path, headers, body):
        """-> (status, [(name, value)], body). Upstream failures answer 502."""
        if self._up_scheme == "https":
            conn = http.client.HTTPSConnection(self._up_host, self._up_port, timeout=self.timeout)
        else:
            conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=self.timeout)
        out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        out["Host"] = self._up_hostheader
        if body or method in ("POST", "PUT", "PATCH"):
            out["Content-Length"] = str(len(body))
        try:
            conn.request(method, self._up_prefix + path, body=body or None, headers=out)
            response = conn.getresponse()
            data = response.read()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in RESPONSE_DROP], data
        except (OSError, http.client.HTTPException) as exc:
            msg = ("fault proxy: upstream %s failed: %s" % (self.upstream, exc)).encode()
            return 502, [("Content-Type", "text/plain")], msg
        finally:
            conn.close()

    def _forward_once(self, call, method, path, headers, body):
        """Forward, unless the call repeats an idempotency token already answered: then that answer again."""
        token = client_token(call.operation, body)
        with self._lock:
            answered = self._token_answers.get((call.operation, token)) if token else None
        if answered is not None:
            call.injected = "replayed"
            return answered
        self._mark_forwarded(call.operation)
        answer = self._forward(method, path, headers, body)
        if token and answer[0] == 200:
            with self._lock:
                self._token_answers[(call.operation, token)] = answer
        return answer

    def _handle(self, handler):
        method, path = handler.command, handler.path
        headers = dict(handler.headers.items())
        body = handler._read_body()
        if urlsplit(path).path.startswith("/moto-api/"):
            return self._forward(method, path, headers, body)
        service, operation, protocol = identify(method, path, handler.headers, body)
        call, rule = self._decide(service, operation, method, path, body)
        call.headers = headers
        seen = [(observer, observer.before(call)) for observer in list(self.observers)]
        status, out_headers, out_body = 502, [], b""
        try:
            if rule is not None and rule.delay:
                time.sleep(rule.delay)
            if rule is None or (rule.respond is None and rule.error is None and rule.rewrite is None):
                status, out_headers, out_body = self._forward_once(call, method, path, headers, body)
                if rule is not None and rule.delay:
                    call.injected = "delay"
            elif rule.respond is not None:
                answer = rule.respond(call) if callable(rule.respond) else rule.respond
                r_status, r_body = answer[0], answer[1]
                r_headers = answer[2] if len(answer) > 2 and answer[2] else {}
                status = int(r_status)
                out_headers = [(k, v) for k, v in r_headers.items() if k.lower() not in RESPONSE_DROP]
                out_body = r_body.encode("utf-8") if isinstance(r_body, str) else bytes(r_body or b"")
                call.injected = "respond"
            elif rule.error is not None:
                if rule.forward_first:
                    self._forward_once(call, method, path, headers, body)
                status, err_headers, out_body = error_response(protocol, rule.error, rule.message, rule.status,
                                                               handler.headers)
                out_headers = list(err_headers.items())
                call.injected = rule.error
            else:  # rewrite
                self._mark_forwarded(operation)
                status, out_headers, out_body = self._forward(method, path, headers, body)
                text = out_body.decode("utf-8", "replace")
                for pattern, replacement in rule.rewrite:
                    text = pattern.sub(replacement, text)
                out_body = text.encode("utf-8")
                call.injected = "rewrite"
            if rule is not None and rule.hook is not None:
                rule.hook(call)
        finally:
            call.status = status
            for observer, before in seen:
                observer.after(call, before, status, out_body)
        return status, out_headers, out_body

    def _make_handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "FaultProxy"

            def log_message(self, format, *args):
                pass

            def _read_body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self):
                try:
                    status, headers, body = proxy._handle(self)
                except Exception as exc:  # never leave the client hanging
                    status, headers, body = 502, [("Content-Type", "text/plain")], ("fault proxy: %r" % exc).encode()
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD" and body:
                        self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

        return Handler


def main(argv=None):
    """Serve as a process until SIGTERM or SIGINT (scripts/demo-failure.sh):
    python tests/support/fault_proxy.py --upstream URL [--port P] --refuse RunInstances:InsufficientInstanceCapacity
    Prints its URL, then one line per call it refused."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="A fault-injecting proxy in front of the local AWS emulator.")
    parser.add_argument("--upstream", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--refuse", action="append", default=[], metavar="OPERATION[:ERROR_CODE]",
                        help="refuse every call of OPERATION with a 400 and ERROR_CODE (default InvalidRequest)")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_unused: stopping.set())
    with FaultProxy(upstream=args.upstream, port=args.port) as proxy:
        for item in args.refuse:
            operation, _unused, code = item.partition(":")
            proxy.add(Rule(operation, error=code or "InvalidRequest", message="refused by the fault proxy (demo)"))
        print(proxy.url, flush=True)
        reported = 0
        while not stopping.wait(0.2):
            refused = [call for call in proxy.calls if call.injected]
            for call in refused[reported:]:
                print("fault proxy: refused {0} ({1})".format(call.operation, call.injected), flush=True)
            reported = len(refused)


if __name__ == "__main__":
    main()
