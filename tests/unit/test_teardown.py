"""The teardown engine on fake resource kinds: order, concurrency, transient refusals, deadline."""

import copy
import datetime
import threading
import time

import pytest


from ansible_collections.geusemaker.stack.plugins.module_utils import kinds, teardown
from ansible_collections.geusemaker.stack.plugins.module_utils.dependencies import DELETE_AFTER, deletion_layers, deletion_order
from ansible_collections.geusemaker.stack.plugins.module_utils.ledger import Ledger
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import utc_now
from tests.support.aws_calls import client_error

# A teardown that ignores its deadline fails (the fake cloud's sleep raises past it, and at worst pytest-timeout
# ends the test) instead of hanging the suite. "thread": a hung worker thread cannot block the report.
pytestmark = pytest.mark.timeout(60, method="thread")

# What real AWS refuses, stated here and never read from the product's table (dependencies.DELETE_AFTER):
# {resource type: {type that holds it: (AWS's refusal, why)}}. A resource cannot be deleted while something that holds
# it still exists, in any state: a terminated instance's ENI lingers for 30 to 90 s, a mount target in "deleting"
# keeps its ENI. Every registered kind has a row, even an empty one (a new kind must say what holds it).
REAL_AWS_HOLDERS = {
    "instance": {},
    "mount_target": {},
    "ssm_parameter": {},
    "instance_profile": {},  # AWS lets a profile go while an instance uses it: see KEPT_ORDER
    "route_table": {},  # route_table.delete disassociates its subnets itself, then deletes
    "iam_role": {"instance_profile": ("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first")},
    "file_system": {"mount_target": ("FileSystemInUse", "a file system with mount targets, deleting ones included")},
    "security_group": {
        "instance": ("DependencyViolation", "a terminated instance's ENI uses the group until it is released"),
        "mount_target": ("DependencyViolation", "a mount target's ENI uses the group until the mount target is gone"),
    },
    "subnet": {
        "instance": ("DependencyViolation", "a terminated instance's ENI sits in the subnet until it is released"),
        "mount_target": ("DependencyViolation", "a mount target's ENI sits in the subnet until the mount target is gone"),
    },
    "internet_gateway": {"instance": ("DependencyViolation", "DetachInternetGateway: the VPC has mapped public addresses")},
    "volume": {"instance": ("VolumeInUse", "a volume stays in-use until the terminating instance has released it")},
    "vpc": {
        "subnet": ("DependencyViolation", "a VPC with subnets"),
        "security_group": ("DependencyViolation", "a VPC with a security group other than its default one"),
        "internet_gateway": ("DependencyViolation", "a VPC with an attached internet gateway"),
        "route_table": ("DependencyViolation", "a VPC with a route table other than its main one"),
    },
}
# Orders AWS does not enforce but the stack keeps: {resource type: {type that must be gone first: why}}.
KEPT_ORDER = {"instance_profile": {"instance": "a terminating instance keeps its role's credentials until it is gone"}}


EXPECTED_AFTER = {t: set(REAL_AWS_HOLDERS[t]) | set(KEPT_ORDER.get(t, {})) for t in REAL_AWS_HOLDERS}
LINGER_CAP = 5.0  # a lingering holder goes after this many seconds whatever else happens


def expected_dependents(resource_type):
    """Every type that must go after ``resource_type`` by the expected table, directly or through another."""
    return {t for t in EXPECTED_AFTER if resource_type in closure(EXPECTED_AFTER, t)}


def real_edges():
    """Every (resource type, type that must be gone before it) the tests expect, AWS's and the stack's own."""
    edges = {(t, holder) for t, holders in REAL_AWS_HOLDERS.items() for holder in holders}
    return sorted(edges | {(t, holder) for t, holders in KEPT_ORDER.items() for holder in holders})


class DeadlineOverrun(Exception):
    """The teardown was still sleeping well past its deadline."""


