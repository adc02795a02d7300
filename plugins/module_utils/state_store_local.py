# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The local backend of the state store: documents, locks and reports in a directory (see state_store)."""

import datetime
import errno
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
import uuid
from contextlib import contextmanager

from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    ANY_VERSION,
    LOCK_TTL_SECONDS,
    StateConflict,
    StateCorrupt,
    StateError,
    StateStore,
    conflict_message,
    dump_document,
    iso,
    parse_document,
    stamp,
)


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


class LocalStateStore(StateStore):
    """State documents as files in one directory, written with temp file, fsync and rename (mode 0600).

    Saves and lock breaks hold an flock of the directory, so a token check or a version check and the write that
    follows cannot interleave with another process's."""

    def __init__(self, root, lock_ttl=LOCK_TTL_SECONDS, hostname=None):
        super().__init__()
        self.root = os.path.abspath(os.path.expanduser(root))
        self.lock_ttl = lock_ttl
        self.hostname = hostname or socket.gethostname()

    def location(self, stack_name):
        return os.path.join(self.root, stack_name + ".json")

    def _lock_path(self, stack_name):
        return os.path.join(self.root, stack_name + ".lock")

    def ensure_writable(self):
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        except OSError as e:
            raise StateError("state_dir {0} cannot be created: {1}".format(self.root, e.strerror))
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StateError("state_dir {0} is not writable".format(self.root))

    @contextmanager
    def _guard(self):
        fd = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _read_raw(self, path):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError("state file {0} cannot be read: {1}; check state_dir {2}".format(path, e.strerror, self.root))

    def load_versioned(self, stack_name, quarantine=True):
        path = self.location(stack_name)
        raw = self._read_raw(path)
        if raw is None:
            return None, None
        try:
            document = parse_document(raw)
        except ValueError as e:
            if not quarantine:
                raise StateCorrupt("state file {0} is corrupt ({1})".format(path, e), None)
            aside = "{0}.corrupt-{1}".format(path, stamp())
            os.replace(path, aside)
            raise StateCorrupt(
                "state file {0} is corrupt ({1}); it was moved aside to {2}. Nothing was changed in AWS. "
                "Re-run to rebuild the ledger from the resources' ownership tags, or restore the file.".format(path, e, aside),
                aside,
            )
        return document, sha256_of(raw)

    def save(self, stack_name, document, token=None, version=ANY_VERSION):
        self.ensure_writable()
        data = dump_document(document)
        path = self.location(stack_name)
        with self._guard():
            if token is not None:
                self._holder_for(stack_name, token)
            if version is not ANY_VERSION:
                current = self._read_raw(path)
                if (None if current is None else sha256_of(current)) != version:
                    aside = "{0}.conflict-{1}-{2}".format(path, stamp(), uuid.uuid4().hex[:6])
                    self._write_atomically(aside, data)
                    raise StateConflict(conflict_message(stack_name, path, aside), aside)
            self._write_atomically(path, data)
            if token is not None and not self.holder_gone(self.last_holder.get(stack_name)):
                self._touch_lock(stack_name)
        return sha256_of(data)

    def _write_atomically(self, path, data):
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=self.root)  # mkstemp gives 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def save_report(self, stack_name, text):
        self.ensure_writable()
        path = os.path.join(self.root, stack_name + ".recovery.md")
        self._write_atomically(path, text.encode("utf-8"))
        return path

    def read_report(self, stack_name):
        raw = self._read_raw(os.path.join(self.root, stack_name + ".recovery.md"))
        return None if raw is None else raw.decode("utf-8", "replace")

    def list_stacks(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(name[: -len(".json")] for name in names if name.endswith(".json") and not name.startswith("."))

    def move_aside(self, stack_name, suffix):
        """Rename the stack's document and report to ``<name>.<suffix>`` (a migrated state stays, for the record)."""
        moved = []
        for name in (stack_name + ".json", stack_name + ".recovery.md"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                os.replace(path, "{0}.{1}".format(path, suffix))
                moved.append("{0}.{1}".format(path, suffix))
        return moved

    # The lock: a JSON file created with O_EXCL. Its mtime is the heartbeat.

    def read_lock(self, stack_name):
        path = self._lock_path(stack_name)
        try:
            with open(path) as handle:
                holder = json.load(handle)
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            return None
        except ValueError:
            return {"host": "?", "pid": None, "started_at": "?", "unreadable": True}
        if not isinstance(holder, dict):
            return {"host": "?", "pid": None, "started_at": "?", "unreadable": True}
        holder["heartbeat_at"] = iso(datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc))
        holder["age"] = max(0.0, time.time() - mtime)
        return holder

    def _create_lock(self, stack_name, record):
        path = self._lock_path(stack_name)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise StateError("lock {0} cannot be created: {1}".format(path, e.strerror))
            return False
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _break_lock(self, stack_name, holder):
        # Under the directory's flock, and only if the lock is still the one judged stale: of several racing
        # breakers only one removes it, and none removes the lock a faster one has taken since.
        with self._guard():
            current = self.read_lock(stack_name)
            if current is not None and current.get("token") == holder.get("token"):
                self._unlink_lock(stack_name)

    def _unlink_lock(self, stack_name):
        path = self._lock_path(stack_name)
        aside = "{0}.broken-{1}".format(path, uuid.uuid4().hex)
        try:
            os.rename(path, aside)
            os.unlink(aside)
        except FileNotFoundError:
            return False
        return True

    def _remove_lock(self, stack_name, holder):
        with self._guard():
            current = self.read_lock(stack_name)
            if current is None or current.get("token") != holder.get("token"):
                return False
            return self._unlink_lock(stack_name)

    def heartbeat(self, stack_name, token):
        with self._guard():
            return super().heartbeat(stack_name, token)

    def _refresh_lock(self, stack_name, holder):
        self._touch_lock(stack_name)

    def _touch_lock(self, stack_name):
        try:
            os.utime(self._lock_path(stack_name))
        except OSError:
            pass
