import errno
import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import state_store_local
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    LockHeld,
    StateCorrupt,
    StateError,
    iso,
    open_store,
    state_location,
    utc_now,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore

DOC = {"schema_version": 1, "stack_name": "s1", "resources": [], "events": []}


def test_save_is_atomic_0600_and_round_trips(tmp_path):
    store = LocalStateStore(str(tmp_path / "d"))
    store.save("s1", DOC)
    path = store.location("s1")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.load("s1") == DOC
    assert [n for n in os.listdir(store.root) if n.startswith(".")] == []  # no temp file left
    assert store.list_stacks() == ["s1"]


def test_missing_document_is_none(tmp_path):
    assert LocalStateStore(str(tmp_path)).load("nope") is None
    assert LocalStateStore(str(tmp_path / "absent")).list_stacks() == []


@pytest.mark.parametrize("content", [b'{"resources": [', b"[]", b'{"no": "resources"}', b"\xff\xfe"])
def test_corrupt_document_is_moved_aside_not_replaced(tmp_path, content):
    store = LocalStateStore(str(tmp_path))
    with open(store.location("s1"), "wb") as handle:
        handle.write(content)
    with pytest.raises(StateCorrupt) as caught:
        store.load("s1")
    assert not os.path.exists(store.location("s1"))
    with open(caught.value.quarantined_to, "rb") as handle:
        assert handle.read() == content
    assert ".json.corrupt-" in caught.value.quarantined_to
    assert caught.value.quarantined_to in str(caught.value)


def test_corrupt_document_left_in_place_without_quarantine(tmp_path):
    store = LocalStateStore(str(tmp_path))
    with open(store.location("s1"), "w") as handle:
        handle.write("{")
    with pytest.raises(StateCorrupt):
        store.load("s1", quarantine=False)
    assert os.path.exists(store.location("s1"))


@pytest.mark.parametrize("where", ["below a file", "a file"])
def test_a_state_dir_that_cannot_be_created_is_a_clear_error_even_for_root(tmp_path, where):
    """A file where the directory must be: no user, root included, can create it (modes would not stop root)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = LocalStateStore(str(blocker / "sub" if where == "below a file" else blocker))
    with pytest.raises(StateError, match="state_dir .* cannot be created: "):
        store.ensure_writable()
    with pytest.raises(StateError, match="cannot be created"):
        store.save("s1", DOC)
    with pytest.raises(StateError, match="cannot be created"):
        store.acquire_lock("s1", os.getpid())
    with pytest.raises(StateError, match="cannot be created"):
        store.save_report("s1", "text")
    assert blocker.read_text() == "x"


def test_a_state_dir_without_write_access_is_a_clear_error(tmp_path, monkeypatch):
    """What a read-only mount answers, root included: the directory exists, access(W_OK) says no."""
    store = LocalStateStore(str(tmp_path / "d"))
    store.save("s1", DOC)
    monkeypatch.setattr(state_store_local.os, "access", lambda path, mode: not (mode & os.W_OK))
    with pytest.raises(StateError, match="state_dir .*/d is not writable"):
        store.ensure_writable()
    with pytest.raises(StateError, match="is not writable"):
        store.save("s1", dict(DOC, status="deployed"))
    monkeypatch.undo()
    assert store.load("s1") == DOC


# Atomic saves: a write that fails at any point leaves the previous document whole.


def fail_the_write_midway(monkeypatch):
    """The file's write stores half of the data, then the disk is full."""
    real_fdopen = os.fdopen

    class HalfWritten:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(state_store_local.os, "fdopen", lambda *args, **kwargs: HalfWritten(real_fdopen(*args, **kwargs)))


def fail(name, error):
    def patch(monkeypatch):
        def refuse(*args, **kwargs):
            raise OSError(error, os.strerror(error))

        monkeypatch.setattr(state_store_local.os, name, refuse)

    return patch


@pytest.mark.parametrize("failure", [fail_the_write_midway, fail("fsync", errno.EIO), fail("replace", errno.EXDEV)],
                         ids=["write", "fsync", "rename"])
def test_a_save_that_fails_midway_leaves_the_previous_document_intact(tmp_path, monkeypatch, failure):
    store = LocalStateStore(str(tmp_path / "d"))
    store.save("s1", DOC)
    before = open(store.location("s1"), "rb").read()
    failure(monkeypatch)
    with pytest.raises(OSError):
        store.save("s1", dict(DOC, status="deployed", resources=[{"type": "vpc", "id": "vpc-" + "1" * 4000}]))
    monkeypatch.undo()
    assert open(store.location("s1"), "rb").read() == before
    assert store.load("s1") == DOC
    assert sorted(os.listdir(store.root)) == ["s1.json"]  # no temp file left behind


