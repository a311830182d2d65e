"""Emulator: delta shaped as Microsoft 365 gives it (occurrence stubs, @removed outside the
window), ``uid``, the ``delta()`` call form and booleans sent as strings."""

from urllib.parse import quote

import pytest
from conftest import EMULATOR_CLIENT_ID, GraphSession
from test_emulator_delta import WINDOW, _event, _round

from emulator import GraphEmulator

# Six Mondays from 2026-05-04 to 2026-06-08.
SERIES_WINDOW = {"startDateTime": "2026-05-01T00:00:00Z", "endDateTime": "2026-07-01T00:00:00Z"}
STUB_KEYS = {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}
CUSTOMER = {"emailAddress": {"address": "carol@customer.test", "name": "Carol"}, "type": "required"}
WEEKLY = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
    "range": {"type": "numbered", "startDate": "2026-05-04", "numberOfOccurrences": 6},
}


def _series(graph, subject="Weekly review"):
    return graph.post(
        "/me/events",
        json=_event(
            subject,
            "2026-05-04T09:00:00",
            "2026-05-04T10:00:00",
            recurrence=WEEKLY,
            attendees=[CUSTOMER],
        ),
    ).json()


def _instances(graph, master_id, params=None):
    response = graph.get(
        "/me/events/%s/instances" % quote(master_id, safe=""), params=params or SERIES_WINDOW
    )
    assert response.status_code == 200, response.text
    return response.json()["value"]


@pytest.fixture
def lenient_graph():
    emu = GraphEmulator(seed=1, lenient=True).start()
    emu.add_mailbox("alice@example.com", "Alice Smith")
    token = emu.issue_tokens("alice@example.com", EMULATOR_CLIENT_ID)["access_token"]
    with GraphSession(emu, token) as session:
        yield session
    emu.stop()


def test_delta_gives_occurrences_as_stubs_and_instances_gives_them_in_full(graph):
    master = _series(graph)
    items, _, _ = _round(graph, params=SERIES_WINDOW, page=50)
    occurrences = [i for i in items if i["type"] == "occurrence"]
    assert len(occurrences) == 6
    for stub in occurrences:
        assert set(stub) == STUB_KEYS  # no subject, attendees, organizer, iCalUId...
        assert stub["seriesMasterId"] == master["id"]
    [full_master] = [i for i in items if i["type"] == "seriesMaster"]
    assert full_master["subject"] == "Weekly review" and full_master["attendees"]

    instances = _instances(graph, master["id"], dict(SERIES_WINDOW, **{"$top": "50"}))
    assert [i["id"] for i in instances] == [s["id"] for s in occurrences]
    for item in instances:
        assert item["subject"] == "Weekly review"
        assert item["attendees"][0]["emailAddress"]["address"] == "carol@customer.test"
        assert item["organizer"]["emailAddress"]["address"] == "alice@example.com"
        assert item["uid"] == master["iCalUId"] == master["uid"]
    assert len({i["iCalUId"] for i in instances}) == 6  # iCalUId differs per occurrence


def test_moved_and_cancelled_occurrences(graph):
    master = _series(graph)
    _, delta_link, _ = _round(graph, params=SERIES_WINDOW, page=50)
    view = _instances(graph, master["id"])
    moved, cancelled = view[1], view[3]
    answer = graph.patch(
        "/me/events/" + quote(moved["id"], safe=""),
        json={
            "subject": "Moved review",
            "start": {"dateTime": "2026-05-12T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-12T15:00:00", "timeZone": "UTC"},
        },
    )
    assert answer.status_code == 200, answer.text
    graph.delete("/me/events/" + quote(cancelled["id"], safe=""))

    changes, _, _ = _round(graph, delta_link, page=50)
    [exception] = [c for c in changes if c.get("type") == "exception"]
    assert set(exception) == STUB_KEYS  # exceptions come as stubs too
    assert exception["start"]["dateTime"].startswith("2026-05-12T14:00")

    after = _instances(graph, master["id"])
    assert cancelled["id"] not in [i["id"] for i in after]  # a cancelled occurrence is gone
    [moved_full] = [i for i in after if i["id"] == moved["id"]]
    assert moved_full["type"] == "exception" and moved_full["subject"] == "Moved review"
    assert moved_full["originalStart"].startswith("2026-05-11T09:00:00")
    assert moved_full["uid"] == master["iCalUId"]
    assert graph.get("/me/events/" + quote(cancelled["id"], safe="")).status_code == 404


