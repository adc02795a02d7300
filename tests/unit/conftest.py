"""Fixtures for unit tests of module_utils: an in-process emulator and a StackContext bound to it."""


import copy

import boto3
import pytest
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.geusemaker.stack.plugins.module_utils import kinds
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import Clients, StackContext
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws(monkeypatch):
    """moto in-process; no endpoint, dummy credentials."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # Loading AWS's managed policies costs seconds; the IAM tests that attach one turn it on.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    with mock_aws():
        yield


# One session for the whole run: botocore caches the service models it loads per session, and loading
# the EC2 model again for every test costs about a second.
SESSION = boto3.session.Session(region_name=REGION)


def wrapped_client(service):
    """A client as module_utils get them: amazon.aws's retry wrapper (fast retries here) around a boto3 client."""
    retry = AWSRetry.jittered_backoff(retries=2, delay=0.01, max_delay=0.02)
    return RetryingBotoClientWrapper(SESSION.client(service, region_name=REGION), retry)


def make_clients():
    return Clients(wrapped_client)


@pytest.fixture
def store(tmp_path):
    return LocalStateStore(str(tmp_path / "stacks"))


@pytest.fixture
def make_stack(aws, store):
    """make_stack(name="unit", check_mode=False, tags=None) -> StackContext on the emulator and a temp state_dir."""

    def make(stack_name="unit", check_mode=False, tags=None, params=None):
        ledger = Ledger.open(store, stack_name, REGION, persist=not check_mode)
        stack = StackContext(stack_name, REGION, ledger, make_clients(), check_mode, tags, params)
        stack.account_id = ACCOUNT  # what a module pins before its body runs (the emulator's account)
        return stack

    return make


@pytest.fixture
def stack(make_stack):
    return make_stack()


class FakeTime:
    """A clock that only moves when slept on: waits and timeouts without real sleeping."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def registry():
    """The registry of kinds with every record a copy the test may change (its code, its delete_after); the real
    records, and only those, are back afterwards."""
    saved = dict(kinds.KINDS)
    for resource_type, record in saved.items():
        kinds.KINDS[resource_type] = copy.copy(record)
    yield kinds.KINDS
    kinds.KINDS.clear()
    kinds.KINDS.update(saved)
