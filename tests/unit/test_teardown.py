"""The teardown engine on fake resource kinds: order, concurrency, transient refusals, deadline."""

import copy
import threading
import time

import pytest


from ansible_collections.geusemaker.stack.plugins.module_utils import kinds, teardown
from ansible_collections.geusemaker.stack.plugins.module_utils.dependencies import DELETE_AFTER, deletion_layers, deletion_order
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
from tests.support.aws_calls import client_error


class FakeCloud:
    """Resources that exist until deleted; a deletion is refused while a resource it waits for exists."""

    def __init__(self, ids_by_type, release_delay=0.0, refuse_forever=()):
        self.present = {(t, i) for t, ids in ids_by_type.items() for i in ids}
        self.deleting = {}
        self.calls = []
        self.started = {}
        self.release_delay = release_delay
        self.refuse_forever = set(refuse_forever)
        self.guard = threading.Lock()

    def kind(self, resource_type):
        cloud = self

        class Kind:
            @staticmethod
            def delete(clients, entry):
                with cloud.guard:
                    cloud.calls.append(("delete", resource_type, entry["id"]))
                    cloud.started.setdefault(entry["id"], time.monotonic())
                    if entry["id"] in cloud.refuse_forever:
                        raise client_error("DependencyViolation")
                    if (resource_type, entry["id"]) not in cloud.present:
                        raise client_error("InvalidVpcID.NotFound")
                    blockers = [p for p in cloud.present if p[0] in DELETE_AFTER[resource_type]]
                    if blockers:
                        raise client_error("DependencyViolation")
                    cloud.deleting[(resource_type, entry["id"])] = time.monotonic()

            @staticmethod
            def exists(clients, entry):
                with cloud.guard:
                    key = (resource_type, entry["id"])
                    since = cloud.deleting.get(key)
                    if since is not None and time.monotonic() - since >= cloud.release_delay:
                        cloud.present.discard(key)
                        del cloud.deleting[key]
                    return key in cloud.present

            @staticmethod
            def discover(clients, stack_name, region):
                return []

        return Kind


@pytest.fixture
def ledger(store):
    return Ledger.open(store, "s1", "us-east-1")


def with_impls(monkeypatch, make_impl):
    """Every registered kind, its code replaced by ``make_impl(type)``."""
    monkeypatch.setattr(kinds, "KINDS", {t: copy.copy(kind) for t, kind in kinds.KINDS.items()})
    for resource_type, kind in kinds.KINDS.items():
        kind.impl = make_impl(resource_type)


def fill(ledger, ids_by_type, monkeypatch, **cloud_options):
    cloud = FakeCloud(ids_by_type, **cloud_options)
    with_impls(monkeypatch, cloud.kind)
    for resource_type, ids in ids_by_type.items():
        for resource_id in ids:
            ledger.record(resource_type, resource_id, "created")
    return cloud


FULL_STACK = {
    "vpc": ["vpc-1"],
    "subnet": ["subnet-a", "subnet-b"],
    "internet_gateway": ["igw-1"],
    "route_table": ["rtb-1"],
    "security_group": ["sg-1"],
    "file_system": ["fs-1"],
    "mount_target": ["fsmt-a", "fsmt-b"],
    "ssm_parameter": ["/geusemaker/s1/db_password"],
    "iam_role": ["role"],
    "instance_profile": ["profile"],
    "instance": ["i-1"],
}


def test_table_has_no_cycle_and_starts_with_independent_roots():
    layers = deletion_layers(DELETE_AFTER)
    assert set(layers[0]) >= {"instance", "mount_target", "ssm_parameter"}
    assert "vpc" in layers[-1]
    position = {t: i for i, layer in enumerate(layers) for t in layer}
    for resource_type, blockers in DELETE_AFTER.items():
        assert all(position[b] < position[resource_type] for b in blockers), resource_type
    with pytest.raises(ValueError):
        deletion_layers_with_cycle()