def test_instances_needs_a_window(graph):
    master = _series(graph)
    response = graph.get("/me/events/%s/instances" % quote(master["id"], safe=""))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorInvalidParameter"


def test_lenient_switch_keeps_full_occurrences(lenient_graph):
    _series(lenient_graph)
    items, _, _ = _round(lenient_graph, params=SERIES_WINDOW, page=50)
    occurrences = [i for i in items if i["type"] == "occurrence"]
    assert len(occurrences) == 6
    assert all(o["subject"] == "Weekly review" and o["attendees"] for o in occurrences)


def test_changes_outside_the_window_come_as_removed_though_they_exist(graph):
    inside = graph.post(
        "/me/events", json=_event("Inside", "2026-05-10T09:00:00", "2026-05-10T10:00:00")
    ).json()
    _, delta_link, _ = _round(graph, params=WINDOW)
    far = graph.post(
        "/me/events", json=_event("Far", "2027-09-10T09:00:00", "2027-09-10T10:00:00")
    ).json()
    graph.patch(
        "/me/events/" + quote(inside["id"], safe=""),
        json={
            "start": {"dateTime": "2027-10-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-10-01T10:00:00", "timeZone": "UTC"},
        },
    )
    changes, delta_link, _ = _round(graph, delta_link)
    removed = {c["id"]: c["@removed"] for c in changes if "@removed" in c}
    assert removed == {
        far["id"]: {"reason": "deleted"},
        inside["id"]: {"reason": "deleted"},
    }
    for event_id in removed:  # both still exist
        assert graph.get("/me/events/" + quote(event_id, safe="")).status_code == 200
    # Written again outside the window: reported again; untouched: not reported.
    graph.patch("/me/events/" + quote(far["id"], safe=""), json={"subject": "Far, renamed"})
    changes, delta_link, _ = _round(graph, delta_link)
    assert [(c["id"], "@removed" in c) for c in changes] == [(far["id"], True)]
    changes, _, _ = _round(graph, delta_link)
    assert changes == []


def test_lenient_switch_reports_no_removal_for_events_never_in_the_window(lenient_graph):
    _, delta_link, _ = _round(lenient_graph, params=WINDOW)
    lenient_graph.post(
        "/me/events", json=_event("Far", "2027-09-10T09:00:00", "2027-09-10T10:00:00")
    )
    changes, _, _ = _round(lenient_graph, delta_link)
    assert changes == []


def test_uid_of_a_single_event_is_its_icaluid(graph):
    event = graph.post(
        "/me/events", json=_event("One", "2026-05-10T09:00:00", "2026-05-10T10:00:00")
    ).json()
    assert event["uid"] == event["iCalUId"]
    fetched = graph.get("/me/events/" + quote(event["id"], safe="")).json()
    assert fetched["uid"] == event["iCalUId"]


@pytest.mark.parametrize("prefix", ["/me", "/users/alice@example.com", "/me/calendar"])
def test_delta_function_call_form(graph, prefix):
    graph.post("/me/events", json=_event("One", "2026-05-10T09:00:00", "2026-05-10T10:00:00"))
    items, delta_link, _ = _round(graph, prefix + "/calendarView/delta()", params=WINDOW)
    assert [i["subject"] for i in items] == ["One"]
    graph.post("/me/events", json=_event("Two", "2026-05-11T09:00:00", "2026-05-11T10:00:00"))
    changes, _, _ = _round(graph, delta_link)
    assert [c["subject"] for c in changes] == ["Two"]


def test_booleans_sent_as_strings(graph):
    response = graph.post(
        "/me/events",
        json=_event(
            "Strings",
            "2026-05-10T09:00:00",
            "2026-05-10T10:00:00",
            isReminderOn="false",
            isAllDay="False",
            responseRequested="TRUE",
        ),
    )
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["isReminderOn"] is False and event["isAllDay"] is False
    assert event["responseRequested"] is True
    refused = graph.post(
        "/me/events",
        json=_event("Bad", "2026-05-10T09:00:00", "2026-05-10T10:00:00", isReminderOn="no"),
    )
    assert refused.status_code == 400
