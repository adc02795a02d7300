"""The S3 state backend (issue 13) on moto in-process, and the lock rules it shares with the local backend:
conditional saves (no lost update), token-guarded saves and heartbeats (an orphaned module cannot overwrite the
run that took over), TTL staleness measured with the server's clock, the holder's AWX job id."""

import json
import os

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    LockHeld,
    LockLost,
    StateConflict,
    StateCorrupt,
    StateError,
    account_of,
    open_store,
    refresh_interval,
    state_location,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_s3 import S3StateStore
from tests.support.aws_calls import client_error
from tests.unit.conftest import REGION, SESSION, wrapped_client

BUCKET = "state-bucket"
ACCOUNT = "123456789012"  # moto's
DOC = {"schema_version": 2, "stack_name": "s1", "resources": [], "events": []}


@pytest.fixture
def s3(aws):
    client = SESSION.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def s3_store(host="host-a", ttl=120):
    return S3StateStore(wrapped_client("s3"), BUCKET, "geusemaker/stacks/", lock_ttl=ttl, hostname=host)


@pytest.fixture(params=["local", "s3"])
def make_store(request, tmp_path):
    """make_store(host) -> a store of either backend; two stores of one backend share the same location."""
    if request.param == "s3":
        request.getfixturevalue("s3")
        return lambda host="host-a": s3_store(host)
    return lambda host="host-a": LocalStateStore(str(tmp_path / "stacks"), hostname=host)


def test_s3_round_trip_list_and_report(s3):
    store = s3_store()
    assert store.load("s1") is None and store.list_stacks() == []
    store.save("s1", DOC)
    store.save("s2", dict(DOC, stack_name="s2"))
    assert store.load("s1") == DOC
    assert store.list_stacks() == ["s1", "s2"]
    assert store.location("s1") == "s3://state-bucket/geusemaker/stacks/s1.json"
    where = store.save_report("s1", "# report\n")
    assert where == "s3://state-bucket/geusemaker/stacks/s1.recovery.md"
    assert store.read_report("s1") == "# report\n"
    assert store.list_stacks() == ["s1", "s2"]  # the report and lock objects are not stacks
    body = s3.get_object(Bucket=BUCKET, Key="geusemaker/stacks/s1.json")
    assert json.loads(body["Body"].read()) == DOC
    assert body["ContentType"] == "application/json"


def test_s3_corrupt_document_is_moved_aside(s3):
    s3.put_object(Bucket=BUCKET, Key="geusemaker/stacks/s1.json", Body=b'{"resources": [')
    with pytest.raises(StateCorrupt) as caught:
        s3_store().load("s1")
    assert caught.value.quarantined_to.startswith("s3://state-bucket/geusemaker/stacks/s1.json.corrupt-")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "geusemaker/stacks/s1.json" not in keys


def test_s3_missing_bucket_is_a_clear_error(aws):
    with pytest.raises(StateError, match="NoSuchBucket.*create the bucket"):
        s3_store().save("s1", DOC)


def test_s3_backend_needs_a_bucket():
    with pytest.raises(StateError, match="needs state_bucket"):
        state_location({"state_backend": "s3"})
    location = state_location({"state_backend": "s3", "state_bucket": "b", "state_prefix": "/teams/a"})
    assert location["prefix"] == "teams/a/"
    assert isinstance(open_store(location, lambda: None), S3StateStore)
    with pytest.raises(StateError, match="needs an S3 client"):
        open_store(location)


