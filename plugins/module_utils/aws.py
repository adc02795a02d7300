# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How module_utils talk to AWS: the errors they catch, paginated listings and waits.

Every client handed to module_utils is an amazon.aws ``RetryingBotoClientWrapper`` (AWSRetry: throttling
and 5xx), so calls pass ``aws_retry=True``.
"""

import re
import time

try:
    from botocore import xform_name
    from botocore.exceptions import BotoCoreError, ClientError

    AWS_ERRORS = (BotoCoreError, ClientError)
except ImportError:
    AWS_ERRORS = ()  # AnsibleAWSModule reports the missing SDK

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code, paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

__all__ = ["AWS_ERRORS", "is_boto3_error_code", "error_code", "retry_decorator", "answer_or_none", "list_all", "WaitFailed",
           "WaitTimeout", "wait_until", "PERMISSION_CODES", "permission_problem", "describe_created"]

# How AWS refuses a call the credentials may not make: EC2's answer, IAM's and the query services', the JSON
# services' (SSM, EFS, Service Quotas).
PERMISSION_CODES = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnauthorizedAccess")
_REFUSED_ACTION = re.compile(r"not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9]+)")


# Throttling answers AWSRetry's own list lacks: SSM's and EFS's.
EXTRA_THROTTLING_CODES = ["ThrottlingException"]


def retry_decorator():
    # Throttling and server errors; short first delay because most calls here are cheap describes.
    return AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=10, catch_extra_error_codes=EXTRA_THROTTLING_CODES)


# EC2 is eventually consistent: a resource created a moment ago, by this run or the task before, may be unknown to
# a describe by its id for a while ("Eventual consistency in the Amazon EC2 API").
NOT_YET_VISIBLE_CODES = ["InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound"]


def describe_created(operation, **params):
    """``operation(**params)`` (a describe by the ids of resources the stack created), retried with AWSRetry while
    EC2 still says they do not exist, as amazon.aws's modules retry the same codes."""
    retry = AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=10,
                                      catch_extra_error_codes=NOT_YET_VISIBLE_CODES + EXTRA_THROTTLING_CODES)
    return retry(operation)(**params)


def error_code(error):
    """The AWS error code of ``error``; for errors without one (no connection, a bug), its class name."""
    try:
        return error.response["Error"]["Code"]
    except (AttributeError, KeyError, TypeError):
        return type(error).__name__


def permission_problem(error):
    """What to tell the user about an authorization refusal: the action AWS names in its message (or the API
    call), that it is a permission and not a capacity or input problem, and how to find what is missing."""
    text = str(error)
    match = _REFUSED_ACTION.search(text)
    action = match.group(1) if match else "the {0} call".format(getattr(error, "operation_name", "AWS"))
    hint = ("AWS encoded the details: decode them with `aws sts decode-authorization-message --encoded-message "
            "<the message above>`; " if "encoded authorization failure message" in text.lower() else "")
    return ("a permission problem, not a capacity or input one: these AWS credentials may not {0}. {1}Grant what "
            "docs/iam/deployer-policy.json grants (README: 'The deployer policy' shows how to check it on the account "
            "with aws iam simulate-principal-policy), then run again".format(action, hint))


def answer_or_none(operation, result_key, gone_codes, **params):
    """``operation(**params)[result_key]``, or None when AWS answers that it does not exist (one of ``gone_codes``)."""
    try:
        return operation(aws_retry=True, **params)[result_key]
    except is_boto3_error_code(gone_codes):
        return None


def list_all(client, operation, result_key, **params):
    """Every item of a paginated listing (botocore's paginator, AWSRetry around the whole walk)."""
    retry = getattr(client, "retry", None) or retry_decorator()  # the client's own AWSRetry, when it has one
    return paginated_query_with_retries(client, operation, retry, **params).get(result_key, [])


class WaitFailed(Exception):
    """A waiter reached a failure state; ``response`` is the answer that decided it."""

    def __init__(self, waiter_name, response):
        super().__init__("{0} reached a failure state".format(waiter_name))
        self.response = response


class WaitTimeout(Exception):
    """The deadline passed before the waiter succeeded; ``response`` is the last answer."""

    def __init__(self, waiter_name, response):
        super().__init__("{0} did not succeed in time".format(waiter_name))
        self.response = response


def wait_until(client, waiter_name, timeout, delay=2, clock=time.monotonic, sleep=time.sleep, heartbeat=None, **params):
    """Wait as botocore's waiter ``waiter_name`` defines success and failure, polling every ``delay`` seconds.

    botocore's own loop counts attempts and sleeps 15 s by default; this one keeps botocore's acceptors but has a
    deadline in seconds, calls ``heartbeat()`` between polls and goes through the retrying client. Returns the
    successful response; raises WaitFailed, WaitTimeout, or the ClientError no acceptor expected.
    """
    config = client.get_waiter(waiter_name).config
    operation = getattr(client, xform_name(config.operation))
    deadline = clock() + timeout
    while True:
        try:
            response = operation(aws_retry=True, **params)
        except ClientError as e:
            response = e.response
        state = next((acceptor.state for acceptor in config.acceptors if acceptor.matcher_func(response)), None)
        if state == "success":
            return response
        if state == "failure":
            raise WaitFailed(waiter_name, response)
        if state is None and "Error" in response:
            raise ClientError(response, config.operation)
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(waiter_name, response)
        if heartbeat is not None:
            heartbeat()
        sleep(min(delay, remaining))
