# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every geusemaker.stack module shares: the stack's options, its ledger, AWS clients, results."""

import threading
import time
from contextlib import contextmanager

try:
    import boto3
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError
except ImportError:
    pass  # AnsibleAWSModule reports the missing SDK

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

# Re-exported: modules and tests import these from here.
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import (  # noqa: F401
    AWS_ERRORS,
    PERMISSION_CODES,
    error_code,
    permission_problem,
    retry_decorator,
)
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger, LedgerError, owned_entries
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import ownership_tags, planned_id, stack_name_problem
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    LOCK_OPTIONS,
    STATE_LOCATION_OPTIONS,
    LockLost,
    StateError,
    account_of,
    describe_holder,
    open_store,
    refresh_interval,
    state_location,
)

# The options of the doc fragments geusemaker.stack.stack and geusemaker.stack.state; a play gives them once, as
# module_defaults of the action group geusemaker.stack.stack.
STACK_OPTIONS = dict(
    stack_name=dict(type="str", required=True),
    tags=dict(type="dict", default={}),
    **STATE_LOCATION_OPTIONS,
    **LOCK_OPTIONS
)

LEDGER_FACT = "geusemaker_ledger"
# Every module result carries the stack and its state location, so the recovery callback finds them wherever
# the play set them.
STACK_RESULT = "geusemaker_stack"


class Clients:
    """boto3 clients made on first use, each wrapped for ``aws_retry=True``."""

    def __init__(self, factory):
        self._factory = factory
        self._made = {}

    def __getattr__(self, service):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._made:
            self._made[service] = self._factory(service.replace("_", "-"))  # service_quotas: service-quotas
        return self._made[service]


class StackFailure(Exception):
    """Raised by a StackContext used outside a module (tests, plugins) where a module would fail."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.details = details


class StackContext:
    """One stack's ledger, clients and tags: what the resource kinds in module_utils work with."""

    def __init__(self, stack_name, region, ledger, clients, check_mode=False, user_tags=None, params=None):
        self.stack_name = stack_name
        self.region = region
        self.ledger = ledger
        self.clients = clients
        self.check_mode = check_mode
        self.user_tags = user_tags or {}
        self.params = params or {}
        self.changed = False
        self.planned = []
        # The caller's account, once known (StackModule pins it); policies name it when they can.
        self.account_id = None
        self.partition = "aws"
        self.caller_arn = None

    def tags(self, key):
        return ownership_tags(self.stack_name, key, self.user_tags)

    def heartbeat(self):
        """Called between the polls of every long wait: StackModule keeps the run's lock alive there."""

    def plan(self, resource_type, key, **details):
        """Check mode: note what would be created and hand back a placeholder id."""
        self.changed = True
        self.planned.append(dict(type=resource_type, key=key, **details))
        return planned_id(resource_type, key)

    def record(self, resource_type, resource_id, provenance, **attributes):
        if provenance == "created":
            self.changed = True
        try:
            return self.ledger.record(resource_type, resource_id, provenance, **attributes)
        except (StateError, OSError) as e:
            self.fail(
                "{0} {1} exists but the state could not be saved: {2}".format(resource_type, resource_id, e),
                resource_type=resource_type,
                resource_id=resource_id,
            )

    @contextmanager
    def aws_call(self, msg, resource_type, resource_id=None, action="create"):
        """Fail with the resource type and the AWS error code when a call inside the block is refused."""
        try:
            yield
        except AWS_ERRORS as e:
            self.fail_aws(e, msg, resource_type, resource_id, action)

    def recorded_ids(self, resource_type):
        """The ids of ``resource_type`` the ledger holds as the stack's and not gone: a lookup reads them by id, since
        AWS's tag filters may not show yet what was created seconds ago."""
        return [entry["id"] for entry in owned_entries(self.ledger.document) if entry["type"] == resource_type]

    def adopt_or_create(self, resource_type, label, find, create):
        """Find the stack's resource with ``find()``, else create it with ``create()``; a refusal of either fails with
        the resource type. Returns (item, provenance), or (None, None) in check mode when it would be created."""
        with self.aws_call("cannot look up {0}".format(label), resource_type, action="find"):
            found = find()
        if found is not None:
            return found, "adopted"
        if self.check_mode:
            return None, None
        with self.aws_call("cannot create {0}".format(label), resource_type):
            return create(), "created"

    def fail_aws(self, error, msg, resource_type, resource_id=None, action="create"):
        """Log the failed attempt in the ledger, then fail with the AWS error (a refused permission says so)."""
        code = error_code(error)
        if code in PERMISSION_CODES:
            msg = "{0}: {1}".format(msg, permission_problem(error))
        try:
            self.ledger.event(action, resource_type, resource_id, "error", error_code=code, message=str(error)[:500])
        except (StateError, OSError):
            pass
        self._fail_aws(error, msg, resource_type=resource_type, resource_id=resource_id, error_code=code)

    def _fail_aws(self, error, msg, **details):
        raise StackFailure("{0}: {1}".format(msg, error), **details)

    def fail(self, msg, **details):
        raise StackFailure(msg, **details)


