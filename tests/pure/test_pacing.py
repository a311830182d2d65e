"""Per-mailbox pacing: never more than 4 concurrent requests per mailbox, whoever sends them."""

import threading
import time

import pytest

from services.errors import ThrottledError
from services.pacing import (
    DEFAULT_THROTTLE_SECONDS,
    MAX_CONCURRENT_REQUESTS,
    MAX_THROTTLE_SECONDS,
    MailboxPacer,
    PacingTimeout,
    slot_keys,
    throttle_delay,
)


class LockTable:
    """In-memory stand-in for PostgreSQL session advisory locks (thread-safe)."""

    def __init__(self):
        self.held = set()
        self.lock = threading.Lock()

    def try_lock(self, key):
        with self.lock:
            if key in self.held:
                return False
            self.held.add(key)
            return True

    def unlock(self, key):
        with self.lock:
            self.held.remove(key)


def _request(pacer, active, peak, guard):
    """One paced request: take a slot, stay in flight a moment (counted), give it back."""
    pacer.acquire()
    with guard:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
    time.sleep(0.002)
    with guard:
        active[0] -= 1
    pacer.release()


def test_slot_keys_are_int32_pairs_case_insensitive_and_distinct():
    keys = slot_keys("Alice@Example.com")
    assert keys == slot_keys("alice@example.com ")
    assert len(keys) == MAX_CONCURRENT_REQUESTS == len(set(keys))
    for first, second in keys:
        assert -(2**31) <= first < 2**31 and -(2**31) <= second < 2**31
    assert set(keys).isdisjoint(slot_keys("bob@example.com"))


def test_at_most_four_concurrent_requests_per_mailbox_across_threads():
    table = LockTable()
    active, peak, guard = [0], [0], threading.Lock()
    errors = []

    def worker():
        pacer = MailboxPacer("alice@example.com", table.try_lock, table.unlock, pause=0.001)
        try:
            for _ in range(5):
                _request(pacer, active, peak, guard)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert peak[0] == MAX_CONCURRENT_REQUESTS
    assert not table.held


def test_other_mailboxes_are_not_slowed_by_a_busy_one():
    table = LockTable()
    busy = [MailboxPacer("a@example.com", table.try_lock, table.unlock) for _ in range(4)]
    for pacer in busy:
        pacer.acquire()
    other = MailboxPacer("b@example.com", table.try_lock, table.unlock, timeout=0)
    assert other.acquire() in slot_keys("b@example.com")


def test_full_mailbox_waits_then_times_out_as_throttled():
    table = LockTable()
    for pacer in [MailboxPacer("a@example.com", table.try_lock, table.unlock) for _ in range(4)]:
        pacer.acquire()
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    fifth = MailboxPacer(
        "a@example.com", table.try_lock, table.unlock, timeout=2, sleep=sleep, clock=lambda: now[0]
    )
    with pytest.raises(PacingTimeout) as caught:
        fifth.acquire()
    assert isinstance(caught.value, ThrottledError)
    assert sleeps[0] == pytest.approx(0.05) and max(sleeps) <= 1.0
    assert sleeps == sorted(sleeps)


def test_acquire_keeps_its_slot_and_release_is_idempotent():
    table = LockTable()
    pacer = MailboxPacer("a@example.com", table.try_lock, table.unlock)
    first = pacer.acquire()
    assert pacer.acquire() == first  # a missed release never takes a second slot
    assert len(table.held) == 1
    pacer.release()
    pacer.release()
    assert not table.held


def test_throttle_delay_follows_retry_after_else_doubles():
    assert throttle_delay(12) == 12
    assert throttle_delay(0) == 0
    assert throttle_delay(None) == DEFAULT_THROTTLE_SECONDS
    assert throttle_delay(None, previous=40) == 80
    assert throttle_delay(None, previous=MAX_THROTTLE_SECONDS) == MAX_THROTTLE_SECONDS
    assert throttle_delay(10**6) == MAX_THROTTLE_SECONDS


