# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where stack state documents, their locks and recovery reports live: the one door to the state.

The state location is one set of options (``STATE_LOCATION_OPTIONS``: state_backend, state_dir, state_bucket,
state_prefix), given once per play; ``open_store(state_location(params))`` gives the store behind it.
``StateStore`` is the interface everything else uses. ``LocalStateStore`` keeps ``<dir>/<stack>.json``,
``<stack>.lock`` and ``<stack>.recovery.md``; an S3 backend (conditional writes) implements the same methods.
The document format is the ledger's business.
"""

import datetime
import errno
import json
import os
import socket
import tempfile
import uuid

LOCK_TTL_SECONDS = 300
DEFAULT_STATE_DIR = "~/.geusemaker/stacks"
DEFAULT_STATE_PREFIX = "geusemaker/stacks/"
BACKENDS = ("local",)

# Argument spec of the state location; defaults are resolved by state_location(), so they live here only.
STATE_LOCATION_OPTIONS = dict(
    state_backend=dict(type="str", choices=list(BACKENDS), default="local"),
    state_dir=dict(type="path"),
    state_bucket=dict(type="str"),
    state_prefix=dict(type="str"),
)


class StateError(Exception):
    """A state document or lock cannot be read or written."""


class StateCorrupt(StateError):
    """A state document that is not valid JSON; it has been moved aside to ``quarantined_to``."""

    def __init__(self, message, quarantined_to):
        super().__init__(message)
        self.quarantined_to = quarantined_to


class LockHeld(StateError):
    """Another live run holds the stack's lock."""

    def __init__(self, message, holder):
        super().__init__(message)
        self.holder = holder


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def describe_holder(holder):
    return "host {host}, pid {pid}, started {started_at}".format(
        host=holder.get("host", "?"), pid=holder.get("pid", "?"), started_at=holder.get("started_at", "?")
    )


class StateStore:
    """The interface of a state backend."""

    def load(self, stack_name, quarantine=True):
        """The stack's document as a dict, or None when there is none.

        Raises StateCorrupt, after moving a corrupt document aside unless ``quarantine`` is false.
        """
        raise NotImplementedError

    def save(self, stack_name, document):
        """Replace the stack's document atomically."""
        raise NotImplementedError

    def list_stacks(self):
        """Names of every stack with a document."""
        raise NotImplementedError

    def save_report(self, stack_name, text):
        """Store the stack's recovery report beside its document; returns where."""
        raise NotImplementedError

    def acquire_lock(self, stack_name, pid, force=False, ttl=None):
        """Take the stack's lock for process ``pid`` on this host. Returns (lock, warnings). Raises LockHeld.

        ``ttl``: seconds another host waits after the last heartbeat before it may break the lock; a run
        passes at least its longest wait without a state save (default: the store's)."""
        raise NotImplementedError

    def release_lock(self, stack_name, token):
        """Drop the lock if ``token`` still holds it. Returns True when a lock was removed."""
        raise NotImplementedError

    def read_lock(self, stack_name):
        """The current lock record, or None."""
        raise NotImplementedError

    def location(self, stack_name):
        """A human-readable address of the stack's document."""
        raise NotImplementedError


