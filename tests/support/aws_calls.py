"""Unit-test spies and fakes for botocore clients: one home for them.

They hook the client's own events, so they see every call of an operation, whether it comes through the retry
wrapper's methods, a paginator or a waiter. ``client`` may be a boto3 client or amazon.aws's
RetryingBotoClientWrapper around one. Each hook lives as long as the client (a test's clients are its own).

    on_call(ec2, "DescribeInstanceStatus", lambda params: {"InstanceStatuses": []})   # answer instead of AWS
    on_call(efs, "DescribeFileSystems", refuse_with(client_error("AccessDeniedException")))
    after_call(efs, "DescribeFileSystems", lambda params, parsed: parsed["FileSystems"][0].update(...))
    hide_tag_lookups(ec2)                                                             # AWS's tag filters, late
    calls = spy(ec2, "RunInstances")                                                 # the params of each call
    lose_responses(efs, "CreateMountTarget", client_error("MountTargetConflict"))     # AWS did it; the answer is lost
"""

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError


def client_error(code, operation="Call", status=400, message=None):
    """A ClientError as botocore raises it for an AWS refusal."""
    return ClientError(
        {"Error": {"Code": code, "Message": message or code + " says no"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def refuse_with(*errors):
    """A handler for on_call that raises each of ``errors`` in turn, then lets calls through."""
    pending = list(errors)

    def handler(params):
        if pending:
            raise pending.pop(0)
        return None

    return handler


def always(error):
    """A handler for on_call that raises ``error`` on every call."""

    def handler(params):
        raise error

    return handler


def _raw(client):
    return getattr(client, "client", client)


def _event(client, stage, operation):
    """The event name for an operation given as AWS names it (DescribeVpcs) or as boto3 does (describe_vpcs)."""
    raw = _raw(client)
    operation = raw.meta.method_to_api_mapping.get(operation, operation)
    return "{0}.{1}.{2}".format(stage, raw.meta.service_model.service_id.hyphenize(), operation), raw.meta.events


def _remember_params(client, operation):
    name, events = _event(client, "before-parameter-build", operation)

    def remember(params, context, **kwargs):
        context["spied_params"] = dict(params)

    events.register(name, remember, unique_id="spied-params-" + name)


def on_call(client, operation, handler):
    """Before each call of ``operation``: ``handler(params)`` may return a parsed response (AWS is not asked),
    raise (the caller gets the error), or return None (the call goes on)."""
    _remember_params(client, operation)
    name, events = _event(client, "before-call", operation)

    def before(model, context, **kwargs):
        parsed = handler(context.get("spied_params", {}))
        if parsed is None:
            return None
        return AWSResponse("https://spied.invalid/", 200, {}, None), parsed

    events.register(name, before)


def after_call(client, operation, change):
    """After each successful call of ``operation``: ``change(params, parsed)`` may edit the parsed response."""
    _remember_params(client, operation)
    name, events = _event(client, "after-call", operation)

    def after(parsed, context, **kwargs):
        if parsed and "Error" not in parsed:
            change(context.get("spied_params", {}), parsed)

    events.register(name, after)


TAGGED_DESCRIBES = ("DescribeVpcs", "DescribeSubnets", "DescribeInternetGateways", "DescribeRouteTables",
                    "DescribeSecurityGroups", "DescribeVolumes", "DescribeInstances")


def hide_tag_lookups(ec2):
    """AWS's tag filters do not show yet what was created seconds ago: every describe filtered by a tag finds
    nothing, while a describe by id still shows the resource with its tags."""

    def find_nothing(params, parsed):
        if any(f["Name"].startswith("tag:") for f in params.get("Filters", [])):
            for key, value in list(parsed.items()):
                if isinstance(value, list):
                    parsed[key] = []

    for operation in TAGGED_DESCRIBES:
        after_call(ec2, operation, find_nothing)


def spy(client, operation, refusals=()):
    """The params of every call of ``operation`` from now on, in order; the first calls get ``refusals`` raised."""
    calls, pending = [], list(refusals)

    def record(params):
        calls.append(params)
        if pending:
            raise pending.pop(0)
        return None

    on_call(client, operation, record)
    return calls


def lose_responses(client, operation, error):
    """Every call of ``operation`` reaches AWS, which does the work; the caller gets ``error`` instead of the answer."""
    name, events = _event(client, "after-call", operation)

    def lose(parsed, **kwargs):
        raise error

    events.register(name, lose)


def _in_turn(values):
    pending = list(values)
    return lambda: pending.pop(0) if len(pending) > 1 else pending[0]


def answer_in_turn(client, operation, answers, when=lambda params: True):
    """Answer the calls of ``operation`` that ``when(params)`` accepts with ``answers`` in turn (the last repeats);
    an exception among them is raised. Returns the params of those calls."""
    calls, next_answer = [], _in_turn(answers)

    def handler(params):
        if not when(params):
            return None
        calls.append(params)
        answer = next_answer()
        if isinstance(answer, Exception):
            raise answer
        return answer

    on_call(client, operation, handler)
    return calls


def states_in_turn(client, operation, items_key, states, when=lambda params: True, field="LifeCycleState"):
    """Let the calls of ``operation`` that ``when(params)`` accepts reach AWS, then set ``field`` of every item under
    ``items_key`` to the next of ``states`` (the last repeats); an exception among them is raised instead of the
    call. Returns the states handed out, in order."""
    seen, next_state, current = [], _in_turn(states), {}

    def before(params):
        if when(params):
            state = current["state"] = next_state()
            seen.append(state)
            if isinstance(state, Exception):
                raise state
        return None

    def after(params, parsed):
        if when(params):
            for item in parsed.get(items_key, []):
                item[field] = current["state"]

    on_call(client, operation, before)
    after_call(client, operation, after)
    return seen
