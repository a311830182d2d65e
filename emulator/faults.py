"""Fault injection for the Graph emulator.

A fault is armed with ``emulator.faults.add(kind, ...)`` and fires on the next matching
requests. Request-level kinds (``throttle``, ``unavailable``, ``gateway_timeout``, ``slow``,
``drop``) match Graph requests (``/v1.0/...``) and, with ``path_contains``, single items
of a ``$batch`` (matched against the item's relative url). OAuth endpoints are only hit
when ``path_contains`` names them (e.g. ``"/oauth2/v2.0/token"``).
"""

import random
import threading
import time
from collections import Counter

from .protocol import GraphError, Response

REQUEST_KINDS = ("throttle", "unavailable", "gateway_timeout", "slow", "drop")
# A batch item can't lose its connection: "drop" only hits whole requests.
ITEM_KINDS = tuple(k for k in REQUEST_KINDS if k != "drop")
STATE_KINDS = ("expire_delta", "revoke_refresh", "expire_access")
KINDS = REQUEST_KINDS + STATE_KINDS
DROP = "drop"


class Fault:
    """One armed fault. ``count=None`` means unlimited (use with ``probability``)."""

    def __init__(
        self,
        kind,
        count=1,
        path_contains=None,
        mailbox=None,
        retry_after=1,
        delay=0.0,
        probability=None,
        code=None,
    ):
        self.kind = kind
        self.remaining = count
        self.path_contains = path_contains
        self.mailbox = mailbox.lower() if mailbox else None
        self.retry_after = retry_after
        self.delay = delay
        self.probability = probability
        self.code = code

    def __repr__(self):
        return "Fault(%s, remaining=%s, path_contains=%r, mailbox=%r)" % (
            self.kind,
            self.remaining,
            self.path_contains,
            self.mailbox,
        )


class FaultInjector:
    """Thread-safe registry of armed faults and a counter of the ones that fired."""

    def __init__(self, on_state_fault=None, seed=None):
        self._lock = threading.Lock()
        self._faults = []
        self._on_state_fault = on_state_fault
        self.random = random.Random(seed)
        self.injected = Counter()

    def add(
        self,
        kind,
        count=1,
        path_contains=None,
        mailbox=None,
        retry_after=1,
        delay=0.0,
        probability=None,
        code=None,
    ):
        """Arm a fault; see the module docstring for the kinds. Returns the Fault."""
        if kind not in KINDS:
            raise ValueError("unknown fault kind %r (known: %s)" % (kind, ", ".join(KINDS)))
        if count is None and probability is None and kind in REQUEST_KINDS:
            raise ValueError("count=None needs a probability, or every request would fail")
        fault = Fault(kind, count, path_contains, mailbox, retry_after, delay, probability, code)
        if kind in ("revoke_refresh", "expire_access"):
            # These change token state at once: every token the mailbox holds now is hit.
            if self._on_state_fault:
                self._on_state_fault(fault)
            return fault
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults.clear()

    def seed(self, value):
        self.random.seed(value)

    def take(self, kinds, path, mailbox=None, oauth=False):
        """Return the first armed fault of ``kinds`` matching this request, consuming it."""
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds:
                    continue
                if fault.path_contains is None:
                    if oauth:
                        continue
                elif fault.path_contains not in path:
                    continue
                if fault.mailbox and fault.mailbox != (mailbox or "").lower():
                    continue
                if fault.probability is not None and self.random.random() >= fault.probability:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                self.injected[fault.kind] += 1
                return fault
        return None

    def count(self, kind):
        """Record a fault effect that is not a consumed request fault."""
        with self._lock:
            self.injected[kind] += 1

    def answer(self, path, mailbox=None, oauth=False, kinds=REQUEST_KINDS):
        """Consume the request fault matching this request and return what the request gets:
        a Response, DROP (the connection closes) or None (served as usual, after the delay of a
        ``slow`` fault)."""
        fault = self.take(kinds, path, mailbox, oauth=oauth)
        if fault is None:
            return None
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return None
        if fault.kind == "drop":
            return DROP
        if fault.kind == "throttle":
            return Response(
                429,
                GraphError(
                    429, "TooManyRequests", "Application is over its MailboxConcurrency limit."
                ).body(),
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.kind == "unavailable":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return Response(
                503,
                GraphError(
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                ).body(),
                headers,
            )
        return Response(
            504,
            GraphError(
                504,
                "gatewayTimeout",
                "The server, while acting as a "
                "proxy, did not receive a timely response from the upstream server.",
            ).body(),
        )
