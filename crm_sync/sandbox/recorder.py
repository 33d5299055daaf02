"""The request log and the stats the control API reports. In memory only.

Every ``/api/3`` request gets a log entry when it arrives (status ``null``
while in flight) which is completed when it is answered. A request whose
connection the sandbox closes without answering keeps status ``null``.
"""

import collections
import threading

LOG_SIZE = 200_000


class Recorder:
    """Log entries and counters; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        with self._lock:
            self._seq = 0
            self._log = collections.deque(maxlen=LOG_SIZE)
            self._endpoints = collections.Counter()
            self._statuses = collections.Counter()
            self._faults = collections.Counter()
            self._accepted_times = collections.deque(maxlen=LOG_SIZE)
            self._duplicate_tag_attach = 0

    def arrive(self, arrival, method, path, endpoint, email):
        """Start a log entry; return it for ``finish``."""
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, "t": arrival, "method": method, "path": path,
                     "status": None, "email": email, "fault": None}
            self._log.append(entry)
            self._endpoints[f"{method} {endpoint}"] += 1
            return entry

    def accepted(self, arrival):
        """Note a request the rate limiter let through, at its arrival time."""
        with self._lock:
            self._accepted_times.append(arrival)

    def finish(self, entry, status, fault=None):
        """Complete an entry; ``status`` None means the connection was closed unanswered."""
        with self._lock:
            entry["status"] = status
            entry["fault"] = fault
            self._statuses["closed" if status is None else str(status)] += 1
            if fault:
                self._faults[fault] += 1

    def duplicate_tag_attach(self):
        with self._lock:
            self._duplicate_tag_attach += 1

    def log(self, since=0):
        with self._lock:
            return [dict(entry) for entry in self._log if entry["seq"] > since]

    def stats(self):
        with self._lock:
            times = sorted(self._accepted_times)
            per_second = collections.Counter(str(int(t)) for t in times)
            return {
                "total_requests": self._seq,
                "accepted_requests": len(times),
                "endpoints": dict(self._endpoints),
                "statuses": dict(self._statuses),
                "faults": dict(self._faults),
                "per_second": dict(sorted(per_second.items())),
                "max_in_any_sliding_second": _max_in_sliding_second(times),
                "duplicate_tag_attach": self._duplicate_tag_attach,
            }


def _max_in_sliding_second(times):
    """Largest number of sorted ``times`` in any window (t - 1, t], as the limiter counts."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1:
            start += 1
        best = max(best, end - start + 1)
    return best