class FakeCloud:
    """Resources that exist until deleted, with AWS's refusal rules (REAL_AWS_HOLDERS), not the product's table.

    A deleted resource lingers for ``release_delay`` seconds (a number, or one per type), as a terminated instance's
    ENI or a deleting mount target do, and holds what it held until then. A deletion asked while a holder still
    exists is recorded in ``held`` and, where AWS refuses it, refused with AWS's (transient) answer: the teardown
    retries and finishes, so the tests assert on ``held`` too.
    """

    def __init__(self, ids_by_type, release_delay=0.0, refuse_forever=(), linger=None, foreign=()):
        self.present = {(t, i) for t, ids in ids_by_type.items() for i in ids}
        self.foreign = set(foreign)  # ids whose own marks name another stack
        self.deleting = {}
        self.calls = []
        self.started = {}
        self.held = []
        self.release_delay = release_delay
        self.refuse_forever = set(refuse_forever)
        self.linger = linger
        self.others_gone_at = None
        self.overran = None
        self.guard = threading.Lock()

    def _delay(self, resource_type):
        if isinstance(self.release_delay, dict):
            return self.release_delay.get(resource_type, 0.0)
        return self.release_delay

    def _lingers(self, key, since, now):
        """``linger=(type, grace)``: that type, once asked to go, stays until everything that need not wait for it
        is gone, then ``grace`` seconds more (at most LINGER_CAP in all). However slow the run, what waits for it
        by AWS's rules is asked while it is still there, unless the teardown waits for it."""
        if self.linger is None or key[0] != self.linger[0] or now - since >= LINGER_CAP:
            return now - since < self._delay(key[0])
        behind = expected_dependents(key[0]) | {key[0]}
        if self.others_gone_at is None and all(p[0] in behind for p in self.present):
            self.others_gone_at = now
        return self.others_gone_at is None or now - self.others_gone_at < self.linger[1]

    def _release(self, now):
        for key, since in list(self.deleting.items()):
            if not self._lingers(key, since, now):
                self.present.discard(key)
                del self.deleting[key]

    def alive(self):
        with self.guard:
            self._release(time.monotonic())
            return set(self.present)

    def sleeper(self, timeout, grace=2.0):
        """The teardown's sleep: it raises once the run is ``grace`` seconds past its deadline, so a teardown that
        ignores its deadline fails here instead of hanging the suite."""
        hard_stop = time.monotonic() + timeout + grace

        def sleep(seconds):
            if time.monotonic() > hard_stop:
                self.overran = "still sleeping {0:.1f}s after its {1}s deadline".format(grace, timeout)
                raise DeadlineOverrun(self.overran)
            time.sleep(seconds)

        return sleep

    def kind(self, resource_type):
        cloud = self

        class Kind:
            @staticmethod
            def delete(clients, entry):
                key = (resource_type, entry["id"])
                with cloud.guard:
                    cloud._release(time.monotonic())
                    cloud.calls.append(("delete", resource_type, entry["id"]))
                    cloud.started.setdefault(entry["id"], time.monotonic())
                    if entry["id"] in cloud.refuse_forever:
                        raise client_error("DependencyViolation")
                    if key not in cloud.present:
                        raise client_error(sorted(kinds.KINDS[resource_type].gone_codes)[0])
                    if key in cloud.deleting:
                        return  # asked again while it goes: AWS accepts that
                    refusals = REAL_AWS_HOLDERS[resource_type]
                    kept = KEPT_ORDER.get(resource_type, {})
                    holders = sorted(p for p in cloud.present if p[0] in refusals or p[0] in kept)
                    if holders:
                        cloud.held.append((resource_type, entry["id"], holders))
                        refused = [refusals[p[0]] for p in holders if p[0] in refusals]
                        if refused:
                            raise client_error(refused[0][0], message=refused[0][1])
                    cloud.deleting[key] = time.monotonic()

            @staticmethod
            def exists(clients, entry):
                with cloud.guard:
                    cloud._release(time.monotonic())
                    return (resource_type, entry["id"]) in cloud.present

            @staticmethod
            def discover(clients, stack_name, region):
                return []

            @staticmethod
            def owned(clients, entry, stack_name, region):
                with cloud.guard:
                    if (resource_type, entry["id"]) not in cloud.present:
                        return None
                    return entry["id"] not in cloud.foreign

        return Kind


@pytest.fixture
def ledger(store):
    return Ledger.open(store, "s1", "us-east-1")


def with_impls(monkeypatch, make_impl):
    """Every registered kind, its code replaced by ``make_impl(type)`` (the records restored afterwards)."""
    for resource_type, kind in list(kinds.KINDS.items()):
        monkeypatch.setitem(kinds.KINDS, resource_type, copy.copy(kind))
        kinds.KINDS[resource_type].impl = make_impl(resource_type)


def fill(ledger, ids_by_type, monkeypatch, **cloud_options):
    cloud = FakeCloud(ids_by_type, **cloud_options)
    with_impls(monkeypatch, cloud.kind)
    for resource_type, ids in ids_by_type.items():
        for resource_id in ids:
            ledger.record(resource_type, resource_id, "created")
    return cloud


