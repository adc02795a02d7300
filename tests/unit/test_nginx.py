"""The proxy for real: Debian's nginx runs the configuration the boot script wrote (nginx.conf, routes, the
htpasswd file and the Qdrant key map it made from the SSM values), on loopback in a network namespace of its
own, with stub upstreams on the ports it proxies to (tests/support/nginx_probe.py).

scripts/system-packages.sh installs nginx when it is missing.
"""

import base64
import json
import os
import sys

import pytest

from tests.support.boot_harness import Stack, can_run, render_user_data

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(os.path.dirname(HERE), "support", "nginx_probe.py")

pytestmark = pytest.mark.skipif(can_run() is not None, reason=str(can_run()))

SERVICE_PATHS = ["/", "/rest/workflows", "/ollama/", "/ollama/api/tags", "/qdrant/healthz", "/qdrant/collections",
                 "/crawl4ai/health", "/crawl4ai/crawl"]
PUBLIC_N8N = ["/webhook/abc", "/webhook-test/abc", "/webhook-waiting/abc", "/form/abc"]


def basic(password, user="geusemaker"):
    return {"Authorization": "Basic " + base64.b64encode("{0}:{1}".format(user, password).encode()).decode()}


def probe(instance, requests):
    assert os.path.exists("/usr/sbin/nginx"), "nginx is missing: run scripts/system-packages.sh"
    run = instance.run(sys.executable, PROBE, json.dumps(requests), network=True)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["nginx_started"], result["nginx_output"]
    assert len(result["requests"]) == len(requests)
    return result["requests"]


@pytest.fixture(scope="module")
def booted(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("nginx") / "stack")
    instance = stack.instance("a")
    run = instance.boot(render_user_data())
    assert run.returncode == 0, instance.log()
    return stack, instance


def test_every_service_path_needs_its_credential(booted):
    stack, instance = booted
    password, key = stack.secrets["proxy_password"], stack.secrets["qdrant_api_key"]
    cases = [
        # (path, headers, expected status, upstream that must see it or None)
        ("/ollama/", {}, 401, None),
        ("/ollama/", basic("wrong"), 401, None),
        ("/ollama/", basic(password, user="admin"), 401, None),
        ("/ollama/api/tags", basic(password), 200, ("ollama", "/api/tags")),
        ("/crawl4ai/health", {}, 401, None),
        ("/crawl4ai/health", basic(password.upper()), 401, None),
        ("/crawl4ai/health", basic(password), 200, ("crawl4ai", "/health")),
        ("/qdrant/collections", {}, 401, None),
        ("/qdrant/collections", {"api-key": key[:-1]}, 401, None),
        ("/qdrant/collections", {"api-key": key.upper()}, 401, None),  # exact, not case-blind
        ("/qdrant/collections", {"api-key": key + "x"}, 401, None),
        ("/qdrant/collections", basic(password), 401, None),  # the proxy password is not Qdrant's
        ("/qdrant/collections", {"api-key": key}, 200, ("qdrant", "/collections")),
        ("/qdrant/healthz", {"Authorization": "Bearer " + key}, 200, ("qdrant", "/healthz")),
        ("/ollama/", {"api-key": key}, 401, None),  # Qdrant's key opens nothing else
    ]
    answers = probe(instance, [{"path": p, "headers": h} for p, h, _unused, _unused in cases])
    for (path, headers, status, upstream), answer in zip(cases, answers):
        assert answer["status"] == status, (path, headers, answer["body"][:200])
        if upstream is None:
            assert answer["upstream"] is None, (path, answer)
        else:
            seen = answer["upstream"]
            assert (seen["service"], seen["path"]) == upstream
            # nginx checked the proxy password; the service never sees it.
            assert "authorization" not in seen["headers"] or seen["service"] == "qdrant"
            assert seen["headers"]["x-forwarded-proto"] == "https" and seen["headers"]["host"] == "127.0.0.1"


def test_n8n_keeps_its_own_login_and_its_webhooks_stay_public(booted):
    _unused, instance = booted
    paths = ["/", "/rest/login"] + PUBLIC_N8N
    setup = ["/rest/owner/setup", "/REST/Owner/Setup", "/rest/owner/setup/", "//rest//owner/setup", "/rest/owner/%73etup"]
    answers = probe(instance, [{"path": p} for p in paths] + [{"path": p, "method": "POST"} for p in setup])
    for path, answer in zip(paths, answers):
        assert answer["status"] == 200 and answer["upstream"]["service"] == "n8n", (path, answer)
        assert answer["upstream"]["path"] == path
        assert answer["upstream"]["headers"]["x-forwarded-proto"] == "https"
    # The owner exists; nobody claims the instance again through the proxy, however the path is spelled.
    assert [(a["status"], a["upstream"]) for a in answers[len(paths):]] == [(403, None)] * len(setup)


def test_the_status_document_is_public_and_carries_no_secret(booted):
    stack, instance = booted
    [answer] = probe(instance, [{"path": "/geusemaker/status.json"}])
    assert answer["status"] == 200 and answer["upstream"] is None
    document = json.loads(answer["body"])
    assert document["schema"] == 3 and document["stage"] == "running"
    assert not [name for name, value in stack.secrets.items() if value in answer["body"]]
    # Nor what names the stack's resources or its owner: no log, no file system id, no email.
    assert "log_tail" not in document
    assert not [text for text in ("fs-0123456789abcdef0", "owner@geusemaker.local", "UUID=") if text in answer["body"]]


def test_until_the_owner_exists_nothing_but_the_status_document_answers(tmp_path):
    stack = Stack(tmp_path / "stack")
    stack.configure(n8n_refuse_owner=True)
    instance = stack.instance("a")
    assert instance.boot(render_user_data()).returncode == 1
    password, key = stack.secrets["proxy_password"], stack.secrets["qdrant_api_key"]
    requests = [{"path": p} for p in SERVICE_PATHS + PUBLIC_N8N]
    requests += [{"path": "/ollama/", "headers": basic(password)}, {"path": "/qdrant/healthz", "headers": {"api-key": key}},
                 {"path": "/rest/owner/setup", "method": "POST"}, {"path": "/geusemaker/status.json"}]
    answers = probe(instance, requests)
    for request, answer in zip(requests[:-1], answers[:-1]):
        assert answer["status"] == 503 and answer["upstream"] is None, (request, answer)
    status = answers[-1]
    assert status["status"] == 200 and json.loads(status["body"])["stage"] == "owner_failed"
