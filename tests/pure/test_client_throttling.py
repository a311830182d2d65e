"""Client: at most 4 writes in flight per mailbox, per-item 429s retried after their own
Retry-After and reported to ``on_throttle`` (concepts/throttling-limits.md)."""

from collections import namedtuple
from urllib.parse import quote

import pytest

from services.batching import chained, plan_wave
from services.graph_client import WriteOp, transaction_id_for

DB = "7d1c3b9e-0a4f-4e6b-8f21-5c9d0e7a3b42"
App = namedtuple("App", "client_id")


def _payload(n):
    day, hour = 1 + n % 28, 8 + n % 10
    return {
        "subject": f"Write {n}",
        "start": {"dateTime": f"2026-09-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2026-09-{day:02d}T{hour:02d}:30:00", "timeZone": "UTC"},
    }


def _create(n):
    return WriteOp(
        f"mail.activity,{n}",
        "create",
        payload=_payload(n),
        transaction_id=transaction_id_for(DB, "mail.activity", n),
    )


@pytest.fixture
def box(emulator, token_provider):
    return emulator.mailbox("alice@example.com")


def test_twenty_writes_to_one_mailbox_never_exceed_four_in_flight(emulator, client, box):
    emulator.write_latency = 0.01
    results = client.batch_write([_create(n) for n in range(20)])
    assert all(r.ok and r.status == 201 for r in results)
    assert emulator.throttling.peak["alice@example.com"] == 4
    assert emulator.throttling.refused["alice@example.com"] == 0
    # Four chains of five writes, sent together.
    assert emulator.counters["POST /$batch"] == 4
    assert sorted(e["subject"] for e in box.events.values()) == sorted(
        f"Write {n}" for n in range(20)
    )


def test_items_refused_for_concurrency_are_retried_after_their_retry_after(
    emulator, make_client, box, sleeps
):
    """Another client holds 3 of Alice's 4 slots: items of our 4 chains are refused alone,
    retried after their Retry-After once the other client is done; every write lands once."""
    alice = emulator.mailbox("alice@example.com")
    other = App("emulator-test-client")
    for _ in range(3):
        assert emulator.throttling.take(alice, other)
    throttles = []

    def sleep(seconds):
        sleeps.append(seconds)
        while emulator.throttling.in_flight:  # the other client finishes meanwhile
            emulator.throttling.give_back(alice, other)

    graph = make_client(sleep=sleep, on_throttle=throttles.append)
    results = graph.batch_write([_create(n) for n in range(8)])
    assert all(r.ok for r in results)
    assert emulator.throttling.refused["alice@example.com"] >= 1
    assert sleeps == [1.0]  # the items' own Retry-After
    assert throttles == [1.0]
    assert len(box.events) == 8
    assert len({e["transactionId"] for e in box.events.values()}) == 8


def test_only_throttled_items_are_sent_again_after_their_retry_after(
    emulator, make_client, box, sleeps
):
    target = box.create_event(_payload(50))["id"]
    emulator.faults.add("throttle", count=1, retry_after=7, path_contains=quote(target, safe=""))
    throttles = []
    graph = make_client(on_throttle=throttles.append)
    ops = [WriteOp("u", "update", event_id=target, payload={"subject": "Renamed"})]
    ops += [_create(n) for n in range(3)]
    results = graph.batch_write(ops)
    assert all(r.ok for r in results)
    assert sleeps == [7.0] and throttles == [7.0]
    # Four chains of one; then the throttled update alone.
    assert emulator.counters["POST /$batch"] == 5
    assert emulator.counters["POST /me/events"] == 3
    assert box.events[target]["subject"] == "Renamed"


def test_a_failed_item_only_delays_the_rest_of_its_chain(emulator, make_client, box, sleeps):
    graph = make_client(parallel_batches=1)
    ops = [_create(0), WriteOp("gone", "update", event_id="AAMkAGgone", payload={"x": 1})]
    ops += [_create(n) for n in range(1, 4)]
    results = graph.batch_write(ops)
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert results[1].not_found
    assert sleeps == []  # the items after the 404 answered 424 and went out again at once
    assert emulator.counters["POST /$batch"] == 2
    assert len(box.events) == 4


def test_whole_request_429_is_reported_too(emulator, make_client, box, sleeps):
    emulator.faults.add("throttle", count=1, retry_after=5, path_contains="/$batch")
    throttles = []
    graph = make_client(on_throttle=throttles.append)
    (result,) = graph.batch_write([_create(1)])
    assert result.ok
    assert throttles == [5.0] and sleeps == [5.0]


def test_batched_reads_go_four_at_a_time(emulator, client, box):
    events = [box.create_event(_payload(n)) for n in range(10)]
    emulator.reset_counters()
    client.add_extended_property([{"id": e["id"]} for e in events])
    assert emulator.counters["POST /$batch"] == 3
    assert emulator.throttling.refused["alice@example.com"] == 0


def test_plan_wave_spreads_small_pushes_and_keeps_one_event_per_wave():
    events = {0: None, 1: "A", 2: "A", 3: None, 4: "B", 5: None}
    chains, later, waiting = plan_wave(list(events), events.get, blocked={"B"})
    assert chains == [[0], [1], [3], [5]]
    assert later == [2]
    assert waiting == [4]
    chains, later, _waiting = plan_wave(list(range(100)), lambda i: None)
    assert [len(c) for c in chains] == [20, 20, 20, 20]
    assert later == list(range(80, 100))
    assert chained([{"id": "a"}, {"id": "b"}, {"id": "c"}]) == [
        {"id": "a"},
        {"id": "b", "dependsOn": ["a"]},
        {"id": "c", "dependsOn": ["b"]},
    ]
