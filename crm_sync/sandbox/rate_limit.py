"""Sliding-window rate limiting, measured on arrival.

AC allows 5 requests in any second per account (docs/activecampaign.md §2) and a number of
bulk imports per minute (§7). Both are sliding windows here: a request is
accepted when fewer than ``limit`` accepted requests arrived in the
``window`` seconds before it. For the 5-per-second budget, refused requests
are not recorded, so they do not extend the lock-out.
"""

import collections
import threading
import time


class SlidingWindow:
    """Arrival times of accepted events within the last ``window`` seconds."""

    def __init__(self, window):
        self.window = window
        self._times = collections.deque()
        self._lock = threading.Lock()

    def try_accept(self, limit):
        """Record an arrival now if it fits under ``limit``; return ``(accepted, arrival)``.

        The clock is read under the lock so that arrivals are recorded in
        order even when many threads race.
        """
        with self._lock:
            now = time.time()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) >= limit:
                return False, now
            self._times.append(now)
            return True, now

    def record_and_check(self, limit):
        """Record an arrival now, accepted or not; True if fewer than ``limit`` came before it.

        For the bulk importer, where every request counts against the
        per-minute budget, refused ones included (the strict reading).
        """
        with self._lock:
            now = time.time()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            under = len(self._times) < limit
            self._times.append(now)
            return under

    def clear(self):
        with self._lock:
            self._times.clear()
