"""Figure 4, concurrency: two deploys of one stack started together. One proceeds; the other stops before any
AWS call, naming the holder (host, pid, start time). Each run talks through a proxy of its own, so the loser's
calls can be counted. Also: the lock's place, a stale holder on another host, and force_unlock."""

import json
import os
import re
import socket
import subprocess
import time

import pytest

from tests.integration.test_crash import FULL_STACK
from tests.support.fault_proxy import FaultProxy

# Seconds between the two starts: together, and while the first is on its way.
OFFSETS = [0, 0, 0, 0.5, 1.5, 4]
HOLDER = re.compile(r"locked by another run \(host (\S+), pid (\d+), started (\S+)\)")


def races():
    for index, offset in enumerate(OFFSETS):
        marks = [pytest.mark.figure("4 concurrency")] + ([] if index == 0 else [pytest.mark.full_only])
        yield pytest.param(index, offset, marks=marks, id="race{0}-offset{1}s".format(index, offset))


@pytest.mark.parametrize("index,offset", list(races()))
def test_two_deploys_of_one_stack(aws, emulator, playbook, deploy_vars, state_dir, index, offset):
    stack = "race-{0}".format(index)
    proxies = [FaultProxy(upstream=emulator), FaultProxy(upstream=emulator)]
    try:
        first = playbook.start("deploy", stack_name=stack, env_changes={"AWS_ENDPOINT_URL": proxies[0].url}, **deploy_vars)
        time.sleep(offset)
        second = playbook.start("deploy", stack_name=stack, env_changes={"AWS_ENDPOINT_URL": proxies[1].url}, **deploy_vars)
        runs = [(process, "".join(process.communicate(timeout=600)), proxy) for process, proxy in zip((first, second), proxies)]
    finally:
        for proxy in proxies:
            proxy.stop()
    assert sorted(process.returncode != 0 for process, _unused, _unused in runs) == [False, True], [out[-2000:] for _unused, out, _unused in runs]
    [winner] = [process for process, _unused, _unused in runs if process.returncode == 0]
    [(loser_out, loser_proxy)] = [(out, proxy) for process, out, proxy in runs if process.returncode != 0]
    assert loser_proxy.calls == [], [c.operation for c in loser_proxy.calls]
    holder = HOLDER.search(loser_out)
    assert holder, loser_out[-2000:]
    assert holder.group(1) == socket.gethostname() and int(holder.group(2)) == winner.pid
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", holder.group(3))
    held = aws.stack_resources(stack)
    assert {kind: len(ids) for kind, ids in held.items()} == FULL_STACK, held
    assert json.load(open(os.path.join(state_dir, stack + ".json")))["status"] == "deployed"
    assert not os.path.exists(os.path.join(state_dir, stack + ".lock"))


def write_lock(state_dir, stack, host, pid, age=0):
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, stack + ".lock")
    with open(path, "w") as handle:
        json.dump({"host": host, "pid": pid, "started_at": "2026-11-23T10:00:00+00:00", "ttl": 300, "token": "t"}, handle)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_a_live_holder_on_another_host_stops_the_run(aws, proxy, playbook, deploy_vars, state_dir):
    write_lock(state_dir, "elsewhere", "build-box-7", 4242, age=30)
    run = playbook("deploy", stack_name="elsewhere", **deploy_vars)
    assert run.rc != 0
    assert "locked by another run (host build-box-7, pid 4242, started 2026-11-23T10:00:00+00:00)" in run.output
    assert "-e force_unlock=true" in run.output
    assert proxy.calls == []


def test_a_holder_on_another_host_past_its_ttl_is_stale(aws, proxy, playbook, state_dir):
    lock = write_lock(state_dir, "quiet", "build-box-7", 4242, age=400)
    run = playbook("destroy", stack_name="quiet")
    assert run.rc == 0, run.output[-3000:]
    assert "broke the lock of stack quiet held by host build-box-7" in run.output
    assert re.search(r"its heartbeat is \d+s old, over the 300s TTL", run.output)
    assert not os.path.exists(lock)


def test_force_unlock_breaks_a_live_lock(aws, proxy, playbook, state_dir):
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        lock = write_lock(state_dir, "held", socket.gethostname(), sleeper.pid)
        refused = playbook("destroy", stack_name="held")
        assert refused.rc != 0 and "pid {0}".format(sleeper.pid) in refused.output
        assert os.path.exists(lock)
        forced = playbook("destroy", stack_name="held", force_unlock=True)
        assert forced.rc == 0, forced.output[-3000:]
        assert "forced by force_unlock" in forced.output
        assert not os.path.exists(lock)
    finally:
        sleeper.kill()
        sleeper.wait()
