# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where stack state documents, their locks and recovery reports live: the one door to the state.

The state location is one set of options (``STATE_LOCATION_OPTIONS``: state_backend, state_dir, state_bucket,
state_prefix), given once per play; ``open_store(state_location(params), client_factory)`` gives the store behind
it. ``StateStore`` is the interface everything else uses; two backends implement it:

- ``LocalStateStore``: ``<dir>/<stack>.json``, ``<stack>.lock`` and ``<stack>.recovery.md``;
- ``S3StateStore``: the same documents at ``s3://<bucket>/<prefix><stack>.json``, ``.lock`` and ``.recovery.md``,
  written with S3 conditional writes.

Both give the same guarantees:

- **No lost update.** A document is saved only over the version this run read (``load_versioned``, then
  ``save(version=...)``): S3 ``IfMatch`` on the ETag, or ``IfNoneMatch='*'`` for the first save; locally the
  content's sha256, compared under an flock of the directory. A save that finds the document changed refuses with
  StateConflict, writes nothing over it, and keeps this run's version beside it (``<name>.json.conflict-<UTC>``).
- **Only the lock's holder writes.** A save or heartbeat that carries the run's lock ``token`` refuses with LockLost
  once that token no longer holds the stack's lock (another run broke it as stale), so a module orphaned by a killed
  run cannot overwrite the state of the run that took over. Without a token (a module used without the lock) nothing
  is checked.
