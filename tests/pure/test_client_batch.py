"""Writes through $batch against the emulator."""

import threading
from urllib.parse import quote

import pytest

from services.graph_client import WriteOp, transaction_id_for
from services.pacing import MailboxPacer

DB = "3c5e0a1e-3f1b-4a44-9b0c-2f6a7d1e9c11"


def _payload(n, subject=None):
    day, hour = 1 + n % 28, 8 + n % 10
    return {
        "subject": subject or f"Item {n}",
        "start": {"dateTime": f"2026-06-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2026-06-{day:02d}T{hour:02d}:30:00", "timeZone": "UTC"},
    }


def _create(n, **kwargs):
    return WriteOp(
        f"calendar.event,{n}",
        "create",
        payload=_payload(n),
        transaction_id=transaction_id_for(DB, "calendar.event", n),
        **kwargs,
    )


@pytest.fixture
def box(emulator, token_provider):
    return emulator.mailbox("alice@example.com")


def test_45_creates_go_out_in_4_chained_batches_at_once(emulator, client, box):
    ops = [_create(n) for n in range(45)]
    results = client.batch_write(ops)
    # Spread over 4 chains (12, 11, 11, 11) sent together: 4 writes in flight, none refused.
    assert emulator.counters["POST /$batch"] == 4
    assert emulator.throttling.peak["alice@example.com"] == 4
    assert emulator.throttling.refused["alice@example.com"] == 0
    assert emulator.counters["POST /me/events"] == 45
    assert [r.key for r in results] == [op.key for op in ops]  # batch answers are shuffled
    assert all(r.ok and r.status == 201 for r in results)
    assert [r.event["subject"] for r in results] == [f"Item {n}" for n in range(45)]
    assert len(box.events) == 45
    assert {r.event["transactionId"] for r in results} == {op.transaction_id for op in ops}


def test_throttled_items_are_retried_alone(emulator, make_client, box, sleeps):
    graph = make_client(parallel_batches=1)  # one chain: a deterministic order
    emulator.faults.add("throttle", count=2, retry_after=4, path_contains="/me/events")
    results = graph.batch_write([_create(n) for n in range(5)])
    assert all(r.ok for r in results)
    # 0 throttled (1-4 not run: 424), 1 throttled (2-4 not run), 2-4 done; after 4 s, 0 and 1.
    assert emulator.counters["POST /$batch"] == 4
    assert emulator.counters["POST /me/events"] == 7
    assert sleeps == [4.0]
    assert len(box.events) == 5


def test_item_throttling_is_bounded(emulator, make_client, box, sleeps):
    graph = make_client(max_retries=2)
    busy = box.create_event(_payload(9))["id"]
    # Item urls carry the id percent-encoded (Graph ids may hold "/" "+" "=").
    emulator.faults.add("throttle", count=10, retry_after=3, path_contains=quote(busy, safe=""))
    create, update = graph.batch_write(
        [_create(0), WriteOp("u", "update", event_id=busy, payload={"subject": "Never"})]
    )
    assert create.ok
    assert (update.ok, update.status, update.retry_after) == (False, 429, 3.0)
    assert update.error_code == "TooManyRequests"
    assert emulator.counters["POST /$batch"] == 4  # two chains, then 2 retries alone
    assert emulator.counters["batch_items"] == 4
    assert sleeps == [3.0, 3.0]
    assert box.events[busy]["subject"] == "Item 9"


def test_missing_events_are_reported_not_found(client, box):
    existing = box.create_event(_payload(1))["id"]
    results = client.batch_write(
        [
            WriteOp("u", "update", event_id="AAMkAGgone1", payload={"subject": "x"}),
            WriteOp("d", "delete", event_id="AAMkAGgone2"),
            WriteOp("c", "cancel", event_id="AAMkAGgone3", payload={"comment": "off"}),
            WriteOp("ok", "update", event_id=existing, payload={"subject": "Renamed"}),
        ]
    )
    update, delete, cancel, ok = results
    assert (update.ok, update.not_found, update.status) == (False, True, 404)
    assert update.error_code
    assert (delete.ok, delete.not_found) == (True, True)  # already gone is what we wanted
    assert (cancel.ok, cancel.not_found) == (True, True)
    assert ok.ok and ok.status == 200 and ok.event["subject"] == "Renamed"
    assert box.events[existing]["subject"] == "Renamed"


