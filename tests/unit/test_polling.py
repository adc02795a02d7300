"""poll_until: done as soon as the check answers, and never past its deadline."""

import time

import pytest

from ansible_collections.geusemaker.stack.plugins.module_utils.polling import PollTimeout, poll_until

# A poll that ignores its deadline fails here rather than hanging the suite.
pytestmark = pytest.mark.timeout(10, method="thread")


def test_returns_the_first_answer():
    answers = iter([None, None, "ready"])
    assert poll_until(lambda: next(answers), timeout=5, interval=0.01) == "ready"


def test_a_check_that_never_answers_ends_at_the_deadline():
    calls = []
    started = time.monotonic()
    with pytest.raises(PollTimeout, match="not done within 0.3s"):
        poll_until(lambda: calls.append(1), timeout=0.3, interval=0.05)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5 and len(calls) >= 3


def test_the_check_runs_once_even_with_no_time_and_no_sleep_overshoots_the_deadline():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(PollTimeout):
        poll_until(lambda: None, timeout=0, clock=lambda: now[0], sleep=sleep)
    assert slept == []
    with pytest.raises(PollTimeout):
        poll_until(lambda: None, timeout=4, interval=1.5, clock=lambda: now[0], sleep=sleep)
    assert slept == [1.5, 1.5, 1.0] and now[0] == 104.0