def test_conditional_save_refuses_a_changed_document_and_keeps_both(make_store):
    ours, theirs = make_store(), make_store()
    ours.save("s1", DOC)
    document, version = ours.load_versioned("s1")
    # Someone else writes between our read and our save: its ETag (or content) changes.
    theirs.save("s1", dict(DOC, status="theirs"))
    with pytest.raises(StateConflict) as caught:
        ours.save("s1", dict(document, status="ours"), version=version)
    assert "changed by someone else" in str(caught.value)
    assert ours.load("s1")["status"] == "theirs"  # their record is untouched
    kept = caught.value.kept_at
    assert ".conflict-" in kept
    if isinstance(ours, S3StateStore):
        key = kept.split("/", 3)[3]
        kept_doc = json.loads(ours.client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    else:
        with open(kept) as handle:
            kept_doc = json.load(handle)
    assert kept_doc["status"] == "ours"  # and ours is kept beside it


def test_first_save_refuses_when_someone_created_the_document(make_store):
    ours, theirs = make_store(), make_store()
    _document, version = ours.load_versioned("s1")
    assert version is None
    theirs.save("s1", dict(DOC, status="theirs"))
    with pytest.raises(StateConflict):
        ours.save("s1", DOC, version=version)
    assert ours.load("s1")["status"] == "theirs"


def test_successive_conditional_saves_pass(make_store):
    store = make_store()
    _document, version = store.load_versioned("s1")
    for index in range(3):
        version = store.save("s1", dict(DOC, n=index), version=version)
    assert store.load("s1")["n"] == 2


def test_ledger_saves_conditionally_and_stops_after_a_refusal(make_store):
    store, other = make_store(), make_store()
    ledger = Ledger.open(store, "s1", REGION)
    ledger.save()
    other.save("s1", dict(ledger.document, status="someone-else"))
    with pytest.raises(StateConflict):
        ledger.save()
    with pytest.raises(StateConflict):  # every later save is refused too, without writing
        ledger.save()
    assert store.load("s1")["status"] == "someone-else"


def test_lock_is_exclusive_and_names_host_pid_and_awx_job(make_store):
    first, second = make_store("host-a"), make_store("host-b")
    lock, warnings = first.acquire_lock("s1", os.getpid(), ttl=60, job_id="4711")
    assert warnings == [] and lock["awx_job_id"] == "4711" and lock["ttl"] == 60
    with pytest.raises(LockHeld) as caught:
        second.acquire_lock("s1", 12345)
    assert "host host-a" in str(caught.value) and "AWX job 4711" in str(caught.value)
    assert caught.value.holder["token"] == lock["token"]
    assert not any(key.startswith("_") for key in caught.value.holder)
    assert first.release_lock("s1", "not-the-token") is False
    assert first.release_lock("s1", lock["token"]) is True
    assert first.read_lock("s1") is None


def age_lock(store, stack_name, seconds):
    """Make the lock's last heartbeat ``seconds`` old, as seen by the store."""
    if isinstance(store, S3StateStore):
        original = store._get

        def aged(key):
            found = original(key)
            if found is not None and key.endswith(".lock"):
                return found[0], found[1], found[2] + seconds, found[3]
            return found

        store._get = aged
    else:
        path = store._lock_path(stack_name)
        past = os.stat(path).st_mtime - seconds
        os.utime(path, (past, past))


def test_stale_lock_of_another_host_is_taken_over_and_the_old_token_is_refused(make_store):
    dead, new = make_store("host-a"), make_store("host-b")
    old, _unused = dead.acquire_lock("s1", 999999, ttl=30)
    dead.save("s1", DOC, token=old["token"])
    age_lock(new, "s1", 10)
    with pytest.raises(LockHeld):  # 10 s old, under the TTL: alive
        new.acquire_lock("s1", 123)
    age_lock(new, "s1", 30)  # now 40 s: stale
    lock, warnings = new.acquire_lock("s1", 123)
    assert "over the 30s TTL" in warnings[0] and "host host-a" in warnings[0]
    new.save("s1", dict(DOC, status="new-holder"), token=lock["token"])
    # The killed run's orphaned module still has its old token: its saves and heartbeats are refused.
    with pytest.raises(LockLost) as caught:
        dead.save("s1", dict(DOC, status="orphan"), token=old["token"])
    assert "held by another run" in str(caught.value)
    with pytest.raises(LockLost):
        dead.heartbeat("s1", old["token"])
    assert new.load("s1")["status"] == "new-holder"
    assert new.read_lock("s1")["token"] == lock["token"]
    assert dead.release_lock("s1", old["token"]) is False  # its always: section cannot drop the new lock


def lock_version(store, stack_name):
    """What a heartbeat changes: the lock object's ETag on S3, the lock file's mtime locally."""
    if isinstance(store, S3StateStore):
        return store.read_lock(stack_name)["_etag"]
    return os.stat(store._lock_path(stack_name)).st_mtime


def test_heartbeat_refreshes_the_lock(make_store):
    store, other = make_store("host-a"), make_store("host-b")
    lock, _unused = store.acquire_lock("s1", os.getpid(), ttl=30)
    if not isinstance(store, S3StateStore):
        age_lock(store, "s1", 100)
    before = lock_version(other, "s1")
    holder = store.heartbeat("s1", lock["token"])
    assert holder["token"] == lock["token"]
    assert lock_version(other, "s1") != before
    fresh = other.read_lock("s1")
    assert fresh["age"] < 5 and other.stale_reason(fresh) is None


def test_a_module_whose_run_is_gone_does_not_keep_its_lock_alive(make_store):
    store = make_store("host-a")
    lock, _unused = store.acquire_lock("s1", 999999, ttl=30)  # a pid of this host that does not exist: killed
    if not isinstance(store, S3StateStore):
        age_lock(store, "s1", 100)
    before = lock_version(store, "s1")
    holder = store.heartbeat("s1", lock["token"])
    assert store.holder_gone(holder)
    store.save("s1", DOC, token=lock["token"])  # its true record is kept ...
    assert store.load("s1") == DOC
    assert lock_version(store, "s1") == before  # ... but the dead run's lock is not refreshed


def test_save_without_a_token_checks_nothing(make_store):
    store = make_store()
    store.acquire_lock("s1", os.getpid())
    store.save("s1", DOC)
    assert store.load("s1") == DOC


def test_s3_lock_age_is_measured_by_the_server_clock(s3):
    store = s3_store()
    store.acquire_lock("s1", 1, ttl=60)
    holder = store.read_lock("s1")
    assert 0 <= holder["age"] < 5
    assert holder["heartbeat_at"].endswith("Z")


def test_refresh_interval_bounds():
    assert refresh_interval(120) == 30.0
    assert refresh_interval(8) == 2.0
    assert refresh_interval(2) == 1.0
    assert refresh_interval(None) == 30.0


def bucket_owned_by(store, account):
    """S3's own check, which moto does not make: a call that names an ExpectedBucketOwner other than the bucket's
    owner is refused with 403 AccessDenied (a call that names none is not checked). Returns the (operation,
    ExpectedBucketOwner) of every call the store makes."""
    seen = []

    def check(params, model, **kwargs):
        seen.append((model.name, params.get("ExpectedBucketOwner")))
        if params.get("ExpectedBucketOwner") not in (None, account):
            raise client_error("AccessDenied", model.name, status=403, message="Access Denied")

    store.client.client.meta.events.register("before-parameter-build.s3", check)
    return seen


def test_every_s3_call_names_the_account_that_must_own_the_bucket(s3):
    asked = []
    store = S3StateStore(wrapped_client("s3"), BUCKET, "geusemaker/stacks/",
                         owner=lambda: asked.append(1) or account_of(wrapped_client("sts")))
    seen = bucket_owned_by(store, ACCOUNT)
    lock, _unused = store.acquire_lock("s1", os.getpid())
    store.save("s1", DOC, token=lock["token"])
    assert store.load("s1") == DOC and store.list_stacks() == ["s1"]
    store.save_report("s1", "# report\n")
    assert store.release_lock("s1", lock["token"]) is True
    assert {operation for operation, _unused in seen} >= {"GetObject", "PutObject", "DeleteObject", "ListObjectsV2"}
    assert {owner for _unused, owner in seen} == {ACCOUNT}
    assert asked == [1]  # asked once, at the first call


def test_a_bucket_another_account_owns_is_never_read_or_written(s3):
    # The bucket name is someone else's (a name taken in another account, or one given by whoever may set
    # state_bucket): S3 refuses every call, and the store says why.
    store = S3StateStore(wrapped_client("s3"), BUCKET, "geusemaker/stacks/", owner=lambda: ACCOUNT)
    bucket_owned_by(store, "210987654321")
    with pytest.raises(StateError, match="AccessDenied.*must be owned by account {0}".format(ACCOUNT)):
        store.save("s1", DOC)
    with pytest.raises(StateError, match="must be owned by account"):
        store.load("s1")
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents") is None


def test_the_account_of_credentials_that_do_not_work_is_a_clear_error(aws, monkeypatch):
    assert account_of(wrapped_client("sts")) == ACCOUNT
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    import boto3
    with pytest.raises(StateError, match="cannot tell the account of the credentials, which must own the state bucket"):
        account_of(boto3.session.Session().client("sts", region_name=REGION))