def run_teardown(ledger, cloud, timeout, poll, **options):
    """The teardown of everything the ledger owns, on the fake cloud; it must end by its deadline."""
    result = teardown.Teardown(ledger, None, timeout=timeout, poll=poll, sleep=cloud.sleeper(timeout),
                               **options).run(teardown.build_plan(ledger, []))
    assert cloud.overran is None, "the teardown ignored its deadline: " + cloud.overran
    return result


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
    "volume": ["vol-1"],
}
FULL_STACK_SIZE = sum(len(ids) for ids in FULL_STACK.values())


def test_table_has_no_cycle_and_starts_with_independent_roots():
    layers = deletion_layers(DELETE_AFTER)
    assert set(layers[0]) >= {"instance", "mount_target", "ssm_parameter"}
    assert "vpc" in layers[-1]
    position = {t: i for i, layer in enumerate(layers) for t in layer}
    for resource_type, blockers in DELETE_AFTER.items():
        assert all(position[b] < position[resource_type] for b in blockers), resource_type


def test_a_cycle_is_refused(monkeypatch):
    monkeypatch.setattr(kinds.get("instance"), "delete_after", ("vpc",))
    with pytest.raises(ValueError, match="dependency cycle"):
        deletion_layers(["instance", "vpc", "subnet"])


def test_full_stack_is_deleted_in_dependency_order(ledger, monkeypatch):
    cloud = fill(ledger, FULL_STACK, monkeypatch)
    done, left = run_teardown(ledger, cloud, timeout=30, poll=0.01)
    assert left == [] and len(done) == FULL_STACK_SIZE and cloud.alive() == set()
    refused = [c for c in cloud.calls if c[0] == "delete"]
    assert len(refused) == FULL_STACK_SIZE  # nothing was asked before its prerequisites were gone
    assert cloud.held == []
    statuses = {e["status"] for e in ledger.document["resources"]}
    assert statuses == {"deleted"}
    events = ledger.document["events"]
    assert any(e["action"] == "delete" and e["outcome"] == "deleted" and e["type"] == "vpc" for e in events)


def closure(table, resource_type):
    """Every type that must be gone before ``resource_type`` by ``table``, directly or through another."""
    found, todo = set(), list(table[resource_type])
    while todo:
        blocker = todo.pop()
        if blocker not in found:
            found.add(blocker)
            todo.extend(table[blocker])
    return found


def test_the_expected_order_and_the_fakes_cover_every_registered_kind():
    assert set(REAL_AWS_HOLDERS) == set(kinds.KINDS), "state what holds a new kind in real AWS in REAL_AWS_HOLDERS"
    assert set(FULL_STACK) == set(kinds.KINDS)


def test_the_products_table_orders_everything_real_aws_refuses():
    missing = [(t, holder) for t, holder in real_edges() if holder not in closure(DELETE_AFTER, t)]
    assert missing == [], "DELETE_AFTER lets these go before what holds them: {0}".format(
        ["{0} before {1}".format(t, holder) for t, holder in missing])


# A slow holder lingers after its deletion is accepted (AWS: 10 to 90 s) until all that need not wait for it is gone,
# then GRACE seconds more; the others go after QUICK seconds.
GRACE, QUICK = 0.3, 0.01


def slow_holder_teardown(ledger, monkeypatch, slow):
    cloud = fill(ledger, FULL_STACK, monkeypatch, release_delay=QUICK, linger=(slow, GRACE))
    done, left = run_teardown(ledger, cloud, timeout=30, poll=0.01)
    return cloud, done, left


@pytest.mark.parametrize("slow", sorted({holder for _unused, holder in real_edges()}))
def test_nothing_is_asked_to_go_while_what_holds_it_still_exists(ledger, monkeypatch, slow):
    """Each holder in turn lingers after its deletion, as in AWS; no deletion may be asked before it is gone."""
    cloud, done, left = slow_holder_teardown(ledger, monkeypatch, slow)
    assert cloud.held == [], "deletions asked while a holder still existed (an edge missing from DELETE_AFTER)"
    assert left == [] and len(done) == FULL_STACK_SIZE and cloud.alive() == set()