- **One lock per stack**: created exclusively (``O_EXCL``, or S3 ``IfNoneMatch='*'``); it records host, pid, start
  time, TTL, token and the AWX job id. A holder is alive while its heartbeat is younger than its TTL (or, on this
  host, while its pid is); ``heartbeat()`` refreshes it (locally the file's mtime, on S3 a rewrite of the object,
  whose age is measured with S3's own clock).

The document format is the ledger's business.
"""

import datetime
import email.utils
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

try:
    from botocore.exceptions import BotoCoreError, ClientError

    S3_ERRORS = (BotoCoreError, ClientError)
except ImportError:
    S3_ERRORS = ()  # the S3 backend needs botocore; the local one does not

LOCK_TTL_SECONDS = 120
DEFAULT_STATE_DIR = "~/.geusemaker/stacks"
DEFAULT_STATE_PREFIX = "geusemaker/stacks/"
BACKENDS = ("local", "s3")

# Argument spec of the state location; defaults are resolved by state_location(), so they live here only.
STATE_LOCATION_OPTIONS = dict(
    state_backend=dict(type="str", choices=list(BACKENDS), default="local"),
    state_dir=dict(type="path"),
    state_bucket=dict(type="str"),
    state_prefix=dict(type="str"),
)
# The run's lock token, given once per play (module_defaults, from the lock task's registered result): every save
# and heartbeat of the run carries it, and the store refuses them once the token no longer holds the lock.
LOCK_OPTIONS = dict(
    lock_token=dict(type="str", no_log=False),
)
# Any version: an unconditional save (what a caller that never read the document asks for).
ANY_VERSION = object()


class StateError(Exception):
    """A state document or lock cannot be read or written."""


class StateCorrupt(StateError):
    """A state document that is not valid JSON; it has been moved aside to ``quarantined_to``."""

    def __init__(self, message, quarantined_to):
        super().__init__(message)
        self.quarantined_to = quarantined_to


class StateConflict(StateError):
    """The document changed since this run read it: nothing was overwritten; this run's version is at ``kept_at``."""

    def __init__(self, message, kept_at):
        super().__init__(message)
        self.kept_at = kept_at


class LockHeld(StateError):
    """Another live run holds the stack's lock."""

    def __init__(self, message, holder):
        super().__init__(message)
        self.holder = holder


class LockLost(StateError):
    """The run's token no longer holds the stack's lock: another run broke it and owns the state now."""

    def __init__(self, message, holder=None):
        super().__init__(message)
        self.holder = holder


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def describe_holder(holder):
    text = "host {host}, pid {pid}, started {started_at}".format(
        host=holder.get("host", "?"), pid=holder.get("pid", "?"), started_at=holder.get("started_at", "?")
    )
    if holder.get("awx_job_id"):
        text += ", AWX job {0}".format(holder["awx_job_id"])
    return text


def refresh_interval(ttl):
    """Seconds between two heartbeats of a lock with this TTL: a quarter of it, between 1 and 30."""
    try:
        ttl = float(ttl)
    except (TypeError, ValueError):
        ttl = LOCK_TTL_SECONDS
    return max(1.0, min(30.0, ttl / 4.0))


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _parse_document(raw):
    """The document in ``raw`` bytes; ValueError when it is not a GeuseMaker state document."""
    document = json.loads(raw.decode("utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise ValueError("not a GeuseMaker state document")
    return document


def _dump(document):
    return json.dumps(document, indent=2, sort_keys=True).encode("utf-8")


def _stamp():
    return utc_now().strftime("%Y%m%dT%H%M%SZ")


def _conflict_message(stack_name, where, kept_at):
    return ("the state of stack {0} at {1} was changed by someone else since this run read it; this run refused to "
            "overwrite it, so that record is kept as it is, and this run's own version was saved beside it at {2}. "
            "Nothing else was changed. Compare the two, keep the right one at {1}, then run again".format(
                stack_name, where, kept_at))


def _lost_message(stack_name, holder):
    if holder is None:
        return ("stack {0}'s lock is no longer held by this run (it was released or broken); this run stopped "
                "writing its state so as not to overwrite the run that took over".format(stack_name))
    return ("stack {0}'s lock is now held by another run ({1}), which broke this run's lock as stale; this run stopped "
            "writing its state so as not to overwrite that run's".format(stack_name, describe_holder(holder)))


class StateStore:
    """The interface of a state backend, and the lock rules both backends share."""

    hostname = None
    lock_ttl = LOCK_TTL_SECONDS

    def __init__(self):
        # The holder record seen by the last token check of a save or heartbeat ({stack_name: holder}).
        self.last_holder = {}

    def load(self, stack_name, quarantine=True):
        """The stack's document as a dict, or None when there is none.

        Raises StateCorrupt, after moving a corrupt document aside unless ``quarantine`` is false.
        """
        return self.load_versioned(stack_name, quarantine)[0]

    def load_versioned(self, stack_name, quarantine=True):
        """(document or None, version): ``version`` identifies what was read, for a conditional ``save``."""
        raise NotImplementedError

    def save(self, stack_name, document, token=None, version=ANY_VERSION):
        """Replace the stack's document atomically; returns its new version.

        ``token``: the run's lock token; LockLost when it no longer holds the lock (nothing is written).
        ``version``: what ``load_versioned`` returned (None: there was no document); StateConflict when the document
        is no longer that one (nothing is overwritten; this version is kept beside it). ``ANY_VERSION``: unconditional.
        """
        raise NotImplementedError

    def list_stacks(self):
        """Names of every stack with a document."""
        raise NotImplementedError

    def save_report(self, stack_name, text):
        """Store the stack's recovery report beside its document; returns where."""
        raise NotImplementedError

    def location(self, stack_name):
        """A human-readable address of the stack's document."""
        raise NotImplementedError

    def ensure_writable(self):
        """Raise StateError when the state location cannot be written (where that can be known beforehand)."""

    # The lock. Backends provide _create_lock, read_lock, _break_lock, _remove_lock and _refresh_lock.

    def read_lock(self, stack_name):
        """The current lock record (with ``heartbeat_at`` and ``age``, seconds since the last heartbeat), or None."""
        raise NotImplementedError

    def stale_reason(self, holder):
        """Why a lock record no longer protects a live run, or None when it does."""
        if holder.get("unreadable"):
            return "its lock is unreadable"
        if holder.get("host") == self.hostname:
            if not _pid_alive(holder.get("pid")):
                return "its process {0} is gone".format(holder.get("pid"))
            return None
        age = holder.get("age")
        if age is None:
            age = (utc_now() - parse_iso(holder["heartbeat_at"])).total_seconds()
        ttl = holder.get("ttl", self.lock_ttl)
        if age > ttl:
            return "its heartbeat is {0:.0f}s old, over the {1}s TTL".format(age, ttl)
        return None

    def holder_gone(self, holder):
        """True when the lock's holder is a process of this host that no longer exists (a killed run)."""
        return bool(holder) and holder.get("host") == self.hostname and not _pid_alive(holder.get("pid"))

    def acquire_lock(self, stack_name, pid, force=False, ttl=None, job_id=None):
        """Take the stack's lock for process ``pid`` on this host. Returns (lock, warnings). Raises LockHeld.

        ``ttl``: seconds another host waits after the last heartbeat before it may break the lock (default: the
        store's). ``job_id``: the AWX job that runs, recorded for whoever finds the lock held."""
        self.ensure_writable()
        record = {
            "host": self.hostname,
            "pid": pid,
            "started_at": iso(utc_now()),
            "ttl": int(ttl or self.lock_ttl),
            "token": uuid.uuid4().hex,
        }
        if job_id:
            record["awx_job_id"] = str(job_id)
        warnings = []
        for _attempt in range(3):
            if self._create_lock(stack_name, record):
                return record, warnings
            holder = self.read_lock(stack_name)
            if holder is None:
                continue
            if holder.get("token") == record["token"]:  # our own create, whose answer was lost
                return record, warnings
            reason = "forced by force_unlock" if force else self.stale_reason(holder)
            if reason is None:
                raise LockHeld(
                    "stack {0} is locked by another run ({1}). Wait for it to finish, or pass "
                    "-e force_unlock=true if you are sure it is dead.".format(stack_name, describe_holder(holder)),
                    _public(holder),
                )
            warnings.append("broke the lock of stack {0} held by {1}: {2}".format(stack_name, describe_holder(holder), reason))
            self._break_lock(stack_name, holder)
        raise StateError("the lock of stack {0} could not be taken after breaking a stale one".format(stack_name))

    def release_lock(self, stack_name, token):
        """Drop the lock if ``token`` still holds it. Returns True when a lock was removed."""
        holder = self.read_lock(stack_name)
        if holder is None or holder.get("token") != token:
            return False
        return self._remove_lock(stack_name, holder)

    def heartbeat(self, stack_name, token):
        """Refresh the lock ``token`` holds, and return its record; LockLost when the token no longer holds it."""
        holder = self._holder_for(stack_name, token)
        if not self.holder_gone(holder):  # a module that outlived its run does not keep the dead run's lock alive
            self._refresh_lock(stack_name, holder)
        return holder

    def _holder_for(self, stack_name, token):
        holder = self.read_lock(stack_name)
        if holder is None or holder.get("token") != token:
            raise LockLost(_lost_message(stack_name, _public(holder) if holder else None), _public(holder) if holder else None)
        self.last_holder[stack_name] = holder
        return holder


def _public(holder):
    return {k: v for k, v in holder.items() if not k.startswith("_")}


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
            document = _parse_document(raw)
        except ValueError as e:
            if not quarantine:
                raise StateCorrupt("state file {0} is corrupt ({1})".format(path, e), None)
            aside = "{0}.corrupt-{1}".format(path, _stamp())
            os.replace(path, aside)
            raise StateCorrupt(
                "state file {0} is corrupt ({1}); it was moved aside to {2}. Nothing was changed in AWS. "
                "Re-run to rebuild the ledger from the resources' ownership tags, or restore the file.".format(path, e, aside),
                aside,
            )
        return document, _sha256(raw)

    def save(self, stack_name, document, token=None, version=ANY_VERSION):
        self.ensure_writable()
        data = _dump(document)
        path = self.location(stack_name)
        with self._guard():
            if token is not None:
                self._holder_for(stack_name, token)
            if version is not ANY_VERSION:
                current = self._read_raw(path)
                if (None if current is None else _sha256(current)) != version:
                    aside = "{0}.conflict-{1}-{2}".format(path, _stamp(), uuid.uuid4().hex[:6])
                    self._write_atomically(aside, data)
                    raise StateConflict(_conflict_message(stack_name, path, aside), aside)
            self._write_atomically(path, data)
            if token is not None and not self.holder_gone(self.last_holder.get(stack_name)):
                self._touch_lock(stack_name)
        return _sha256(data)

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


class S3StateStore(StateStore):
    """State documents as objects under ``s3://<bucket>/<prefix>``, every write conditional.

    ``client`` is a boto3 S3 client (inside modules, the module's own: same credentials, region and endpoint), or
    amazon.aws's retrying wrapper around one. A write whose answer was lost and that is retried finds its own ETag
    changed: the store reads the object back and counts a write of the same content as its own."""

    CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
    MISSING_CODES = ("NoSuchKey", "404", "NotFound")

    def __init__(self, client, bucket, prefix=DEFAULT_STATE_PREFIX, lock_ttl=LOCK_TTL_SECONDS, hostname=None, owner=None):
        super().__init__()
        self.client = client
        self.bucket = bucket
        # The account that must own the bucket (every call sends it as ExpectedBucketOwner, and S3 refuses the call
        # when another account owns the bucket): a bucket name taken by someone else, or given by whoever may set
        # state_bucket, is never read or written. A callable, asked once, at the first call.
        self._owner = owner
        self.prefix = prefix
        self.lock_ttl = lock_ttl
        self.hostname = hostname or socket.gethostname()
        self._refreshed = {}  # stack_name -> monotonic time of this process's last lock refresh

    def key(self, stack_name, suffix=".json"):
        return self.prefix + stack_name + suffix

    def location(self, stack_name):
        return "s3://{0}/{1}".format(self.bucket, self.key(stack_name))

    def _url(self, key):
        return "s3://{0}/{1}".format(self.bucket, key)

    def owner(self):
        if callable(self._owner):
            self._owner = self._owner()
        return self._owner

    def _call(self, operation, **params):
        if getattr(self.client, "retry", None) is not None:  # amazon.aws's RetryingBotoClientWrapper
            params["aws_retry"] = True
        if self.owner():
            params["ExpectedBucketOwner"] = self.owner()
        return getattr(self.client, operation)(Bucket=self.bucket, **params)

    def _error(self, error, doing, key):
        code = _code(error)
        hint = ""
        if code in ("AccessDenied", "403"):
            owner = self._owner if isinstance(self._owner, str) else "of the credentials"
            hint = ("; the bucket must be owned by account {1}, and the credentials need s3:GetObject, s3:PutObject "
                    "and s3:DeleteObject on {0}* and s3:ListBucket on the bucket for that prefix (see the bucket policy "
                    "in docs/awx.md)".format(self._url(self.prefix), owner))
        elif code == "NoSuchBucket":
            hint = "; create the bucket (versioning on) or pass another state_bucket"
        return StateError("cannot {0} {1}: {2}{3}".format(doing, self._url(key), _describe(error), hint))

    def _get(self, key):
        """(bytes, etag, age in seconds by S3's clock, last modified), or None when the object does not exist."""
        try:
            answer = self._call("get_object", Key=key)
        except S3_ERRORS as e:
            if _code(e) in self.MISSING_CODES:
                return None
            raise self._error(e, "read", key)
        body = answer["Body"].read()
        modified = answer.get("LastModified")
        age = None
        if modified is not None:
            served = _server_time(answer) or utc_now()
            age = max(0.0, (served - modified).total_seconds())
        return body, answer.get("ETag"), age, modified

    def _put(self, key, data, content_type, **conditions):
        """The new ETag; None when a condition did not hold."""
        try:
            return self._call("put_object", Key=key, Body=data, ContentType=content_type, **conditions).get("ETag")
        except S3_ERRORS as e:
            if _code(e) in self.CONFLICT_CODES or (conditions.get("IfMatch") and _code(e) in self.MISSING_CODES):
                return None
            raise self._error(e, "write", key)

    def _delete(self, key, etag=None):
        params = {"IfMatch": etag} if etag else {}
        try:
            self._call("delete_object", Key=key, **params)
        except S3_ERRORS as e:
            if _code(e) in self.CONFLICT_CODES or _code(e) in self.MISSING_CODES:
                return False
            raise self._error(e, "delete", key)
        return True

    def load_versioned(self, stack_name, quarantine=True):
        key = self.key(stack_name)
        found = self._get(key)
        if found is None:
            return None, None
        raw, etag = found[0], found[1]
        try:
            document = _parse_document(raw)
        except ValueError as e:
            where = self._url(key)
            if not quarantine:
                raise StateCorrupt("state document {0} is corrupt ({1})".format(where, e), None)
            aside = "{0}.corrupt-{1}".format(key, _stamp())
            self._put(aside, raw, "application/octet-stream")
            self._delete(key, etag)
            raise StateCorrupt(
                "state document {0} is corrupt ({1}); it was moved aside to {2}. Nothing was changed in AWS. "
                "Re-run to rebuild the ledger from the resources' ownership tags, or restore it.".format(
                    where, e, self._url(aside)),
                self._url(aside),
            )
        return document, etag

    def save(self, stack_name, document, token=None, version=ANY_VERSION):
        key = self.key(stack_name)
        data = _dump(document)
        holder = self._holder_for(stack_name, token) if token is not None else None
        if version is ANY_VERSION:
            conditions = {}
        elif version is None:
            conditions = {"IfNoneMatch": "*"}
        else:
            conditions = {"IfMatch": version}
        etag = self._put(key, data, "application/json", **conditions)
        if etag is None:
            current = self._get(key)
            if current is not None and current[0] == data:  # a retried write of ours, whose first answer was lost
                etag = current[1]
            else:
                aside = "{0}.conflict-{1}-{2}".format(key, _stamp(), uuid.uuid4().hex[:6])
                self._put(aside, data, "application/json")
                raise StateConflict(_conflict_message(stack_name, self._url(key), self._url(aside)), self._url(aside))
        if holder is not None and not self.holder_gone(holder) and time.monotonic() - self._refreshed.get(stack_name, float("-inf")) >= refresh_interval(
                holder.get("ttl")):
            self._refresh_lock(stack_name, holder)
        return etag

    def save_report(self, stack_name, text):
        key = self.key(stack_name, ".recovery.md")
        self._put(key, text.encode("utf-8"), "text/markdown; charset=utf-8")
        return self._url(key)

    def read_report(self, stack_name):
        found = self._get(self.key(stack_name, ".recovery.md"))
        return None if found is None else found[0].decode("utf-8", "replace")

    def list_stacks(self):
        names = []
        params = {"Prefix": self.prefix}
        while True:
            try:
                answer = self._call("list_objects_v2", **params)
            except S3_ERRORS as e:
                raise self._error(e, "list", self.prefix)
            for item in answer.get("Contents", []):
                name = item["Key"][len(self.prefix):]
                if name.endswith(".json") and "/" not in name and not name.startswith("."):
                    names.append(name[: -len(".json")])
            if not answer.get("IsTruncated"):
                return sorted(names)
            params["ContinuationToken"] = answer["NextContinuationToken"]

    # The lock: an object created with IfNoneMatch='*'. Its LastModified is the heartbeat; its age is measured
    # against the Date of the same answer, so neither side's clock matters.

    def read_lock(self, stack_name):
        found = self._get(self.key(stack_name, ".lock"))
        if found is None:
            return None
        raw, etag, age, modified = found
        try:
            holder = json.loads(raw.decode("utf-8"))
            if not isinstance(holder, dict):
                raise ValueError("not a lock record")
        except ValueError:
            holder = {"host": "?", "pid": None, "started_at": "?", "unreadable": True}
        holder["_etag"] = etag
        if modified is not None:
            holder["heartbeat_at"] = iso(modified)
            holder["age"] = age
        return holder

    def _create_lock(self, stack_name, record):
        created = self._put(self.key(stack_name, ".lock"), json.dumps(record).encode("utf-8"), "application/json",
                            IfNoneMatch="*")
        if created is not None:
            self._refreshed[stack_name] = time.monotonic()
        return created is not None

    def _break_lock(self, stack_name, holder):
        # Only the lock that was read (its ETag): a breaker that lost the race, or a refreshed lock, is left alone.
        self._delete(self.key(stack_name, ".lock"), holder.get("_etag"))

    def _remove_lock(self, stack_name, holder):
        return self._delete(self.key(stack_name, ".lock"), holder.get("_etag"))

    def _refresh_lock(self, stack_name, holder):
        record = _public(holder)
        for name in ("heartbeat_at", "age"):
            record.pop(name, None)
        record["beat"] = int(record.get("beat", 0)) + 1  # a new ETag at every beat
        etag = self._put(self.key(stack_name, ".lock"), json.dumps(record).encode("utf-8"), "application/json",
                         IfMatch=holder.get("_etag"))
        if etag is None:
            # Changed since read: broken by another run (LockLost at the next check), or refreshed by another
            # module of this run.
            current = self.read_lock(stack_name)
            if current is None or current.get("token") != holder.get("token"):
                raise LockLost(_lost_message(stack_name, _public(current) if current else None),
                               _public(current) if current else None)
        self._refreshed[stack_name] = time.monotonic()


def _code(error):
    try:
        return error.response["Error"]["Code"]
    except (AttributeError, KeyError, TypeError):
        return type(error).__name__


def _describe(error):
    try:
        return "{0} ({1})".format(error.response["Error"].get("Message") or _code(error), _code(error))
    except (AttributeError, KeyError, TypeError):
        return str(error)


def _server_time(answer):
    try:
        return email.utils.parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"])
    except (KeyError, TypeError, ValueError):
        return None


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
    prefix = (params.get("state_prefix") or DEFAULT_STATE_PREFIX).lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    location = {
        "backend": backend,
        "dir": params.get("state_dir") or DEFAULT_STATE_DIR,
        "bucket": params.get("state_bucket") or None,
        "prefix": prefix or DEFAULT_STATE_PREFIX,
    }
    if backend == "s3" and not location["bucket"]:
        raise StateError("state_backend=s3 needs state_bucket, the S3 bucket that keeps the stacks' state")
    return location


def account_of(sts):
    """The account of the credentials behind ``sts`` (an STS client): the one that must own the state bucket."""
    try:
        return sts.get_caller_identity()["Account"]
    except S3_ERRORS as e:
        raise StateError("cannot tell the account of the credentials, which must own the state bucket: {0}".format(e))


def open_store(location, client_factory=None, owner=None):
    """The store behind a state location (see state_location).

    ``client_factory()`` makes the S3 client of the S3 backend: inside modules the module's own (its credentials,
    region and endpoint); on the controller, one from the same environment. ``owner()`` gives the account that
    must own the bucket (``account_of`` the same credentials)."""
    if location["backend"] == "s3":
        if client_factory is None:
            raise StateError("the S3 state backend needs an S3 client")
        return S3StateStore(client_factory(), location["bucket"], location["prefix"], owner=owner)
    if "://" in location["dir"]:
        raise StateError("state_dir {0}: only local directories are supported; for S3 pass state_backend=s3 and "
                         "state_bucket".format(location["dir"]))
    return LocalStateStore(location["dir"])
