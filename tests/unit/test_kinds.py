"""The registry of resource kinds, the ordering table and the ledger agree; a new kind needs nothing else."""

import types

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils import dependencies, kinds, ledger, recovery, teardown
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger, LedgerError


def test_registry_ordering_table_and_ledger_agree():
    assert set(kinds.KINDS) == set(dependencies.DELETE_AFTER)
    for resource_type, blockers in dependencies.DELETE_AFTER.items():
        assert set(blockers) <= set(kinds.KINDS), resource_type
    for resource_type, kind in kinds.KINDS.items():
        assert kind.type == resource_type
        for function in ("delete", "exists", "discover", "owned"):
            assert callable(getattr(kind.impl, function, None)), (resource_type, function)
        assert kind.gone_codes and kind.console and kind.delete_command, resource_type
    # The registry's order is the order its kind files were first imported, which depends on the tests that ran before.
    assert sorted(kind.type for kind in kinds.KINDS.values() if kind.data) == ["file_system", "ssm_parameter", "volume"]


def test_a_kind_without_its_delete_after_cannot_be_declared_and_an_unknown_type_has_no_order():
    with pytest.raises(TypeError):
        kinds.Kind("gadget", None, ("GadgetNotFound",), "x", "y")  # pylint: disable=no-value-for-parameter
    with pytest.raises(TypeError, match="a tuple of resource types"):
        kinds.Kind("gadget", None, ("GadgetNotFound",), "x", "y", "instance")
    with pytest.raises(ValueError, match="gadget.* not registered kinds"):
        dependencies.deletion_layers(["vpc", "gadget"])


def test_the_ledger_records_only_registered_kinds(store):
    book = Ledger.open(store, "s1", "us-east-1")
    with pytest.raises(LedgerError, match="unknown resource type"):
        book.record("gadget", "g-1", "created")


def test_unknown_type_is_named():
    with pytest.raises(ValueError, match="unknown resource type gadget"):
        kinds.get("gadget")


class Widgets:
    """A throw-away kind's code: widgets exist until deleted; deleting one while an instance exists fails for good
    (a refusal the teardown does not retry), so only the DELETE_AFTER row keeps the teardown right."""

    def __init__(self, cloud):
        self.cloud = cloud

    def delete(self, clients, entry):
        if any(kind == "instance" for kind, _unused in self.cloud) or self.cloud.terminating:
            raise teardown_error("WidgetInUse")
        self.cloud.discard(("widget", entry["id"]))
        self.cloud.log.append(("widget", entry["id"]))

    def exists(self, clients, entry):
        return ("widget", entry["id"]) in self.cloud

    def discover(self, clients, stack_name, region):
        return [{"id": "w-orphan", "key": "widget-orphan"}] if ("widget", "w-orphan") in self.cloud else []

    def owned(self, clients, entry, stack_name, region):
        return True if ("widget", entry["id"]) in self.cloud else None


class Instances:
    """An instance takes one more look to be gone after its delete, as terminating instances do."""

    def __init__(self, cloud):
        self.cloud = cloud

    def delete(self, clients, entry):
        self.cloud.discard(("instance", entry["id"]))
        self.cloud.terminating.add(entry["id"])
        self.cloud.log.append(("instance", entry["id"]))

    def exists(self, clients, entry):
        if entry["id"] in self.cloud.terminating:
            self.cloud.terminating.discard(entry["id"])
            return True
        return ("instance", entry["id"]) in self.cloud

    def discover(self, clients, stack_name, region):
        return []

    def owned(self, clients, entry, stack_name, region):
        return True if ("instance", entry["id"]) in self.cloud else None


class Nothing:
    @staticmethod
    def discover(clients, stack_name, region):
        return []


class Cloud(set):
    def __init__(self, items):
        super().__init__(items)
        self.log = []
        self.terminating = set()


def teardown_error(code):
    from tests.support.aws_calls import client_error

    return client_error(code, "DeleteWidget")


def test_a_throw_away_kind_is_one_record_and_one_row_and_is_torn_down_in_order(store, registry, monkeypatch):
    cloud = Cloud({("widget", "w-1"), ("widget", "w-orphan"), ("instance", "i-1")})
    # The registration path: the one record a kind file declares, its teardown order in it.
    kinds.register(kinds.Kind("widget", Widgets(cloud), ("WidgetNotFound",), "widgets/home?region={r}#{id}",
                              "aws widgets delete --region {r} --id {id}", ("instance",), hourly_usd=lambda entry: 0.25))
    # Only the widgets and one instance exist in this fake cloud.
    for resource_type, record in registry.items():
        if resource_type != "widget":
            record.impl = Instances(cloud) if resource_type == "instance" else Nothing

    book = Ledger.open(store, "s1", "us-east-1")
    book.record("widget", "w-1", "created")
    book.record("instance", "i-1", "created", instance_type="t3.medium")
    document = book.document
    [widget_hint] = [hint for hint in recovery.hints(document) if hint["type"] == "widget"]
    assert widget_hint["console"] == "https://us-east-1.console.aws.amazon.com/widgets/home?region=us-east-1#w-1"
    assert widget_hint["command"] == "aws widgets delete --region us-east-1 --id w-1"
    assert recovery.estimated_hourly_usd(ledger.owned_entries(document)) == pytest.approx(0.25 + 0.0416)

    plan = teardown.build_plan(book, teardown.discover_owned(None, "s1", "us-east-1"))
    assert [entry["type"] for entry in plan] == ["instance", "widget", "widget"]
    done, left = teardown.Teardown(book, None, timeout=10, poll=0.01).run(plan)
    assert left == [] and len(done) == 3 and not cloud
    assert cloud.log[0] == ("instance", "i-1")
    assert {entry["id"]: entry["status"] for entry in book.document["resources"]} == {
        "w-1": "deleted", "i-1": "deleted", "w-orphan": "deleted"}


def test_kind_cost_notes():
    assert kinds.get("vpc").cost_note({}) is None
    assert kinds.get("vpc").hourly_usd({}) is None
    assert "GB-month" in kinds.get("file_system").cost_note({})
    assert kinds.get("instance").hourly_usd({"instance_type": "g4dn.xlarge"}) == 0.526


def test_discover_owned_asks_every_kind(registry):
    asked = []
    for resource_type, kind in registry.items():
        kind.impl = types.SimpleNamespace(discover=lambda clients, name, region, t=resource_type: asked.append(t) or [])
    assert teardown.discover_owned(None, "s1", "us-east-1") == []
    assert asked == list(kinds.KINDS)