@pytest.mark.parametrize("edge", real_edges(), ids=["{0}-after-{1}".format(*edge) for edge in real_edges()])
def test_dropping_any_real_edge_from_the_table_is_caught(ledger, monkeypatch, edge):
    """The check above can fail: without one of the edges, the fake cloud sees a deletion of a held resource."""
    resource_type, holder = edge
    monkeypatch.setattr(kinds.get(resource_type), "delete_after", tuple(t for t in DELETE_AFTER[resource_type] if t != holder))
    if holder in closure(DELETE_AFTER, resource_type):
        pytest.skip("the table still orders it through another type")  # no such edge today
    cloud, _done, _left = slow_holder_teardown(ledger, monkeypatch, holder)
    assert [(t, [h[0] for h in holders]) for t, _id, holders in cloud.held if t == resource_type and any(
        h[0] == holder for h in holders)], cloud.held


def test_independent_branches_run_at_the_same_time(ledger, monkeypatch):
    cloud = fill(ledger, {"instance": ["i-1"], "mount_target": ["fsmt-1"], "subnet": ["subnet-1"]}, monkeypatch, release_delay=0.3)
    started = time.monotonic()
    done, left = run_teardown(ledger, cloud, timeout=30, poll=0.02)
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
    done, left = run_teardown(ledger, cloud, timeout=30, poll=0.01)
    assert left == [] and cloud.alive() == set()
    outcomes = [(e["outcome"], e.get("error_code")) for e in ledger.document["events"] if e["action"] == "delete"]
    assert outcomes[:3] == [("retry", "DependencyViolation"), ("retry", "RequestLimitExceeded"), ("retry", "ServiceFailure")]


def test_a_refusal_that_never_clears_ends_at_the_deadline_with_exact_leftovers(ledger, monkeypatch):
    cloud = fill(ledger, {"subnet": ["subnet-1"], "vpc": ["vpc-1"], "ssm_parameter": ["/p"]}, monkeypatch, refuse_forever={"subnet-1"})
    started = time.monotonic()
    done, left = run_teardown(ledger, cloud, timeout=0.5, poll=0.05)
    assert time.monotonic() - started < 2
    assert sorted(e["id"] for e in left) == ["subnet-1", "vpc-1"]
    assert [e["id"] for e in done] == ["/p"]
    assert ledger.find("subnet", "subnet-1")["status"] == "delete_failed"
    assert ledger.find("vpc", "vpc-1")["status"] == "delete_failed"
    skipped = [e for e in ledger.document["events"] if e["outcome"] == "skipped"]
    assert skipped and skipped[0]["id"] == "vpc-1"


def a_minute_later():
    return utc_now() + datetime.timedelta(seconds=teardown.PROPAGATION_WINDOW)


def test_already_gone_counts_as_deleted(ledger, monkeypatch):
    cloud = fill(ledger, {"vpc": ["vpc-1"]}, monkeypatch)
    cloud.present.clear()
    started = time.monotonic()
    done, left = run_teardown(ledger, cloud, timeout=5, poll=0.01, now=a_minute_later)
    assert [e["id"] for e in done] == ["vpc-1"] and left == []
    assert ledger.document["events"][-1]["outcome"] == "already_gone"
    assert time.monotonic() - started < 1  # believed at once: the create is older than AWS's propagation


def lagging_delete(monkeypatch, resource_type, answers):
    """The kind's delete answers NotFound ``answers`` times first, as AWS may while a create propagates."""
    kind = kinds.KINDS[resource_type].impl
    real_delete = kind.delete
    unknown = iter([client_error(sorted(kinds.KINDS[resource_type].gone_codes)[0])] * answers)

    def delete(clients, entry):
        error = next(unknown, None)
        if error:
            raise error
        return real_delete(clients, entry)

    monkeypatch.setattr(kind, "delete", staticmethod(delete))


def test_a_notfound_to_the_delete_of_what_was_just_created_is_asked_again(ledger, monkeypatch):
    # A rollback seconds after the launch: EC2 does not know the instance yet, and it runs (and bills) all the same.
    cloud = fill(ledger, {"instance": ["i-1"]}, monkeypatch)
    lagging_delete(monkeypatch, "instance", 3)
    done, left = run_teardown(ledger, cloud, timeout=30, poll=0.01)
    assert left == [] and cloud.alive() == set() and [e["id"] for e in done] == ["i-1"]
    outcomes = [(e["outcome"], e.get("error_code")) for e in ledger.document["events"] if e["action"] == "delete"]
    assert outcomes[:4] == [("retry", "InvalidInstanceID.NotFound")] * 3 + [("requested", None)]