def deletion_layers_with_cycle():
    saved = dict(DELETE_AFTER)
    try:
        DELETE_AFTER["instance"] = ("vpc",)
        return deletion_layers(["instance", "vpc", "subnet"])
    finally:
        DELETE_AFTER.clear()
        DELETE_AFTER.update(saved)


def test_full_stack_is_deleted_in_dependency_order(ledger, monkeypatch):
    cloud = fill(ledger, FULL_STACK, monkeypatch)
    plan = teardown.build_plan(ledger, [])
    done, left = teardown.Teardown(ledger, None, timeout=30, poll=0.01).run(plan)
    assert left == [] and len(done) == 13 and cloud.present == set()
    refused = [c for c in cloud.calls if c[0] == "delete"]
    assert len(refused) == 13  # nothing was asked before its prerequisites were gone
    statuses = {e["status"] for e in ledger.document["resources"]}
    assert statuses == {"deleted"}
    events = ledger.document["events"]
    assert any(e["action"] == "delete" and e["outcome"] == "deleted" and e["type"] == "vpc" for e in events)


def test_independent_branches_run_at_the_same_time(ledger, monkeypatch):
    cloud = fill(ledger, {"instance": ["i-1"], "mount_target": ["fsmt-1"], "subnet": ["subnet-1"]}, monkeypatch, release_delay=0.3)
    started = time.monotonic()
    done, left = teardown.Teardown(ledger, None, timeout=30, poll=0.02).run(teardown.build_plan(ledger, []))
    elapsed = time.monotonic() - started
    assert left == [] and len(done) == 3
    assert abs(cloud.started["i-1"] - cloud.started["fsmt-1"]) < 0.1
    assert elapsed < 0.9  # two waits of 0.3 s in parallel, then the subnet: not three in a row plus slack


def test_transient_refusals_are_retried_until_they_clear(ledger, monkeypatch):
    cloud = fill(ledger, {"subnet": ["subnet-1"]}, monkeypatch)
    # IAM's 5xx is ServiceFailure: a code on no list, transient by its status.
    # EC2's throttling answer is a 503, as AWS sends it.
    refusals = iter([client_error("DependencyViolation"), client_error("RequestLimitExceeded", status=503), client_error("ServiceFailure", status=500)])
    kind = kinds.KINDS["subnet"].impl
    real_delete = kind.delete

    def flaky(clients, entry):
        error = next(refusals, None)
        if error:
            raise error
        return real_delete(clients, entry)

    monkeypatch.setattr(kind, "delete", staticmethod(flaky))
    done, left = teardown.Teardown(ledger, None, timeout=30, poll=0.01).run(teardown.build_plan(ledger, []))
    assert left == [] and cloud.present == set()
    outcomes = [(e["outcome"], e.get("error_code")) for e in ledger.document["events"] if e["action"] == "delete"]
    assert outcomes[:3] == [("retry", "DependencyViolation"), ("retry", "RequestLimitExceeded"), ("retry", "ServiceFailure")]


def test_a_refusal_that_never_clears_ends_at_the_deadline_with_exact_leftovers(ledger, monkeypatch):
    fill(ledger, {"subnet": ["subnet-1"], "vpc": ["vpc-1"], "ssm_parameter": ["/p"]}, monkeypatch, refuse_forever={"subnet-1"})
    started = time.monotonic()
    done, left = teardown.Teardown(ledger, None, timeout=0.5, poll=0.05).run(teardown.build_plan(ledger, []))
    assert time.monotonic() - started < 2
    assert sorted(e["id"] for e in left) == ["subnet-1", "vpc-1"]
    assert [e["id"] for e in done] == ["/p"]
    assert ledger.find("subnet", "subnet-1")["status"] == "delete_failed"
    assert ledger.find("vpc", "vpc-1")["status"] == "delete_failed"
    skipped = [e for e in ledger.document["events"] if e["outcome"] == "skipped"]
    assert skipped and skipped[0]["id"] == "vpc-1"


