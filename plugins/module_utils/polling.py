# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Poll real state every second or two until a deadline: waiters' 15 s default delay is too slow here."""

import time

DEFAULT_INTERVAL = 1.5


class PollTimeout(Exception):
    pass


def poll_until(check, timeout, interval=DEFAULT_INTERVAL, clock=time.monotonic, sleep=time.sleep, heartbeat=None):
    """Call ``check`` until it returns something other than None; PollTimeout after ``timeout`` seconds.

    ``check`` runs at least once, even with a timeout of 0. ``heartbeat()``, when given, is called between polls
    (a module keeps its run's lock alive there, see stack_module.Heartbeat).
    """
    deadline = clock() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            raise PollTimeout("not done within {0}s".format(timeout))
        if heartbeat is not None:
            heartbeat()
        sleep(min(interval, remaining))
