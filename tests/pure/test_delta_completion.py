"""services.delta_completion against the emulator: stubs completed per series, removals
confirmed with batched GETs."""

from datetime import datetime

import pytest
from conftest import delta_round

from services import delta_completion
from services.errors import GraphError

START, END = datetime(2026, 5, 1), datetime(2026, 7, 1)
CUSTOMER = {"emailAddress": {"address": "carol@customer.test", "name": "Carol"}}


def _series(box, subject, hour=9, count=6):
    return box.create_event(
        {
            "subject": subject,
            "start": {"dateTime": "2026-05-04T%02d:00:00" % hour, "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T%02d:30:00" % hour, "timeZone": "UTC"},
            "attendees": [CUSTOMER],
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                "range": {
                    "type": "numbered",
                    "startDate": "2026-05-04",
                    "numberOfOccurrences": count,
                },
            },
        }
    )


def _single(box, subject, day="2026-05-06"):
    return box.create_event(
        {
            "subject": subject,
            "start": {"dateTime": day + "T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": day + "T10:00:00", "timeZone": "UTC"},
        }
    )


@pytest.fixture
def box(emulator, token_provider):
    return emulator.mailbox("alice@example.com")


def test_stubs_completed_with_one_request_per_series_in_one_batch(emulator, client, box):
    first, second = _series(box, "Review A"), _series(box, "Review B", hour=14)
    _single(box, "Lunch")
    result = delta_round(client, START, END)
    stubs = [e for e in result.events if delta_completion.is_stub(e)]
    assert len(stubs) == 12 and not any("subject" in s for s in stubs)
    emulator.reset_counters()
    events, vanished = delta_completion.complete_occurrences(client, result.events)
    assert vanished == []
    assert [e["id"] for e in events] == [e["id"] for e in result.events]  # order kept
    occurrences = [e for e in events if e["type"] == "occurrence"]
    assert sorted({e["subject"] for e in occurrences}) == ["Review A", "Review B"]
    for event in occurrences:
        assert event["attendees"][0]["emailAddress"]["address"] == "carol@customer.test"
        assert event["organizer"]["emailAddress"]["address"] == "alice@example.com"
        assert event["uid"] in (first["iCalUId"], second["iCalUId"])
        assert event["originalStart"]
    assert emulator.counters["POST /$batch"] == 1
    assert emulator.counters["total"] == 1
    assert len([r for r in emulator.requests if r.path.endswith("/instances")]) == 2


def test_nothing_to_complete_sends_nothing(emulator, client, box):
    _single(box, "Lunch")
    result = delta_round(client, START, END)
    emulator.reset_counters()
    events, vanished = delta_completion.complete_occurrences(client, result.events)
    assert (events, vanished) == (result.events, [])
    assert emulator.counters["total"] == 0


def test_moved_cancelled_and_vanished_series(emulator, client, box):
    series = _series(box, "Review")
    result = delta_round(client, START, END)
    occurrences = sorted(
        (e for e in result.events if e["type"] == "occurrence"),
        key=lambda e: e["start"]["dateTime"],
    )
    box.update_event(
        occurrences[1]["id"],
        {
            "start": {"dateTime": "2026-05-12T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-12T15:30:00", "timeZone": "UTC"},
        },
    )
    box.delete_event(occurrences[2]["id"])
    changes = delta_round(client, delta_link=result.delta_link)
    [exception] = [e for e in changes.events if e.get("type") == "exception"]
    assert delta_completion.is_stub(exception)
    events, _ = delta_completion.complete_occurrences(client, [exception])
    assert events[0]["subject"] == "Review" and events[0]["type"] == "exception"
    assert events[0]["originalStart"].startswith("2026-05-11T09:00:00")
    # A stub whose occurrence was cancelled since the delta read: reported as vanished.
    events, vanished = delta_completion.complete_occurrences(client, [occurrences[2]])
    assert (events, vanished) == ([], [occurrences[2]["id"]])
    # The whole series deleted: every stub of it vanishes.
    box.delete_event(series["id"])
    events, vanished = delta_completion.complete_occurrences(client, occurrences[:2])
    assert events == [] and vanished == [o["id"] for o in occurrences[:2]]


def test_long_series_pages_are_followed(emulator, client, box, monkeypatch):
    monkeypatch.setattr(delta_completion, "INSTANCES_PAGE", 4)
    _series(box, "Daily-ish", count=9)
    result = delta_round(client, datetime(2026, 5, 1), datetime(2026, 8, 1))
    events, vanished = delta_completion.complete_occurrences(client, result.events)
    assert vanished == []
    assert len([e for e in events if e.get("subject") == "Daily-ish"]) == 10  # master + 9


def test_unreadable_series_raises_instead_of_guessing(emulator, client, box):
    _series(box, "Review")
    result = delta_round(client, START, END)
    emulator.faults.add("unavailable", count=None, probability=1.0, path_contains="/instances")
    with pytest.raises(GraphError):
        delta_completion.complete_occurrences(client, result.events)


def test_confirm_removed_tells_deleted_from_outside_the_window(emulator, client, box):
    inside = _single(box, "Inside")
    gone = _single(box, "Gone", day="2026-05-07")
    first = delta_round(client, START, END)
    far = _single(box, "Far", day="2027-11-08")
    box.update_event(
        inside["id"],
        {
            "start": {"dateTime": "2027-12-06T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-12-06T10:00:00", "timeZone": "UTC"},
        },
    )
    box.delete_event(gone["id"])
    changes = delta_round(client, delta_link=first.delta_link)
    assert sorted(changes.removed) == sorted([inside["id"], gone["id"], far["id"]])
    emulator.reset_counters()
    present, really_gone = delta_completion.confirm_removed(client, changes.removed)
    assert sorted(present) == sorted([inside["id"], far["id"]])
    assert present[inside["id"]]["start"]["dateTime"].startswith("2027-12-06T09:00:00")
    assert "@odata.context" not in present[far["id"]]
    assert really_gone == [gone["id"]]
    assert emulator.counters["total"] == 1  # one $batch
    assert len([r for r in emulator.requests if r.method == "GET"]) == 3