def test_already_gone_counts_as_deleted(ledger, monkeypatch):
    cloud = fill(ledger, {"vpc": ["vpc-1"]}, monkeypatch)
    cloud.present.clear()
    done, left = teardown.Teardown(ledger, None, timeout=5, poll=0.01).run(teardown.build_plan(ledger, []))
    assert [e["id"] for e in done] == ["vpc-1"] and left == []
    assert ledger.document["events"][-1]["outcome"] == "already_gone"


def test_wait_for_gone_is_bounded_by_the_deadline(ledger, monkeypatch):
    fill(ledger, {"instance": ["i-1"]}, monkeypatch, release_delay=60)
    done, left = teardown.Teardown(ledger, None, timeout=0.3, poll=0.05).run(teardown.build_plan(ledger, []))
    assert done == [] and [e["id"] for e in left] == ["i-1"]
    assert ledger.document["events"][-1]["error_code"] == "Timeout"


def test_a_non_transient_error_fails_at_once_and_a_crash_is_contained(ledger, monkeypatch):
    fill(ledger, {"instance": ["i-1"], "ssm_parameter": ["/p"]}, monkeypatch)

    def denied(clients, entry):
        raise client_error("UnauthorizedOperation")

    def broken(clients, entry):
        raise RuntimeError("bug")

    monkeypatch.setattr(kinds.KINDS["instance"].impl, "delete", staticmethod(denied))
    monkeypatch.setattr(kinds.KINDS["ssm_parameter"].impl, "delete", staticmethod(broken))
    done, left = teardown.Teardown(ledger, None, timeout=30, poll=0.01).run(teardown.build_plan(ledger, []))
    assert done == [] and len(left) == 2
    codes = {e["id"]: e.get("error_code") for e in ledger.document["events"] if e["outcome"] == "error"}
    assert codes == {"i-1": "UnauthorizedOperation", "/p": "RuntimeError"}


def test_plan_adds_discovered_orphans_and_never_reused(ledger, monkeypatch):
    fill(ledger, {}, monkeypatch)
    ledger.record("vpc", "vpc-user", "reused")
    ledger.record("subnet", "subnet-gone", "created")
    ledger.mark("subnet", "subnet-gone", "deleted")
    discovered = [
        {"type": "security_group", "id": "sg-orphan", "key": "instances", "vpc_id": "vpc-user"},
        {"type": "vpc", "id": "vpc-user"},
    ]
    plan = teardown.build_plan(ledger, discovered)
    assert [(e["type"], e["id"]) for e in plan] == [("security_group", "sg-orphan")]
    assert ledger.find("security_group", "sg-orphan")["provenance"] == "adopted"


def test_keep_data_retains_the_file_system(ledger, monkeypatch):
    fill(ledger, {"file_system": ["fs-1"], "mount_target": ["fsmt-1"]}, monkeypatch)
    plan = teardown.build_plan(ledger, [], keep_data=True)
    assert [e["id"] for e in plan] == ["fsmt-1"]
    assert ledger.find("file_system", "fs-1")["status"] == "retained"
    # a later destroy without keep_data still removes it
    assert [e["id"] for e in teardown.build_plan(ledger, [])] == ["fsmt-1", "fs-1"]


def test_discover_owned_collects_every_kind(monkeypatch):
    class Kind:
        @staticmethod
        def discover(clients, stack_name, region):
            return [{"id": stack_name + "-x"}]

    monkeypatch.setattr(kinds, "KINDS", {t: copy.copy(kinds.KINDS[t]) for t in ("vpc", "subnet")})
    for kind in kinds.KINDS.values():
        kind.impl = Kind
    assert teardown.discover_owned(None, "s1", "r") == [{"id": "s1-x", "type": "vpc"}, {"id": "s1-x", "type": "subnet"}]


def test_deletion_order_sorts_entries():
    entries = [{"type": "vpc", "id": "v"}, {"type": "instance", "id": "i"}, {"type": "subnet", "id": "s"}]
    assert [e["type"] for e in deletion_order(entries)] == ["instance", "subnet", "vpc"]
