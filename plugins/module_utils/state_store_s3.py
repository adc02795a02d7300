# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The S3 backend of the state store: documents, locks and reports as objects, every write conditional (see state_store)."""

import email.utils
import json
import socket
import time
import uuid

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.geusemaker.stack.plugins.module_utils.aws import error_code, list_all
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    ANY_VERSION,
    DEFAULT_STATE_PREFIX,
    LOCK_TTL_SECONDS,
    LockLost,
    S3_ERRORS,
    StateConflict,
    StateCorrupt,
    StateError,
    StateStore,
    conflict_message,
    dump_document,
    iso,
    lost_message,
    parse_document,
    public_holder,
    refresh_interval,
    stamp,
    utc_now,
)


class S3StateStore(StateStore):
    """State documents as objects under ``s3://<bucket>/<prefix>``, every write conditional.

    ``client`` is a boto3 S3 client (inside modules, the module's own: same credentials, region and endpoint), or
    amazon.aws's retrying wrapper around one. A write whose answer was lost and that is retried finds its own ETag
    changed: the store reads the object back and counts a write of the same content as its own."""

    CONFLICT_CODES = ["PreconditionFailed", "ConditionalRequestConflict", "412", "409"]
    MISSING_CODES = ["NoSuchKey", "404", "NotFound"]

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

    def _params(self, **params):
        params["Bucket"] = self.bucket
        if self.owner():
            params["ExpectedBucketOwner"] = self.owner()
        return params

    def _call(self, operation, **params):
        if getattr(self.client, "retry", None) is not None:  # amazon.aws's RetryingBotoClientWrapper
            params["aws_retry"] = True
        return getattr(self.client, operation)(**self._params(**params))

    def _error(self, error, doing, key):
        code = error_code(error)
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
        except is_boto3_error_code(self.MISSING_CODES):
            return None
        except S3_ERRORS as e:  # pylint: disable=duplicate-except
            raise self._error(e, "read", key)
        body = answer["Body"].read()
        modified = answer.get("LastModified")
        age = None
        if modified is not None:
            served = _server_time(answer) or utc_now()
            age = max(0.0, (served - modified).total_seconds())
        return body, answer.get("ETag"), age, modified

    def _put(self, key, data, content_type, **conditions):
        """The new ETag; None when a condition did not hold (an IfMatch on an object now gone included)."""
        unmet = self.CONFLICT_CODES + (self.MISSING_CODES if conditions.get("IfMatch") else [])
        try:
            return self._call("put_object", Key=key, Body=data, ContentType=content_type, **conditions).get("ETag")
        except is_boto3_error_code(unmet):
            return None
        except S3_ERRORS as e:  # pylint: disable=duplicate-except
            raise self._error(e, "write", key)

    def _delete(self, key, etag=None):
        params = {"IfMatch": etag} if etag else {}
        try:
            self._call("delete_object", Key=key, **params)
        except is_boto3_error_code(self.CONFLICT_CODES + self.MISSING_CODES):
            return False
        except S3_ERRORS as e:  # pylint: disable=duplicate-except
            raise self._error(e, "delete", key)
        return True

    def load_versioned(self, stack_name, quarantine=True):
        key = self.key(stack_name)
        found = self._get(key)
        if found is None:
            return None, None
        raw, etag = found[0], found[1]
        try:
            document = parse_document(raw)
        except ValueError as e:
            where = self._url(key)
            if not quarantine:
                raise StateCorrupt("state document {0} is corrupt ({1})".format(where, e), None)
            aside = "{0}.corrupt-{1}".format(key, stamp())
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
        data = dump_document(document)
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
                aside = "{0}.conflict-{1}-{2}".format(key, stamp(), uuid.uuid4().hex[:6])
                self._put(aside, data, "application/json")
                raise StateConflict(conflict_message(stack_name, self._url(key), self._url(aside)), self._url(aside))
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
        try:
            items = list_all(self.client, "list_objects_v2", "Contents", **self._params(Prefix=self.prefix))
        except S3_ERRORS as e:
            raise self._error(e, "list", self.prefix)
        names = (item["Key"][len(self.prefix):] for item in items)
        return sorted(name[: -len(".json")] for name in names if name.endswith(".json") and "/" not in name and not name.startswith("."))

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
        record = public_holder(holder)
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
                raise LockLost(lost_message(stack_name, public_holder(current) if current else None),
                               public_holder(current) if current else None)
        self._refreshed[stack_name] = time.monotonic()


def _describe(error):
    try:
        return "{0} ({1})".format(error.response["Error"].get("Message") or error_code(error), error_code(error))
    except (AttributeError, KeyError, TypeError):
        return str(error)


def _server_time(answer):
    try:
        return email.utils.parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"])
    except (KeyError, TypeError, ValueError):
        return None