def test_transaction_id_prevents_a_second_event_after_a_crash(emulator, client, make_client, box):
    ops = [_create(n) for n in range(3)]
    first = client.batch_write(ops)
    # The worker crashed before saving the event ids: a new run sends the same creates.
    again = make_client().batch_write([_create(n) for n in range(3)])
    assert [r.event["id"] for r in again] == [r.event["id"] for r in first]
    assert all(r.ok for r in again)
    assert len(box.events) == 3
    # A later generation is a new event on purpose.
    new_generation = WriteOp(
        "calendar.event,0",
        "create",
        payload=_payload(0),
        transaction_id=transaction_id_for(DB, "calendar.event", 0, generation=1),
    )
    (result,) = client.batch_write([new_generation])
    assert result.ok and result.event["id"] != first[0].event["id"]
    assert len(box.events) == 4


def test_create_without_transaction_id_gets_one(client, box):
    (result,) = client.batch_write([WriteOp("x", "create", payload=_payload(3))])
    assert result.ok
    assert result.event["transactionId"]


def test_whole_batch_failure_is_retried(emulator, make_client, box, sleeps):
    client = make_client(parallel_batches=1)
    emulator.faults.add("unavailable", count=1, retry_after=2, path_contains="/$batch")
    emulator.faults.add("drop", count=1, path_contains="/$batch")
    results = client.batch_write([_create(n) for n in range(4)])
    assert all(r.ok for r in results)
    assert emulator.counters["POST /$batch"] == 3
    assert sleeps == [2.0, 1.5]
    assert len(box.events) == 4


def test_whole_batch_giving_up_returns_failed_results(emulator, make_client, box):
    graph = make_client(max_retries=1, parallel_batches=1)
    emulator.faults.add("throttle", count=5, retry_after=9, path_contains="/$batch")
    results = graph.batch_write([_create(n) for n in range(25)])
    assert len(results) == 25
    assert all(not r.ok and r.status == 429 and r.retry_after == 9.0 for r in results)
    # Giving up on the first batch does not hammer the mailbox with the second one.
    assert emulator.counters["POST /$batch"] == 2
    assert box.events == {}


def test_bad_ops_fail_alone(client, box):
    results = client.batch_write(
        [
            WriteOp("no-id", "update", payload={"subject": "x"}),
            WriteOp("weird", "archive", event_id="AAMkAGx"),
            _create(1),
            WriteOp("invalid", "create", payload={"subject": "No times"}, transaction_id="t-1"),
        ]
    )
    no_id, weird, good, invalid = results
    assert not no_id.ok and no_id.error_code == "invalidOperation"
    assert not weird.ok and weird.error_code == "invalidOperation"
    assert good.ok
    assert not invalid.ok and invalid.status == 400 and invalid.error_code
    assert len(box.events) == 1


def test_ops_on_one_event_never_share_a_batch(emulator, client, box):
    event_id = box.create_event(_payload(1))["id"]
    results = client.batch_write(
        [
            WriteOp("a", "update", event_id=event_id, payload={"subject": "First"}),
            WriteOp("b", "delete", event_id=event_id),
        ]
    )
    assert [r.ok for r in results] == [True, True]
    assert emulator.counters["POST /$batch"] == 2
    assert event_id not in box.events


def test_if_match_conflict(client, box):
    event = box.create_event(_payload(1))
    box.update_event(event["id"], {"subject": "Changed in Outlook"})
    (result,) = client.batch_write(
        [
            WriteOp(
                "k",
                "update",
                event_id=event["id"],
                payload={"subject": "From Odoo"},
                if_match=event["@odata.etag"],
            )
        ]
    )
    assert not result.ok and result.status == 412
    assert result.error_code == "ErrorIrresolvableConflict"
    assert box.events[event["id"]]["subject"] == "Changed in Outlook"


def test_cancel_meeting(client, box):
    payload = _payload(2) | {
        "attendees": [
            {"emailAddress": {"address": "guest@example.net"}, "type": "required"},
        ]
    }
    (created,) = client.batch_write([WriteOp("m", "create", payload=payload)])
    (cancelled,) = client.batch_write(
        [WriteOp("m", "cancel", event_id=created.event["id"], payload={"comment": "Sorry"})]
    )
    assert cancelled.ok and cancelled.status == 202 and not cancelled.not_found
    assert created.event["id"] not in box.events


def test_2000_creates_in_at_most_100_batches(emulator, client, box):
    ops = [_create(n) for n in range(2000)]
    emulator.reset_counters()
    results = client.batch_write(ops)
    assert all(r.ok for r in results)
    assert emulator.counters["POST /$batch"] == 100
    assert emulator.counters["total"] == emulator.counters["POST /$batch"]
    assert len(box.events) == 2000


def test_long_item_retry_after_is_not_waited(emulator, make_client, box, sleeps):
    graph = make_client(max_retry_after=30)
    emulator.faults.add("throttle", count=1, retry_after=600, path_contains="/me/events")
    (result,) = graph.batch_write([_create(1)])
    assert (result.ok, result.status, result.retry_after) == (False, 429, 600.0)
    assert sleeps == []
    assert emulator.counters["POST /$batch"] == 1


