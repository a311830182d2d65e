"""Per-mailbox pacing of Microsoft Graph calls across every Odoo worker and server.

Graph allows at most 4 concurrent requests per mailbox (app + mailbox), and throttles one
mailbox without affecting the others. Pacing therefore needs state shared by all workers: the
model layer keeps it in PostgreSQL (session advisory locks for the concurrency slots, a
``throttled_until`` column per account for 429s). This module holds the logic, with the locking
primitives injected so that it stays pure and testable:

- :func:`slot_keys` gives the advisory-lock keys of a mailbox's slots (two int32 each, so that
  they never collide with Odoo's own single-bigint advisory locks);
- :class:`MailboxPacer` takes one slot before each request and gives it back after, waiting (with
  a bounded, growing pause) while all slots are held by other workers; within
  :meth:`MailboxPacer.holding` (the waves of write chains of one ``$batch`` write) a slot given
  back stays locked for the next request of the same pacer, and all are given back at its end;
- :func:`throttle_delay` says how long a mailbox stays away after a 429.
"""

import contextlib
import threading
import time
import zlib

from .errors import ThrottledError

MAX_CONCURRENT_REQUESTS = 4
# First int32 of every slot key: identifies this addon's advisory locks.
LOCK_NAMESPACE = zlib.crc32(b"office365_calendar_sync.mailbox") & 0x7FFFFFFF
DEFAULT_THROTTLE_SECONDS = 30.0
MAX_THROTTLE_SECONDS = 3600.0


def _int32(value):
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value >= 0x80000000 else value


def slot_keys(mailbox, slots=MAX_CONCURRENT_REQUESTS):
    """The (namespace, key) pairs of the ``slots`` concurrency slots of ``mailbox``.

    The mailbox is case-insensitive (an SMTP address or a user id). Two mailboxes may share a key
    after hashing; that only makes them share their slots, never exceed the limit.
    """
    name = (str(mailbox or "")).strip().lower()
    base = zlib.crc32(name.encode())
    return [(_int32(LOCK_NAMESPACE), _int32(base * 8 + slot)) for slot in range(slots)]


def throttle_delay(retry_after=None, previous=0.0):
    """Seconds a mailbox stays away from Graph after a 429.

    ``retry_after`` is Graph's ``Retry-After`` (seconds) when it sent one; without it the delay
    doubles from :data:`DEFAULT_THROTTLE_SECONDS` on each consecutive 429 (``previous`` is the
    last delay), capped at :data:`MAX_THROTTLE_SECONDS`.
    """
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), MAX_THROTTLE_SECONDS)
    if previous and previous > 0:
        return min(previous * 2, MAX_THROTTLE_SECONDS)
    return DEFAULT_THROTTLE_SECONDS


class PacingTimeout(ThrottledError):
    """All concurrency slots of a mailbox stayed busy for too long."""

    def __init__(self, mailbox, waited):
        super().__init__(
            429,
            "mailboxConcurrency",
            f"all {MAX_CONCURRENT_REQUESTS} request slots of the mailbox stayed busy for "
            f"{waited:.0f}s",
        )
        self.mailbox = mailbox


class MailboxPacer:
    """At most ``slots`` concurrent Graph requests for one mailbox, across processes.

    :param mailbox: the mailbox (its slots are shared by everyone pacing the same mailbox).
    :param try_lock: ``callable(key) -> bool``, take a slot lock without waiting.
    :param unlock: ``callable(key)``, give a slot lock back.
    :param unlock_many: ``callable(keys)``, give several back at once (default: ``unlock`` each).
    :param timeout: seconds to wait for a free slot before :class:`PacingTimeout`.

    One pacer serves one client: :meth:`acquire` before a request (keeps the slot the calling
    thread already holds, so a missed :meth:`release` never takes a second slot), :meth:`release`
    after it. Use it as the ``before_request`` / ``on_request`` hooks of the Graph client. The
    client's write threads each hold a slot of their own: the pacer never hands one slot to two
    of them (a session advisory lock is re-entrant, so PostgreSQL alone would), and calls
    ``try_lock`` / ``unlock`` one at a time.

    Within :meth:`holding`, :meth:`release` keeps the slot locked, as a spare that the next
    :meth:`acquire` of any thread of this pacer takes without a lock call: the waves of write
    chains of a ``$batch`` write take their slots once instead of twice per request (a write of
    2,000 items sends 100 requests). The spares are given back when the outermost
    :meth:`holding` ends: idle slots are kept only while the same write still has requests to
    send, never past it.
    """

    def __init__(
        self,
        mailbox,
        try_lock,
        unlock,
        slots=MAX_CONCURRENT_REQUESTS,
        unlock_many=None,
        timeout=60.0,
        sleep=time.sleep,
        clock=time.monotonic,
        pause=0.05,
        max_pause=1.0,
    ):
        self.mailbox = mailbox
        self.keys = slot_keys(mailbox, slots)
        self._try_lock = try_lock
        self._unlock = unlock
        self._unlock_many = unlock_many or (lambda keys: [unlock(key) for key in keys])
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self.pause = pause
        self.max_pause = max_pause
        self._held = {}  # thread id -> slot key
        self._spare = []  # slots still locked, held by no thread (within holding())
        self._holding = 0
        self._lock = threading.Lock()
        self.waited = 0.0

    @property
    def held(self):
        """The slot the calling thread holds, or None."""
        return self._held.get(threading.get_ident())

    def _try_take(self, order):
        me = threading.get_ident()
        with self._lock:
            if self._spare:
                key = self._held[me] = self._spare.pop()
                return key
            mine = set(self._held.values())
            for key in order:
                if key not in mine and self._try_lock(key):
                    self._held[me] = key
                    return key
        return None

    def acquire(self, _mailbox=None):
        """Hold one slot of the mailbox; waits while all are taken (bounded by ``timeout``)."""
        if self.held is not None:
            return self.held
        started = self.clock()
        pause = self.pause
        # Start at a different slot per pacer so that workers do not all probe slot 0 first.
        offset = id(self) % len(self.keys)
        order = self.keys[offset:] + self.keys[:offset]
        while True:
            key = self._try_take(order)
            if key is not None:
                self.waited += self.clock() - started
                return key
            waited = self.clock() - started
            if waited >= self.timeout:
                self.waited += waited
                raise PacingTimeout(self.mailbox, waited)
            self.sleep(pause)
            pause = min(pause * 2, self.max_pause)

    def release(self, *_args):
        """Give the calling thread's slot back (no-op when it holds none)."""
        with self._lock:
            key = self._held.pop(threading.get_ident(), None)
            if key is None:
                return
            if self._holding:
                self._spare.append(key)
            else:
                self._unlock(key)

    @contextlib.contextmanager
    def holding(self):
        """Keep released slots locked for this pacer's next requests until the end of the
        block (outermost block), then give them back in one ``unlock_many``."""
        with self._lock:
            self._holding += 1
        try:
            yield self
        finally:
            with self._lock:
                self._holding -= 1
                if not self._holding and self._spare:
                    keys, self._spare = self._spare, []
                    self._unlock_many(keys)
