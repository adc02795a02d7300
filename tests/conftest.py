"""Makes this checkout importable as ansible_collections.geusemaker.stack (scripts/setup.sh links it)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "geusemaker", "stack")):
    raise RuntimeError("run scripts/setup.sh first: it links this checkout in as geusemaker.stack")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


# Reliability figures (issue 4). A test marked figure("...") counts as one case of that figure: it is met when
# every phase of the test passed. Cases marked full_only run only with --reliability=full.

FIGURES = {
    "1 fault matrix": "injection points / ended with zero orphans, rolled_back, failure recorded",
    "2 crash": "kills / destroys that left zero orphans",
    "3 during rollback": "rollbacks tried / completed as expected",
    "4 concurrency": "races run / without duplicates, loser stopped before AWS",
    "5 bad input": "cases / clear error and zero mutating calls",
    "6 secrets": "places searched / leaks",
}


def pytest_addoption(parser):
    parser.addoption("--reliability", choices=("sample", "full"), default="sample",
                     help="sample: the fast tier of the reliability cases; full: every case (scripts/reliability.sh)")


def pytest_configure(config):
    config.addinivalue_line("markers", "figure(name): the test is one case of a reliability figure")
    config.addinivalue_line("markers", "full_only: run only with --reliability=full")
    config.addinivalue_line("markers", "aws_consistent_at_once: the integration test runs without AWS's late "
                            "consistency (tests/support/consistency.py), which is on by default")


# pytest-timeout: a test that hangs fails instead of hanging the run. Tests of deadlines and polling carry a small
# limit of their own (pytest.mark.timeout); every other test gets this one, far above its normal time.
DEFAULT_TIMEOUT = {"unit": 300, "integration": 1800}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            tier = "unit" if os.sep + "unit" + os.sep in str(item.fspath) else "integration"
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT[tier]))
    if config.getoption("--reliability") == "full":
        return
    deselected = [item for item in items if item.get_closest_marker("full_only")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("full_only")]


def pytest_runtest_makereport(item, call):
    marker = item.get_closest_marker("figure")
    if marker is not None:
        item.user_properties.append(("figure", marker.args[0]))


def pytest_terminal_summary(terminalreporter, config):
    outcome = {}  # nodeid -> (figure, passed, extra properties)
    for reports in terminalreporter.stats.values():
        for report in reports:
            properties = dict(getattr(report, "user_properties", None) or [])
            if "figure" not in properties or not hasattr(report, "when"):
                continue
            figure, passed, extra = outcome.get(report.nodeid, (properties["figure"], True, {}))
            extra.update({k: v for k, v in properties.items() if k != "figure"})
            outcome[report.nodeid] = (figure, passed and not report.failed and not report.skipped, extra)
    if not outcome:
        return
    write = terminalreporter.write_line
    write("")
    write("Reliability figures ({0})".format(config.getoption("--reliability")))
    write("{0:<20} {1:>7} {2:>7}  {3:<8} {4}".format("figure", "cases", "met", "target", "meaning"))
    for name, meaning in FIGURES.items():
        cases = [(passed, extra) for figure, passed, extra in outcome.values() if figure == name]
        if not cases:
            write("{0:<20} {1:>7} {2:>7}  {3:<8} {4}".format(name, "-", "-", "not run", meaning))
            continue
        met = sum(1 for passed, _unused in cases if passed)
        if name == "6 secrets":
            places = sum(extra.get("places", 0) for _unused, extra in cases)
            leaks = sum(extra.get("leaks", 0) for _unused, extra in cases)
            first, second, ok = places, leaks, leaks == 0 and met == len(cases)
        else:
            first, second, ok = len(cases), met, met == len(cases)
        write("{0:<20} {1:>7} {2:>7}  {3:<8} {4}".format(name, first, second, "MET" if ok else "MISSED", meaning))