def test_a_save_writes_a_temp_file_syncs_it_then_renames_it_and_syncs_the_directory(tmp_path, monkeypatch):
    store = LocalStateStore(str(tmp_path / "d"))
    store.save("s1", DOC)
    final = store.location("s1")
    new = dict(DOC, status="deployed")
    steps = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        path = os.readlink("/proc/self/fd/{0}".format(fd))
        if os.path.isdir(path):
            steps.append(("fsync dir", path))
        else:
            # What this fsync makes durable, and what the document's own path holds meanwhile.
            steps.append(("fsync file", path, open(path).read(), open(final).read()))
        return real_fsync(fd)

    def replace(source, target):
        steps.append(("rename", source, target))
        return real_replace(source, target)

    monkeypatch.setattr(state_store_local.os, "fsync", fsync)
    monkeypatch.setattr(state_store_local.os, "replace", replace)
    store.save("s1", new)
    monkeypatch.undo()
    [(synced, temp, content, meanwhile), (renamed, source, target), (synced_dir, directory)] = steps
    assert (synced, renamed, synced_dir) == ("fsync file", "rename", "fsync dir")
    real = os.path.realpath
    assert os.path.dirname(temp) == real(store.root) and temp != real(final)  # a temp file beside the document
    assert json.loads(content) == new and json.loads(meanwhile) == DOC  # complete before the rename, old until then
    assert (real(source), real(target)) == (temp, real(final))
    assert directory == real(store.root)  # the rename itself made durable
    assert store.load("s1") == new and not os.path.exists(temp)


def test_save_report(tmp_path):
    store = LocalStateStore(str(tmp_path))
    path = store.save_report("s1", "hello\n")
    assert open(path).read() == "hello\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_lock_refuses_a_live_holder_and_names_it(tmp_path):
    store = LocalStateStore(str(tmp_path))
    lock, warnings = store.acquire_lock("s1", os.getpid())
    assert warnings == []
    with pytest.raises(LockHeld) as caught:
        store.acquire_lock("s1", os.getpid())
    message = str(caught.value)
    assert socket.gethostname() in message and str(os.getpid()) in message and lock["started_at"] in message
    assert store.release_lock("s1", "not-the-token") is False
    assert store.release_lock("s1", lock["token"]) is True
    assert store.read_lock("s1") is None


def test_lock_of_a_dead_process_is_stale_and_broken_with_a_warning(tmp_path):
    store = LocalStateStore(str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.acquire_lock("s1", dead.pid)
    lock, warnings = store.acquire_lock("s1", os.getpid())
    assert len(warnings) == 1 and "is gone" in warnings[0]
    assert store.read_lock("s1")["token"] == lock["token"]


def test_force_breaks_a_live_lock(tmp_path):
    store = LocalStateStore(str(tmp_path))
    store.acquire_lock("s1", os.getpid())
    _lock, warnings = store.acquire_lock("s1", os.getpid(), force=True)
    assert "force_unlock" in warnings[0]


def test_other_host_lock_is_stale_after_ttl(tmp_path):
    store = LocalStateStore(str(tmp_path), lock_ttl=60)
    other = LocalStateStore(str(tmp_path), lock_ttl=60, hostname="elsewhere")
    other.acquire_lock("s1", 1)
    with pytest.raises(LockHeld):
        store.acquire_lock("s1", os.getpid())
    old = utc_now().timestamp() - 120
    os.utime(os.path.join(str(tmp_path), "s1.lock"), (old, old))
    _lock, warnings = store.acquire_lock("s1", os.getpid())
    assert "TTL" in warnings[0]


def test_a_holder_with_a_longer_ttl_outlives_the_default(tmp_path):
    store = LocalStateStore(str(tmp_path), lock_ttl=60)
    other = LocalStateStore(str(tmp_path), lock_ttl=60, hostname="elsewhere")
    assert other.acquire_lock("s1", 1, ttl=1200)[0]["ttl"] == 1200
    old = utc_now().timestamp() - 600
    os.utime(os.path.join(str(tmp_path), "s1.lock"), (old, old))
    with pytest.raises(LockHeld):
        store.acquire_lock("s1", os.getpid())


def test_save_refreshes_the_heartbeat(tmp_path):
    store = LocalStateStore(str(tmp_path))
    lock, _unused = store.acquire_lock("s1", os.getpid())
    lock_path = os.path.join(str(tmp_path), "s1.lock")
    os.utime(lock_path, (1000, 1000))
    store.save("s1", DOC, token=lock["token"])  # the run's saves carry its lock token
    assert os.stat(lock_path).st_mtime > 1000


def test_unreadable_lock_is_stale(tmp_path):
    store = LocalStateStore(str(tmp_path))
    with open(os.path.join(str(tmp_path), "s1.lock"), "w") as handle:
        handle.write("{")
    _lock, warnings = store.acquire_lock("s1", os.getpid())
    assert "unreadable" in warnings[0]


def test_open_store_only_knows_local_directories(tmp_path):
    assert isinstance(open_store(state_location({"state_dir": str(tmp_path)})), LocalStateStore)
    with pytest.raises(StateError, match="only local"):
        open_store(state_location({"state_dir": "s3://bucket/prefix"}))
    with pytest.raises(StateError, match="state_backend 'nfs'"):
        state_location({"state_backend": "nfs"})
    assert state_location({}) == {"backend": "local", "dir": "~/.geusemaker/stacks", "bucket": None,
                                  "prefix": "geusemaker/stacks/"}


def test_iso_format():
    assert iso(utc_now()).endswith("Z")
