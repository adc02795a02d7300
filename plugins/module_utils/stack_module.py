# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every geusemaker.stack resource module shares: common options, the ledger, clients, results."""

try:
    from botocore.exceptions import BotoCoreError, ClientError

    AWS_ERRORS = (BotoCoreError, ClientError)
except ImportError:
    AWS_ERRORS = ()  # AnsibleAWSModule reports the missing SDK

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger, LedgerError
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import ownership_tags, planned_id, stack_name_problem
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import StateError, open_store

COMMON_ARGUMENT_SPEC = dict(
    stack_name=dict(type="str", required=True),
    state_dir=dict(type="path", default="~/.geusemaker/stacks"),
    tags=dict(type="dict", default={}),
)

LEDGER_FACT = "geusemaker_ledger"


def retry_decorator():
    # Throttling and 5xx; short first delay because most calls here are cheap describes.
    return AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=10)


def error_code(error):
    try:
        return error.response["Error"]["Code"]
    except (AttributeError, KeyError, TypeError):
        return type(error).__name__


class Clients:
    """boto3 clients made on first use, each wrapped for ``aws_retry=True``."""

    def __init__(self, factory):
        self._factory = factory
        self._made = {}

    def __getattr__(self, service):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._made:
            self._made[service] = self._factory(service)
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


class StackModule(StackContext):
    """A StackContext driven by an AnsibleAWSModule: parameters in, ledger fact out."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(COMMON_ARGUMENT_SPEC)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleAWSModule(argument_spec=spec, **kwargs)
        params = self.module.params
        problem = stack_name_problem(params["stack_name"])
        if problem:
            self.module.fail_json(msg=problem)
        region = self.module.region
        if not region:
            self.module.fail_json(msg="no AWS region: set aws_region, AWS_REGION or AWS_DEFAULT_REGION")
        try:
            store = open_store(params["state_dir"])
            ledger = Ledger.open(store, params["stack_name"], region, persist=not self.module.check_mode)
        except (StateError, LedgerError) as e:
            self.module.fail_json(msg=str(e))
        self.store = store
        clients = Clients(lambda service: self.module.client(service, retry_decorator=retry_decorator()))
        super().__init__(params["stack_name"], region, ledger, clients, self.module.check_mode, params.get("tags"), params)

    def _fail_aws(self, error, msg, **details):
        self.module.fail_json_aws(error, msg=msg, **details)

    def fail(self, msg, **details):
        self.module.fail_json(msg=msg, **details)

    def exit(self, **result):
        if self.planned:
            result["planned"] = self.planned
        self.module.exit_json(changed=self.changed, ansible_facts={LEDGER_FACT: self.ledger.document}, **result)