class CountingTable(LockTable):
    """A :class:`LockTable` that counts its calls, as PostgreSQL queries would be counted."""

    def __init__(self):
        super().__init__()
        self.calls = {"try_lock": 0, "unlock": 0, "unlock_many": 0}

    def try_lock(self, key):
        self.calls["try_lock"] += 1
        return super().try_lock(key)

    def unlock(self, key):
        self.calls["unlock"] += 1
        return super().unlock(key)

    def unlock_many(self, keys):
        self.calls["unlock_many"] += 1
        return [LockTable.unlock(self, key) for key in keys]


def _waves(pacer, waves, chains, active, peak, guard):
    """``waves`` rounds of ``chains`` threads, each one request; in each round the first
    requests to get a slot (as many as there are slots) stay in flight together, whatever the
    scheduling, so that each round uses every slot it can."""
    errors = []
    together = min(chains, MAX_CONCURRENT_REQUESTS)

    def chain(barrier, entered):
        try:
            pacer.acquire()
            with guard:
                first = entered[0] < together
                entered[0] += 1
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            if first:
                barrier.wait(timeout=5)
            with guard:
                active[0] -= 1
            pacer.release()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    for _ in range(waves):
        barrier, entered = threading.Barrier(together), [0]
        threads = [threading.Thread(target=chain, args=(barrier, entered)) for _ in range(chains)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors


def test_holding_keeps_slots_between_waves_and_gives_them_back_at_once():
    table = CountingTable()
    pacer = MailboxPacer(
        "a@example.com", table.try_lock, table.unlock, unlock_many=table.unlock_many, pause=0.001
    )
    active, peak, guard = [0], [0], threading.Lock()
    with pacer.holding():
        _waves(pacer, 5, 4, active, peak, guard)
        # Released slots stay locked (spares of this pacer) while the write goes on...
        assert len(table.held) == 4 and not pacer._held
        with pacer.holding():  # nested: the outermost block gives them back
            pass
        assert len(table.held) == 4
    # ...and leave together at its end.
    assert not table.held
    assert peak[0] == MAX_CONCURRENT_REQUESTS
    assert table.calls == {"try_lock": 4, "unlock": 0, "unlock_many": 1}
    # Outside a holding block every release gives its slot back at once, as before.
    _waves(pacer, 2, 4, active, peak, guard)
    assert not table.held
    assert table.calls == {"try_lock": 12, "unlock": 8, "unlock_many": 1}


def test_holding_hands_a_spare_to_a_waiting_thread_and_never_exceeds_the_slots():
    table = CountingTable()
    pacer = MailboxPacer("a@example.com", table.try_lock, table.unlock, pause=0.001)
    active, peak, guard = [0], [0], threading.Lock()
    with pacer.holding():
        # More chains than slots: the fifth waits for a spare, none is ever shared.
        _waves(pacer, 3, 6, active, peak, guard)
    assert peak[0] == MAX_CONCURRENT_REQUESTS
    assert not table.held
    # Without unlock_many the spares are given back one by one.
    assert table.calls["try_lock"] == MAX_CONCURRENT_REQUESTS
    assert table.calls["unlock"] == MAX_CONCURRENT_REQUESTS


def test_holding_shares_spares_with_nobody_else():
    table = LockTable()
    mine = MailboxPacer("a@example.com", table.try_lock, table.unlock)
    other = MailboxPacer("a@example.com", table.try_lock, table.unlock, timeout=0)
    together = threading.Barrier(4)

    def chain():
        mine.acquire()
        together.wait(timeout=5)  # four requests in flight at once
        mine.release()

    with mine.holding():
        threads = [threading.Thread(target=chain) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(mine._spare) == 4
        # Another worker of the same mailbox finds every slot locked until the write ends.
        with pytest.raises(PacingTimeout):
            other.acquire()
    assert other.acquire() in slot_keys("a@example.com")