def known_regions():
    session = boto3.session.Session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return regions


def caller_identity(sts):
    """(account id, partition, ARN) of the credentials in use; StackFailure with a clear message when there are none."""
    try:
        identity = sts.get_caller_identity(aws_retry=True)
    except NoCredentialsError:
        raise StackFailure("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                           problems=["no credentials"])
    except EndpointConnectionError as e:
        raise StackFailure("the AWS endpoint does not answer: {0}".format(e), problems=["endpoint unreachable"])
    except NoRegionError:
        raise StackFailure("no AWS region: set aws_region", problems=["no region"])
    except AWS_ERRORS as e:
        raise StackFailure("the AWS credentials are not accepted ({0}): {1}".format(error_code(e), e),
                           problems=["credentials refused"], error_code=error_code(e))
    return identity["Account"], identity["Arn"].split(":")[1], identity["Arn"]


class RunGone(StateError):
    """The run that holds the stack's lock is gone (killed): the module that outlived it stops."""


class Heartbeat:
    """Keeps the run's lock alive from inside a module, and stops a module whose run is gone.

    Modules are processes of their own; when ansible-playbook is killed (a cancelled AWX job), the worker running a
    module has its own session and survives it, so the module would go on with its waits, its AWS calls and its
    saves. Called during every long wait (and after every save, with ``after_save``), this refreshes the lock at
    most every ``refresh_interval(ttl)`` seconds with the run's token, and raises LockLost when another run broke the
    lock, or RunGone when the lock's holder is a process of this host that no longer exists. Without a token (a
    module used without the lock) it does nothing. Thread-safe; once stopped, it raises at every call."""

    def __init__(self, store, stack_name, token, clock=time.monotonic):
        self.store = store
        self.stack_name = stack_name
        self.token = token
        self.clock = clock
        self.last = float("-inf")
        self.interval = refresh_interval(None)
        self.stopped = None
        self._guard = threading.Lock()

    def __call__(self, after_save=False):
        if self.token is None:
            return
        with self._guard:
            if self.stopped is not None:
                raise self.stopped
            if after_save:
                holder = self.store.last_holder.get(self.stack_name)
            elif self.clock() - self.last >= self.interval:
                try:
                    holder = self.store.heartbeat(self.stack_name, self.token)
                except LockLost as e:
                    self.stopped = e
                    raise
                except StateError:
                    return  # a state location that does not answer now; the next beat tries again
                self.last = self.clock()
                self.interval = refresh_interval(holder.get("ttl"))
            else:
                return
            if holder is not None and self.store.holder_gone(holder):
                self.stopped = RunGone(
                    "the run holding stack {0}'s lock ({1}) is gone, killed or cancelled; this module outlived it and "
                    "stopped here. The state records everything created so far; the lock frees when it is stale.".format(
                        self.stack_name, describe_holder(holder)))
                raise self.stopped


def module_clients(module, region=None):
    """The AWS clients of an AnsibleAWSModule (its credentials and endpoint; its region unless ``region`` is given),
    each through AWSRetry with the throttling codes AWSRetry's own list lacks."""
    regional = {"region": region} if region else {}
    return Clients(lambda service: module.client(service, retry_decorator=retry_decorator(), **regional))


def module_store(module, location, clients=None):
    """The store of ``location`` for an AnsibleAWSModule: the S3 backend's client is the module's own (its credentials,
    region and endpoint, from ``clients`` when given), and the bucket must be owned by those credentials' account."""
    clients = clients or module_clients(module)
    return open_store(location, lambda: clients.s3, owner=lambda: account_of(clients.sts))


class StackModule(StackContext):
    """A StackContext driven by an AnsibleAWSModule: parameters in, ledger fact out.

    Before the module body runs, the stack's name and region are checked, its state is read and the caller's
    account is pinned in the ledger. ``lock_first=True`` leaves reading the state and the account to ``open()``,
    for the lock, which must come before both."""

    def __init__(self, argument_spec, lock_first=False, **kwargs):
        spec = dict(STACK_OPTIONS)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleAWSModule(argument_spec=spec, **kwargs)
        params = self.module.params
        try:
            self.location = state_location(params)
        except StateError as e:
            self.module.fail_json(msg=str(e))
        problem = stack_name_problem(params["stack_name"])
        if problem:
            self.module.fail_json(msg=problem)
        region = self.module.region
        if not region:
            self.fail("no AWS region: set aws_region, AWS_REGION or AWS_DEFAULT_REGION", problems=["no region"])
        if region not in known_regions():
            self.fail("aws_region {0!r} is not an AWS region this SDK knows".format(region), problems=["unknown region"])
        clients = module_clients(self.module)
        try:
            self.store = module_store(self.module, self.location, clients)
        except StateError as e:
            self.fail(str(e))
        super().__init__(params["stack_name"], region, None, clients, self.module.check_mode, params.get("tags"), params)
        # In check mode nothing is saved and the lock is not taken (its token is a placeholder): no heartbeat.
        self.lock_token = None if self.module.check_mode else params.get("lock_token")
        self.beat = Heartbeat(self.store, params["stack_name"], self.lock_token)
        if not lock_first:
            self.fail_on_error(self.open)

    def open(self):
        """Read the stack's state and pin the caller's account in it. Raises StackFailure: another account (naming
        both), no credentials, unreadable state."""
        try:
            self.ledger = Ledger.open(self.store, self.stack_name, self.region, persist=not self.check_mode,
                                      lock_token=self.lock_token)
            self.account_id, self.partition, self.caller_arn = caller_identity(self.clients.sts)
            self.ledger.pin_account(self.account_id, self.partition)
        except StateError as e:
            raise StackFailure(str(e))
        except LedgerError as e:
            raise StackFailure(str(e), error_code=e.code)

    def fail_on_error(self, step):
        try:
            step()
        except StackFailure as e:
            self.fail(str(e), **{k: v for k, v in e.details.items() if v is not None})

    def heartbeat(self, after_save=False):
        """Keep the run's lock alive; stop the module (failed) when another run took the lock or its run is gone."""
        try:
            self.beat(after_save)
        except (LockLost, RunGone) as e:
            self.fail(str(e), error_code=type(e).__name__)

    def record(self, resource_type, resource_id, provenance, **attributes):
        entry = super().record(resource_type, resource_id, provenance, **attributes)
        if not self.check_mode:
            self.heartbeat(after_save=True)  # recorded first: a module that outlived its run stops after a true record
        return entry

    def stack_result(self):
        """The stack, its state location and how its state is reached (no secret): what the recovery callback reads."""
        params = self.module.params
        aws = dict(region=self.module.region, endpoint_url=params.get("endpoint_url") or None, profile=params.get("profile") or None)
        found = dict(stack_name=params["stack_name"], state=self.location, aws=aws)
        if params.get("commands"):  # stack_state's: how the user runs the playbooks (module_utils/recovery.py)
            found["commands"] = params["commands"]
        return {STACK_RESULT: found}

    def _fail_aws(self, error, msg, **details):
        details.update(self.stack_result())
        self.module.fail_json_aws(error, msg=msg, **details)

    def fail(self, msg, **details):
        details.update(self.stack_result())
        self.module.fail_json(msg=msg, **details)

    def exit(self, **result):
        if self.planned:
            result["planned"] = self.planned
        result.update(self.stack_result())
        self.module.exit_json(changed=self.changed, ansible_facts={LEDGER_FACT: self.ledger.document}, **result)