class LocalStateStore(StateStore):
    """State documents as files in one directory, written with temp file, fsync and rename (mode 0600)."""

    def __init__(self, root, lock_ttl=LOCK_TTL_SECONDS, hostname=None):
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

    def load(self, stack_name, quarantine=True):
        path = self.location(stack_name)
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError("state file {0} cannot be read: {1}; check state_dir {2}".format(path, e.strerror, self.root))
        try:
            document = json.loads(raw.decode("utf-8"))
            if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
                raise ValueError("not a GeuseMaker state document")
        except ValueError as e:
            if not quarantine:
                raise StateCorrupt("state file {0} is corrupt ({1})".format(path, e), None)
            aside = "{0}.corrupt-{1}".format(path, utc_now().strftime("%Y%m%dT%H%M%SZ"))
            os.replace(path, aside)
            raise StateCorrupt(
                "state file {0} is corrupt ({1}); it was moved aside to {2}. Nothing was changed in AWS. "
                "Re-run to rebuild the ledger from the resources' ownership tags, or restore the file.".format(path, e, aside),
                aside,
            )
        return document

    def save(self, stack_name, document):
        self.ensure_writable()
        data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
        self._write_atomically(self.location(stack_name), data)
        self._touch_lock(stack_name)

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

    def list_stacks(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(name[: -len(".json")] for name in names if name.endswith(".json") and not name.startswith("."))

    # The lock: a JSON file created with O_EXCL. Its mtime is the heartbeat, refreshed on every save.

    def read_lock(self, stack_name):
        path = self._lock_path(stack_name)
        try:
            with open(path) as handle:
                holder = json.load(handle)
            holder["heartbeat_at"] = iso(datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc))
            return holder
        except FileNotFoundError:
            return None
        except ValueError:
            return {"host": "?", "pid": None, "started_at": "?", "unreadable": True}

    def stale_reason(self, holder):
        """Why a lock record no longer protects a live run, or None when it does."""
        if holder.get("unreadable"):
            return "its lock file is unreadable"
        if holder.get("host") == self.hostname:
            if not _pid_alive(holder.get("pid")):
                return "its process {0} is gone".format(holder.get("pid"))
            return None
        age = (utc_now() - parse_iso(holder["heartbeat_at"])).total_seconds()
        if age > holder.get("ttl", self.lock_ttl):
            return "its heartbeat is {0:.0f}s old, over the {1}s TTL".format(age, holder.get("ttl", self.lock_ttl))
        return None

    def acquire_lock(self, stack_name, pid, force=False, ttl=None):
        self.ensure_writable()
        path = self._lock_path(stack_name)
        record = {
            "host": self.hostname,
            "pid": pid,
            "started_at": iso(utc_now()),
            "ttl": int(ttl or self.lock_ttl),
            "token": uuid.uuid4().hex,
        }
        warnings = []
        for _attempt in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise StateError("lock {0} cannot be created: {1}".format(path, e.strerror))
                holder = self.read_lock(stack_name)
                if holder is None:
                    continue
                reason = "forced by force_unlock" if force else self.stale_reason(holder)
                if reason is None:
                    raise LockHeld(
                        "stack {0} is locked by another run ({1}). Wait for it to finish, or pass "
                        "-e force_unlock=true if you are sure it is dead.".format(stack_name, describe_holder(holder)),
                        holder,
                    )
                warnings.append("broke the lock of stack {0} held by {1}: {2}".format(stack_name, describe_holder(holder), reason))
                self._break_lock(path)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
                handle.flush()
                os.fsync(handle.fileno())
            return record, warnings
        raise StateError("lock {0} could not be taken after breaking a stale one".format(path))

    def _break_lock(self, path):
        # Renaming first means only one of several racing breakers removes the stale lock.
        aside = "{0}.broken-{1}".format(path, uuid.uuid4().hex)
        try:
            os.rename(path, aside)
            os.unlink(aside)
        except FileNotFoundError:
            pass

    def release_lock(self, stack_name, token):
        holder = self.read_lock(stack_name)
        if holder is None or holder.get("token") != token:
            return False
        self._break_lock(self._lock_path(stack_name))
        return True

    def _touch_lock(self, stack_name):
        try:
            os.utime(self._lock_path(stack_name))
        except OSError:
            pass


def _pid_alive(pid):
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def state_location(params):
    """The state location named by module or task options, with its defaults filled in."""
    backend = params.get("state_backend") or "local"
    if backend not in BACKENDS:
        raise StateError("state_backend {0!r} is not one of {1}".format(backend, ", ".join(BACKENDS)))
    return {
        "backend": backend,
        "dir": params.get("state_dir") or DEFAULT_STATE_DIR,
        "bucket": params.get("state_bucket") or None,
        "prefix": params.get("state_prefix") or DEFAULT_STATE_PREFIX,
    }


def open_store(location):
    """The store behind a state location (see state_location)."""
    if "://" in location["dir"]:
        raise StateError("state_dir {0}: only local directories are supported".format(location["dir"]))
    return LocalStateStore(location["dir"])
