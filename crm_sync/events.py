"""Structured warnings for operators: one log line per event worth alerting on."""
import json
import logging
import time

logger = logging.getLogger("crm_sync")

_last_logged = {}


def log_event(event, once_per=0, **fields):
    """A structured warning for operators: `crm_sync event={...json...}`.
    `once_per` seconds keeps a noisy event (a saturated limiter) to one line."""
    now = time.monotonic()
    if once_per and now - _last_logged.get(event, -once_per) < once_per:
        return
    _last_logged[event] = now
    logger.warning("crm_sync %s", json.dumps({"event": event, **fields}, default=str))
