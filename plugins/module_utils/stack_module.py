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


class StackModule:
    """An AnsibleAWSModule bound to one stack's ledger."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(COMMON_ARGUMENT_SPEC)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleAWSModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.stack_name = self.params["stack_name"]
        problem = stack_name_problem(self.stack_name)
        if problem:
            self.module.fail_json(msg=problem)
        self.region = self.module.region
        if not self.region:
            self.module.fail_json(msg="no AWS region: set aws_region, AWS_REGION or AWS_DEFAULT_REGION")
        self.changed = False
        self.planned = []
        try:
            self.store = open_store(self.params["state_dir"])
            self.ledger = Ledger.open(self.store, self.stack_name, self.region, persist=not self.check_mode)
        except (StateError, LedgerError) as e:
            self.module.fail_json(msg=str(e))
        self.clients = Clients(lambda service: self.module.client(service, retry_decorator=retry_decorator()))

    def tags(self, key):
        return ownership_tags(self.stack_name, key, self.params.get("tags"))

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
            self.module.fail_json(
                msg="{0} {1} exists but the state could not be saved: {2}".format(resource_type, resource_id, e),
                resource_type=resource_type,
                resource_id=resource_id,
            )

    def fail_aws(self, error, msg, resource_type, resource_id=None, action="create"):
        """Log the failed attempt in the ledger, then fail the task with the AWS error."""
        code = error_code(error)
        try:
            self.ledger.event(action, resource_type, resource_id, "error", error_code=code, message=str(error)[:500])
        except (StateError, OSError):
            pass
        self.module.fail_json_aws(error, msg=msg, resource_type=resource_type, resource_id=resource_id, error_code=code)

    def fail(self, msg, resource_type=None, **kwargs):
        self.module.fail_json(msg=msg, resource_type=resource_type, **kwargs)

    def exit(self, **result):
        if self.planned:
            result["planned"] = self.planned
        self.module.exit_json(changed=self.changed, ansible_facts={LEDGER_FACT: self.ledger.document}, **result)