def test_a_notfound_to_the_delete_of_an_orphan_just_found_is_asked_again(ledger, monkeypatch):
    # The launch's answer was lost: the rollback finds the instance by its tags and adopts it. EC2 may still say
    # NotFound to it by id, as to anything launched seconds ago.
    cloud = FakeCloud({"instance": ["i-1"]})
    with_impls(monkeypatch, cloud.kind)
    lagging_delete(monkeypatch, "instance", 2)
    plan = teardown.build_plan(ledger, [{"type": "instance", "id": "i-1"}])
    done, left = teardown.Teardown(ledger, None, timeout=30, poll=0.01, sleep=cloud.sleeper(30)).run(plan)
    assert left == [] and cloud.alive() == set() and [e["id"] for e in done] == ["i-1"]
    outcomes = [(e["outcome"], e.get("error_code")) for e in ledger.document["events"] if e["action"] == "delete"]
    assert outcomes[:3] == [("retry", "InvalidInstanceID.NotFound")] * 2 + [("requested", None)]


def test_a_resource_whose_marks_name_another_stack_is_never_deleted(ledger, monkeypatch):
    # The state named another stack's VPC (and so its subnet waits on it): refused and left, the rest deleted.
    cloud = fill(ledger, {"vpc": ["vpc-other"], "subnet": ["subnet-1"], "ssm_parameter": ["/p"]}, monkeypatch,
                 foreign={"vpc-other"})
    done, left = run_teardown(ledger, cloud, timeout=5, poll=0.01)
    assert sorted(e["id"] for e in done) == ["/p", "subnet-1"] and [e["id"] for e in left] == ["vpc-other"]
    assert ("vpc", "vpc-other") in cloud.present
    assert not [c for c in cloud.calls if "vpc-other" in str(c)]
    refusal = [e for e in ledger.document["events"] if e["id"] == "vpc-other" and e["action"] == "delete"]
    assert [(e["outcome"], e.get("error_code")) for e in refusal] == [("refused", "NotOwned")]
    assert ledger.find("vpc", "vpc-other")["status"] == "not_owned"  # no longer the stack's: no report offers to delete it


def test_a_notfound_that_lasts_is_believed_at_the_deadline(ledger, monkeypatch):
    cloud = fill(ledger, {"vpc": ["vpc-1"]}, monkeypatch)
    cloud.present.clear()
    done, left = run_teardown(ledger, cloud, timeout=0.3, poll=0.05)
    assert [e["id"] for e in done] == ["vpc-1"] and left == []
    assert ledger.document["events"][-1]["outcome"] == "already_gone"


def test_wait_for_gone_is_bounded_by_the_deadline(ledger, monkeypatch):
    cloud = fill(ledger, {"instance": ["i-1"]}, monkeypatch, release_delay=60)
    started = time.monotonic()
    done, left = run_teardown(ledger, cloud, timeout=0.3, poll=0.05)
    assert time.monotonic() - started < 2
    assert done == [] and [e["id"] for e in left] == ["i-1"]
    assert ledger.document["events"][-1]["error_code"] == "Timeout"


def test_a_non_transient_error_fails_at_once_and_a_crash_is_contained(ledger, monkeypatch):
    cloud = fill(ledger, {"instance": ["i-1"], "ssm_parameter": ["/p"]}, monkeypatch)

    def denied(clients, entry):
        raise client_error("UnauthorizedOperation")

    def broken(clients, entry):
        raise RuntimeError("bug")

    monkeypatch.setattr(kinds.KINDS["instance"].impl, "delete", staticmethod(denied))
    monkeypatch.setattr(kinds.KINDS["ssm_parameter"].impl, "delete", staticmethod(broken))
    done, left = run_teardown(ledger, cloud, timeout=30, poll=0.01)
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

    records = {resource_type: copy.copy(kinds.get(resource_type)) for resource_type in ("vpc", "subnet")}
    for resource_type in list(kinds.KINDS):  # only these two kinds, for this test
        monkeypatch.delitem(kinds.KINDS, resource_type)
    for resource_type, record in records.items():
        record.impl = Kind
        monkeypatch.setitem(kinds.KINDS, resource_type, record)
    assert teardown.discover_owned(None, "s1", "r") == [{"id": "s1-x", "type": "vpc"}, {"id": "s1-x", "type": "subnet"}]


def test_deletion_order_sorts_entries():
    entries = [{"type": "vpc", "id": "v"}, {"type": "instance", "id": "i"}, {"type": "subnet", "id": "s"}]
    assert [e["type"] for e in deletion_order(entries)] == ["instance", "subnet", "vpc"]
