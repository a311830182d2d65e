"""Normalized values <-> Graph event payloads (services.mapping)."""

import pytest

from services import mapping
from services.runstats import RunStats

PROP = "String {6f2a4d1e-93b8-4c57-a0d2-1e7f5c3b9a64} Name office365_calendar_sync_ref"


def _event(**kw):
    event = {
        "id": "AAMk1",
        "subject": "Review",
        "isAllDay": False,
        "start": {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-03-02T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        "location": {"displayName": " Room 1 "},
        "attendees": [
            {"emailAddress": {"address": " Ann@Example.COM ", "name": "Ann"}},
            {"emailAddress": {"name": "no address"}},
            {"emailAddress": {"address": "ann@example.com", "name": "dup"}},
        ],
        "organizer": {"emailAddress": {"address": "Boss@Example.com"}},
        "body": {"contentType": "html", "content": "<p>hi</p>"},
    }
    event.update(kw)
    return event


def test_graph_to_values_converts_windows_zone_to_utc_and_cleans_attendees():
    values = mapping.graph_to_values(_event())
    assert values["start"] == "2026-03-02T08:00:00"  # CET = UTC+1 in March
    assert values["end"] == "2026-03-02T09:00:00"
    assert values["location"] == "Room 1"
    assert values["attendees"] == ["ann@example.com"]
    assert values["attendee_names"] == {"ann@example.com": "Ann"}
    assert values["organizer"] == "boss@example.com"


def test_all_day_keeps_calendar_dates():
    event = _event(
        isAllDay=True,
        start={"dateTime": "2026-03-02T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
        end={"dateTime": "2026-03-04T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
    )
    values = mapping.graph_to_values(event)
    assert (values["start"], values["end"], values["all_day"]) == ("2026-03-02", "2026-03-04", True)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"end": None}, "missing start or end"),
        ({"start": {"dateTime": "not a date", "timeZone": "UTC"}}, "invalid start/end"),
        ({"start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "Mars/Olympus"}}, "invalid"),
        ({"end": {"dateTime": "2026-03-01T09:00:00", "timeZone": "UTC"}}, "before start"),
    ],
)
def test_bad_events_raise_clear_errors(patch, message):
    with pytest.raises(mapping.MappingError, match=message):
        mapping.graph_to_values(_event(**patch))


def test_huge_body_is_truncated_with_notice():
    values = mapping.graph_to_values(_event(body={"content": "x" * (mapping.BODY_MAX + 10)}))
    assert values["body_truncated"]
    assert values["body"].endswith(mapping.TRUNCATION_NOTICE)


def test_values_to_graph_full_and_partial():
    values = {
        "subject": "  Task:   Call  " + "y" * 300,
        "body": "<p>b</p>",
        "all_day": True,
        "start": "2026-03-02",
        "end": "2026-03-03",
        "location": "",
        "attendees": ["a@x.org"],
        "attendee_names": {"a@x.org": "A"},
        "show_as": "oof",
        "categories": ["Odoo"],
    }
    payload = mapping.values_to_graph(values, "mail.activity,7", PROP, "Europe/Brussels")
    assert len(payload["subject"]) == mapping.SUBJECT_MAX
    assert payload["subject"].startswith("Task: Call y")
    assert payload["start"] == {"dateTime": "2026-03-02T00:00:00", "timeZone": "Europe/Brussels"}
    assert payload["isAllDay"] is True and payload["showAs"] == "oof"
    assert payload["attendees"][0]["emailAddress"] == {"address": "a@x.org", "name": "A"}
    assert payload["singleValueExtendedProperties"] == [{"id": PROP, "value": "mail.activity,7"}]
    assert mapping.values_to_graph({"location": "Room"}) == {"location": {"displayName": "Room"}}


def test_round_trip_of_timed_values():
    values = {"subject": "S", "all_day": False, "start": "2026-03-02T08:00:00"}
    values["end"] = "2026-03-02T08:30:00"
    payload = mapping.values_to_graph(values)
    back = mapping.graph_to_values({"id": "1", **payload})
    assert (back["start"], back["end"], back["subject"]) == (values["start"], values["end"], "S")


def test_clean_email():
    assert mapping.clean_email('"Ann" <ANN@x.org>') == "ann@x.org"
    assert mapping.clean_email("  nobody ") == ""


def test_runstats_counts_and_errors():
    stats = RunStats()
    stats.count("activities", "created", 3)
    stats.error("activities", "boom", "mail.activity", 4)
    stats.error("activities", "fyi", level="info")
    assert stats.counts["activities"]["failed"] == 1
    assert stats.total("activities") == 3
    assert [item.message for item in stats.items] == ["boom", "fyi"]
    with pytest.raises(ValueError):
        stats.count("activities", "exploded")


def test_series_master_times_in_its_zone_rule_and_teams():
    """A series master is sent at its wall-clock time in the rule's zone, with its rule; an
    online meeting asks for Teams (and nothing is sent when it is not one)."""
    rule = {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}}
    payload = mapping.values_to_graph(
        {
            "all_day": False,
            "start": "2027-07-05T08:00:00",
            "end": "2027-07-05T09:00:00",
            "time_zone": "Europe/Brussels",
            "recurrence": rule,
            "online_meeting": True,
        }
    )
    assert payload["start"] == {"dateTime": "2027-07-05T10:00:00", "timeZone": "Europe/Brussels"}
    assert payload["end"] == {"dateTime": "2027-07-05T11:00:00", "timeZone": "Europe/Brussels"}
    assert payload["recurrence"] == rule
    assert payload["isOnlineMeeting"] is True
    assert payload["onlineMeetingProvider"] == "teamsForBusiness"
    plain = mapping.values_to_graph({"start": "2027-07-05T08:00:00", "online_meeting": False})
    assert plain["start"] == {"dateTime": "2027-07-05T08:00:00", "timeZone": "UTC"}
    assert "isOnlineMeeting" not in plain
    with pytest.raises(mapping.MappingError):
        mapping.local_time("2027-07-05T08:00:00", "Mars/Olympus_Mons")
