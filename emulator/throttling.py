"""Outlook's per-mailbox concurrency limit and service time, as Microsoft 365 applies them.

What Microsoft documents and what the service is known to do:

- ``concepts/throttling-limits.md``, "Outlook service limits": at most 4 concurrent requests per
  app ID and mailbox combination; a request over it fails with 429.
- Same page, "Outlook service limits for JSON batching" (added as "Outlook service batching" by
  microsoft-graph-docs pull request #20833): the items of a ``$batch`` that reach Outlook count
  against that limit; without ``dependsOn`` they run up to 4 in parallel, with ``dependsOn`` one
  after the other; an app writing to one mailbox either sends up to 4 parallel items in one batch,
  or chains each batch with ``dependsOn`` and runs up to 4 such batches at once.
- microsoft-graph-docs issues #2886 and #8760, microsoft-graph-docs-contrib #5028: in practice a
  batch of 20 calendar writes to one mailbox gets 4 (sometimes a few more) items done and the
  others answered alone with 429; the 429 is per item, with its own ``Retry-After``.
- The error Graph answers: code ``ApplicationThrottled``, message "Application is over its
  MailboxConcurrency limit." (quoted in alcionai/corso #3695 and twentyhq/twenty #11070).
- Every write takes the service real time (a calendar item is stored, indexed, sent to the
  attendees); reads are cheaper. ``write_latency`` is that time per write, held inside the
  mailbox's slot, on top of the per-request ``latency`` of the emulator.

The emulator is the harsher side where the two may differ: where the documentation says Graph
itself queues the items of a batch beyond 4, the emulator starts every item whose dependencies
are done at once, and the ones that find no free slot of their mailbox fail alone, as the issues
above report. A lenient emulator (``mailbox_concurrency=None``) keeps no limit, for the few tests
that need the old shapes.
"""

import threading
import time
from collections import Counter

from .protocol import GraphError

MAILBOX_CONCURRENCY = 4
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
THROTTLE_CODE = "ApplicationThrottled"
THROTTLE_MESSAGE = "Application is over its MailboxConcurrency limit."


class MailboxThrottling:
    """Slots of each (application, mailbox) pair, shared by requests and batch items.

    :param limit: concurrent requests per app and mailbox (None or 0: no limit).
    :param write_latency: seconds each write holds its slot (service time of a write).
    :param retry_after: the ``Retry-After`` (whole seconds) of a 429 for lack of a slot.
    """

    def __init__(self, limit=MAILBOX_CONCURRENCY, write_latency=0.0, retry_after=1, sleep=None):
        self.limit = limit
        self.write_latency = write_latency
        self.retry_after = retry_after
        self.sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self.in_flight = Counter()
        # Highest number of slots held at once, and 429s answered, per mailbox address.
        self.peak = Counter()
        self.refused = Counter()

    @staticmethod
    def key(mailbox, principal):
        return (getattr(principal, "client_id", None), mailbox.user_id)

    def service_time(self, method):
        return self.write_latency if method.upper() in WRITE_METHODS else 0.0

    def take(self, mailbox, principal):
        """Take one slot of ``mailbox`` for ``principal``'s app; False when all are busy."""
        key = self.key(mailbox, principal)
        with self._lock:
            if self.limit and self.in_flight[key] >= self.limit:
                self.refused[mailbox.email] += 1
                return False
            self.in_flight[key] += 1
            self.peak[mailbox.email] = max(self.peak[mailbox.email], self.in_flight[key])
            return True

    def give_back(self, mailbox, principal):
        key = self.key(mailbox, principal)
        with self._lock:
            self.in_flight[key] -= 1
            if self.in_flight[key] <= 0:
                del self.in_flight[key]

    def refusal(self):
        """The 429 of a request or batch item that found no free slot of its mailbox."""
        return GraphError(
            429, THROTTLE_CODE, THROTTLE_MESSAGE, headers={"Retry-After": str(self.retry_after)}
        )

    def reset(self):
        with self._lock:
            self.peak.clear()
            self.refused.clear()

    def request(self, mailbox, principal, method, latency):
        """Context manager around one whole request: holds a slot while it is served.

        Yields None when served, or the :class:`GraphError` to answer when no slot is free.
        """
        return _RequestSlot(self, mailbox, principal, method, latency)

    def wave(self):
        """The items of a ``$batch`` started together (their dependencies are done)."""
        return _Wave(self)


class _RequestSlot:
    def __init__(self, throttling, mailbox, principal, method, latency):
        self.throttling = throttling
        self.mailbox = mailbox
        self.principal = principal
        # Only a request to a mailbox writes to it: a $batch spends its items' time per item.
        self.seconds = latency + (throttling.service_time(method) if mailbox is not None else 0)
        self.held = False

    def __enter__(self):
        if self.mailbox is None:
            if self.seconds:
                self.throttling.sleep(self.seconds)
            return None
        if not self.throttling.take(self.mailbox, self.principal):
            return self.throttling.refusal()
        self.held = True
        if self.seconds:
            self.throttling.sleep(self.seconds)
        return None

    def __exit__(self, *exc):
        if self.held:
            self.held = False
            self.throttling.give_back(self.mailbox, self.principal)


class _Wave:
    """Batch items running in parallel: each holds a slot of its mailbox until all are done."""

    def __init__(self, throttling):
        self.throttling = throttling
        self.held = []
        self.seconds = 0.0

    def enter(self, mailbox, principal, method):
        """Start one item; False when its mailbox has no free slot (the item gets a 429)."""
        if mailbox is None:
            return True
        if not self.throttling.take(mailbox, principal):
            return False
        self.held.append((mailbox, principal))
        self.seconds = max(self.seconds, self.throttling.service_time(method))
        return True

    def finish(self):
        """The items' service time passes, then their slots are given back."""
        try:
            if self.seconds:
                self.throttling.sleep(self.seconds)
        finally:
            held, self.held = self.held, []
            for mailbox, principal in held:
                self.throttling.give_back(mailbox, principal)