def test_gateway_timeout_on_the_batch_gives_failed_results(emulator, make_client, box):
    graph = make_client(max_retries=0, parallel_batches=1)
    emulator.faults.add("gateway_timeout", count=1, path_contains="/$batch")
    results = graph.batch_write([_create(1), _create(2)])
    assert [(r.ok, r.status, r.error_code) for r in results] == [(False, 504, "gatewayTimeout")] * 2
    # The next run sends them again; nothing was created twice.
    assert all(r.ok for r in graph.batch_write([_create(1), _create(2)]))
    assert len(box.events) == 2


def test_written_events_come_back_in_utc(client, box):
    payload = _payload(1)
    payload["start"] = {"dateTime": "2026-06-02T10:00:00", "timeZone": "W. Europe Standard Time"}
    payload["end"] = {"dateTime": "2026-06-02T11:00:00", "timeZone": "W. Europe Standard Time"}
    (created,) = client.batch_write([WriteOp("k", "create", payload=payload)])
    assert created.event["start"]["timeZone"] == "UTC"
    assert created.event["start"]["dateTime"].startswith("2026-06-02T08:00:00")
    (updated,) = client.batch_write(
        [WriteOp("k", "update", event_id=created.event["id"], payload={"subject": "New"})]
    )
    assert updated.event["end"]["timeZone"] == "UTC"
    assert updated.event["end"]["dateTime"].startswith("2026-06-02T09:00:00")


def test_attendee_finds_its_copy_and_answers_through_batch(emulator, client, box):
    organizer = emulator.add_mailbox("boss@example.com")
    meetings = [
        organizer.create_event(
            {
                **_payload(n, f"Meeting {n}"),
                "attendees": [{"emailAddress": {"address": "alice@example.com"}}],
            }
        )
        for n in range(3)
    ]
    uids = [m["iCalUId"] for m in meetings]
    emulator.reset_counters()
    found = client.find_by_ical_uid([*uids, "unknown-uid"])
    assert emulator.counters["POST /$batch"] == 1
    assert found["unknown-uid"] == []
    copies = [found[uid][0] for uid in uids]
    assert all(not c["isOrganizer"] for c in copies)
    assert {c["id"] for c in copies}.isdisjoint({m["id"] for m in meetings})
    actions = ["accept", "decline", "tentativelyAccept"]
    pairs = enumerate(zip(actions, copies, strict=True))
    results = client.batch_write([WriteOp(f"a{n}", action, c["id"]) for n, (action, c) in pairs])
    assert [r.status for r in results] == [202, 202, 202] and all(r.ok for r in results)
    # Writes to one mailbox go out as up to 4 chains in parallel: three answers, three chains.
    assert emulator.counters["POST /$batch"] == 1 + 3
    answered = [organizer.events[m["id"]]["attendees"][0]["status"]["response"] for m in meetings]
    assert answered == ["accepted", "declined", "tentativelyAccepted"]
    # the declined copy left alice's calendar: answering it again is a 404
    again = client.batch_write([WriteOp("again", "accept", copies[1]["id"])])
    assert again[0].not_found and not again[0].ok


def test_a_paced_write_takes_each_slot_once_over_all_its_waves(emulator, make_client, box):
    """With the pacer's hooks, a write of 200 items (3 waves of up to 4 chains) locks each slot
    once, keeps them from wave to wave, and gives them back together when it returns."""
    calls, locked, guard = [], set(), threading.Lock()

    def try_lock(key):
        with guard:
            calls.append("lock")
            if key in locked:
                return False
            locked.add(key)
            return True

    def unlock(key):
        with guard:
            calls.append("unlock")
            locked.remove(key)

    def unlock_many(keys):
        with guard:
            calls.append(f"unlock {len(keys)}")
            locked.difference_update(keys)

    pacer = MailboxPacer("alice@example.com", try_lock, unlock, unlock_many=unlock_many)
    graph = make_client(
        before_request=pacer.acquire,
        on_request=lambda *_args: pacer.release(),
        hold_slots=pacer.holding,
    )
    results = graph.batch_write([_create(n) for n in range(200)])
    assert all(r.ok for r in results) and len(box.events) == 200
    assert emulator.counters["POST /$batch"] == 12
    assert emulator.throttling.peak["alice@example.com"] == 4
    # 12 requests, but each slot locked once (at most the 4 in flight) and all given back
    # together at the end: no unlock between the waves.
    taken = calls.count("lock")
    assert 1 <= taken <= 4
    assert calls == ["lock"] * taken + [f"unlock {taken}"]
    assert not locked
    # A plain request outside a write takes and gives back its slot at once.
    graph.list_calendars()
    assert calls[-2:] == ["lock", "unlock"] and not locked
