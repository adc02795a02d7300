# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where stack state documents, their locks and recovery reports live: the one door to the state.

The state location is one set of options (``STATE_LOCATION_OPTIONS``: state_backend, state_dir, state_bucket,
state_prefix), given once per play; ``open_store(state_location(params), client_factory)`` gives the store behind
it. ``StateStore`` is the interface everything else uses; two backends implement it:

- ``LocalStateStore`` (state_store_local.py): ``<dir>/<stack>.json``, ``<stack>.lock`` and ``<stack>.recovery.md``;
- ``S3StateStore`` (state_store_s3.py): the same documents at ``s3://<bucket>/<prefix><stack>.json``, ``.lock`` and ``.recovery.md``,
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
import json
import os
import uuid

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


def parse_document(raw):
    """The document in ``raw`` bytes; ValueError when it is not a GeuseMaker state document."""
    document = json.loads(raw.decode("utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise ValueError("not a GeuseMaker state document")
    return document


def dump_document(document):
    return json.dumps(document, indent=2, sort_keys=True).encode("utf-8")


def stamp():
    return utc_now().strftime("%Y%m%dT%H%M%SZ")


def conflict_message(stack_name, where, kept_at):
    return ("the state of stack {0} at {1} was changed by someone else since this run read it; this run refused to "
            "overwrite it, so that record is kept as it is, and this run's own version was saved beside it at {2}. "
            "Nothing else was changed. Compare the two, keep the right one at {1}, then run again".format(
                stack_name, where, kept_at))


def lost_message(stack_name, holder):
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
            if not pid_alive(holder.get("pid")):
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
        return bool(holder) and holder.get("host") == self.hostname and not pid_alive(holder.get("pid"))

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
                    public_holder(holder),
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
            raise LockLost(lost_message(stack_name, public_holder(holder) if holder else None), public_holder(holder) if holder else None)
        self.last_holder[stack_name] = holder
        return holder


def public_holder(holder):
    return {k: v for k, v in holder.items() if not k.startswith("_")}


def pid_alive(pid):
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
    # The backends build on this file's interface, so they are imported here, when a store is opened.
    from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_local import LocalStateStore
    from ansible_collections.geusemaker.stack.plugins.module_utils.state_store_s3 import S3StateStore

    if location["backend"] == "s3":
        if client_factory is None:
            raise StateError("the S3 state backend needs an S3 client")
        return S3StateStore(client_factory(), location["bucket"], location["prefix"], owner=owner)
    if "://" in location["dir"]:
        raise StateError("state_dir {0}: only local directories are supported; for S3 pass state_backend=s3 and "
                         "state_bucket".format(location["dir"]))
    return LocalStateStore(location["dir"])
