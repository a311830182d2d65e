"""How writes to one mailbox are laid out in ``$batch`` requests (pure helpers of the client).

Outlook runs at most 4 requests at once per app and mailbox, and the items of a ``$batch`` count
against that limit: items beyond it fail alone with 429 (``concepts/throttling-limits.md``,
"Outlook service limits for JSON batching"; microsoft-graph-docs issues #2886, #8760). The same
page gives two ways to stay within it: up to 4 parallel items in one batch, or batches whose items
are sequenced with ``dependsOn``, up to 4 such batches running at once. The second one is what the
client does for writes: each batch is a chain of up to 20 items (one slot of the mailbox at any
time) and up to 4 chains are in flight together, so at most 4 writes run at once while a push of
2,000 writes still takes 100 requests instead of 500. A failed item makes the rest of its chain
fail with 424 (``concepts/json-batching.md``, "Sequencing requests with the dependsOn property"):
those were not run and go out again at once in the next wave.

Reads that may well answer 404 (an event being checked) are not chained, since one 404 would fail
the rest of the chain: they go in batches of at most 4 parallel items.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

MAILBOX_CONCURRENCY = 4
BATCH_LIMIT = 20


def chained(items):
    """``items`` (dicts with an ``id``) sequenced with ``dependsOn``, each on the one before."""
    out = []
    previous = None
    for item in items:
        item = dict(item)
        if previous is not None:
            item["dependsOn"] = [previous]
        previous = item["id"]
        out.append(item)
    return out


def plan_wave(queue, event_of, parallel=MAILBOX_CONCURRENCY, size=BATCH_LIMIT, blocked=()):
    """Split the next writes of ``queue`` into at most ``parallel`` chains of ``size`` items.

    ``event_of(index)`` is the event an op writes to (None for a create). Two ops on one event
    never run in the same wave (its chains run in parallel, in any order), nor before an earlier
    op on that event waiting for a retry (``blocked`` event ids).

    Returns ``(chains, later, waiting)``: the chains of this wave (lists of indices, spread
    evenly so that a small push is done in a few write times), the indices left for a later
    wave, and those that must wait for the retry of an earlier op on their event.
    """
    take, later, waiting = [], [], []
    seen = set()
    blocked = set(blocked)
    capacity = parallel * size
    for index in queue:
        event_id = event_of(index)
        if event_id and event_id in blocked:
            waiting.append(index)
        elif len(take) < capacity and not (event_id and event_id in seen):
            take.append(index)
            if event_id:
                seen.add(event_id)
        else:
            later.append(index)
    if not take:
        return [], later, waiting
    count = min(parallel, len(take))
    step = math.ceil(len(take) / count)
    chains = [take[start : start + step] for start in range(0, len(take), step)]
    return chains, later, waiting


class Outcome:
    """What one call of :func:`run_parallel` gave: ``value`` or ``error``."""

    __slots__ = ("error", "value")

    def __init__(self, value=None, error=None):
        self.value = value
        self.error = error


# One pool of threads per process for the parallel chains of every push (each cron thread's
# run uses at most ``parallel`` of them at once): starting new threads for each run cost more
# than the rest of a small push. Idle threads cost nothing; more chains than threads queue.
SHARED_THREADS = 32
_shared = {}
_shared_lock = threading.Lock()


def shared_executor():
    """The process's :class:`ThreadPoolExecutor` for :func:`run_parallel` (created once per
    process: a forked worker does not inherit its parent's threads, so it gets its own)."""
    with _shared_lock:
        pid = os.getpid()
        if _shared.get("pid") != pid:
            _shared["pool"] = ThreadPoolExecutor(SHARED_THREADS, thread_name_prefix="graph-batch")
            _shared["pid"] = pid
        return _shared["pool"]


def run_parallel(func, arguments, executor=None):
    """``func(arg)`` for every argument, in parallel threads; one :class:`Outcome` each, in order.

    A single argument runs in the calling thread; the others in ``executor`` (default: the
    process's :func:`shared_executor`). Exceptions are returned, not raised, so that the caller
    can first record what the other calls did.
    """
    if len(arguments) <= 1:
        outcomes = []
        for argument in arguments:
            try:
                outcomes.append(Outcome(func(argument)))
            except Exception as exc:  # handed back to the caller
                outcomes.append(Outcome(error=exc))
        return outcomes
    pool = executor or shared_executor()
    futures = [pool.submit(func, argument) for argument in arguments]
    outcomes = []
    for future in futures:
        try:
            outcomes.append(Outcome(future.result()))
        except Exception as exc:  # handed back to the caller
            outcomes.append(Outcome(error=exc))
    return outcomes
