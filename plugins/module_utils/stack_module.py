# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every geusemaker.stack module shares: the stack's options, its ledger, AWS clients, results."""

from contextlib import contextmanager

try:
    import boto3
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError
except ImportError:
    pass  # AnsibleAWSModule reports the missing SDK

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

# Re-exported: modules and tests import these from here.
from ansible_collections.geusemaker.stack.plugins.module_utils.aws import AWS_ERRORS, error_code, retry_decorator  # noqa: F401
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger, LedgerError
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import ownership_tags, planned_id, stack_name_problem
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    STATE_LOCATION_OPTIONS,
    StateError,
    open_store,
    state_location,
)

# The options of the doc fragment geusemaker.stack.stack; a play gives them once, as module_defaults of the
# action group geusemaker.stack.stack.
STACK_OPTIONS = dict(
    stack_name=dict(type="str", required=True),
    tags=dict(type="dict", default={}),
    **STATE_LOCATION_OPTIONS
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

    def tags(self, key):
        return ownership_tags(self.stack_name, key, self.user_tags)

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
        """Log the failed attempt in the ledger, then fail with the AWS error."""
        code = error_code(error)
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
    """(account id, partition) of the credentials in use; StackFailure with a clear message when there are none."""
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
    return identity["Account"], identity["Arn"].split(":")[1]


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
        self.location = state_location(params)
        problem = stack_name_problem(params["stack_name"])
        if problem:
            self.module.fail_json(msg=problem)
        region = self.module.region
        if not region:
            self.fail("no AWS region: set aws_region, AWS_REGION or AWS_DEFAULT_REGION", problems=["no region"])
        if region not in known_regions():
            self.fail("aws_region {0!r} is not an AWS region this SDK knows".format(region), problems=["unknown region"])
        try:
            self.store = open_store(self.location)
        except StateError as e:
            self.fail(str(e))
        clients = Clients(lambda service: self.module.client(service, retry_decorator=retry_decorator()))
        super().__init__(params["stack_name"], region, None, clients, self.module.check_mode, params.get("tags"), params)
        if not lock_first:
            self.fail_on_error(self.open)

    def open(self):
        """Read the stack's state and pin the caller's account in it. Raises StackFailure: another account (naming
        both), no credentials, unreadable state."""
        try:
            self.ledger = Ledger.open(self.store, self.stack_name, self.region, persist=not self.check_mode)
            self.account_id, self.partition = caller_identity(self.clients.sts)
            self.ledger.pin_account(self.account_id, self.partition)
        except StateError as e:
            raise StackFailure(str(e))
        except LedgerError as e:
            raise StackFailure(str(e), error_code="AccountMismatch" if "account" in str(e) else None)

    def fail_on_error(self, step):
        try:
            step()
        except StackFailure as e:
            self.fail(str(e), **{k: v for k, v in e.details.items() if v is not None})

    def stack_result(self):
        return {STACK_RESULT: dict(stack_name=self.module.params["stack_name"], state=self.location)}

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
