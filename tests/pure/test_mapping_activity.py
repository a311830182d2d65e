"""Activities and meetings as normalized event values (services.mapping_activity)."""

from datetime import date, datetime

import pytest

from services import mapping_activity as ma
from services.mapping import SUBJECT_MAX, MappingError


def test_activity_subject_type_and_summary():
    assert ma.activity_subject("Task", "Create a quote") == ("Task: Create a quote", "")
    assert ma.activity_subject("Phone Call", "  ", "Azure Interior")[0] == (
        "Phone Call: Azure Interior"
    )
    assert ma.activity_subject("", "", "")[0] == "Activity"


def test_long_subject_is_cut_with_a_warning():
    subject, warning = ma.activity_subject("Task", "x" * 300)
    assert len(subject) == SUBJECT_MAX
    assert subject.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert "306 characters" in warning


def test_meeting_subject_with_company():
    assert ma.meeting_subject("Kick-off", ["Deco Addict"])[0] == "Meeting: Kick-off — Deco Addict"
    assert ma.meeting_subject("Kick-off", [])[0] == "Meeting: Kick-off"
    assert ma.meeting_subject("Kick-off", ["B", "A", "B"])[0] == "Meeting: Kick-off — A, B"


def test_activity_body_has_links_contact_and_note():
    body = ma.activity_body(
        ma.activity_url("https://odoo.example.com/", 42),
        {"name": "Ann <Lee>", "company": "Acme", "phone": "+32 1", "email": "ann@acme.com"},
        "<p>Call about the quote</p>",
        document_url="https://odoo.example.com/mail/view?model=res.partner&res_id=7",
    )
    assert (
        '<a href="https://odoo.example.com/office365_calendar_sync/activity/42">Open activity</a>'
        in body
    )
    assert (
        '<a href="https://odoo.example.com/mail/view?model=res.partner&amp;res_id=7">'
        "Open document</a>" in body
    )
    assert body.index("Open activity") < body.index("Open document")
    assert "Ann &lt;Lee&gt;" in body
    assert "<b>Company:</b> Acme" in body and "+32 1" in body and "ann@acme.com" in body
    assert body.endswith("<div><p>Call about the quote</p></div>")


def test_default_times_all_day_and_slot():
    due = date(2026, 3, 2)
    assert ma.default_times(due, "allday", 9, 0.5, "Europe/Brussels") == {
        "all_day": True,
        "start": "2026-03-02",
        "end": "2026-03-03",
    }
    # 9:30 in Brussels (UTC+1 in March), 45 minutes
    assert ma.default_times(due, "slot", 9.5, 0.75, "Europe/Brussels") == {
        "all_day": False,
        "start": "2026-03-02T08:30:00",
        "end": "2026-03-02T09:15:00",
    }


def test_outlook_times_on_the_due_date_are_kept():
    previous = {"all_day": False, "start": "2026-03-02T13:00:00", "end": "2026-03-02T15:00:00"}
    times = ma.activity_times(date(2026, 3, 2), "allday", 9, 0.5, "Europe/Brussels", previous)
    assert times == previous


def test_due_date_moved_in_odoo_shifts_outlook_times():
    # 14:00-16:00 Brussels on 2 March (winter) -> 14:00-16:00 Brussels on 30 March (summer)
    previous = {"all_day": False, "start": "2026-03-02T13:00:00", "end": "2026-03-02T15:00:00"}
    times = ma.activity_times(date(2026, 3, 30), "allday", 9, 0.5, "Europe/Brussels", previous)
    assert times == {"all_day": False, "start": "2026-03-30T12:00:00", "end": "2026-03-30T14:00:00"}
    all_day = {"all_day": True, "start": "2026-03-02", "end": "2026-03-04"}
    assert ma.activity_times(date(2026, 3, 5), "slot", 9, 1, "UTC", all_day) == {
        "all_day": True,
        "start": "2026-03-05",
        "end": "2026-03-07",
    }


def test_outlook_date_in_user_time_zone():
    # 23:30 UTC on 1 March is 2 March in Brussels
    values = {"all_day": False, "start": "2026-03-01T23:30:00"}
    assert ma.outlook_date(values, "Europe/Brussels") == date(2026, 3, 2)
    assert ma.outlook_date({"all_day": True, "start": "2026-03-04"}, "Asia/Tokyo") == date(
        2026, 3, 4
    )
    with pytest.raises(MappingError, match="outside the range"):
        ma.outlook_date({"all_day": True, "start": "1601-01-01"}, "UTC")
    with pytest.raises(MappingError):
        ma.outlook_date({"all_day": False, "start": "garbage"}, "UTC")


def test_meeting_times_both_ways():
    start, stop = datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10)
    timed = ma.meeting_times(False, start, stop)
    assert timed == {"all_day": False, "start": "2026-03-02T09:00:00", "end": "2026-03-02T10:00:00"}
    assert ma.odoo_meeting_times(timed) == {"allday": False, "start": start, "stop": stop}
    day = ma.meeting_times(True, start, stop, date(2026, 3, 2), date(2026, 3, 3))
    assert day == {"all_day": True, "start": "2026-03-02", "end": "2026-03-04"}
    back = ma.odoo_meeting_times(day)
    assert back["allday"] and back["start_date"] == date(2026, 3, 2)
    assert back["stop_date"] == date(2026, 3, 3)
    with pytest.raises(MappingError):
        ma.odoo_meeting_times({"all_day": False, "start": "x", "end": "y"})


def test_meeting_attendees():
    emails, names, missing = ma.meeting_attendees(
        "Boss@Example.com",
        [
            ("Boss", "boss@example.com"),
            ("Ann", " Ann@Acme.com "),
            ("Bob", ""),
            ("Ann", "ann@acme.com"),
        ],
        kept=["guest@other.org", "ann@acme.com"],
    )
    assert emails == ["ann@acme.com", "guest@other.org"]
    assert names["ann@acme.com"] == "Ann"
    assert missing == ["Bob"]


def test_meeting_attendees_formatted_addresses_and_kept_names():
    emails, names, _missing = ma.meeting_attendees(
        "boss@example.com",
        [("Ann", '"Ann Lee" <Ann@Acme.com>')],
        kept={"guest@other.org": "Guest Person"},
    )
    assert emails == ["ann@acme.com", "guest@other.org"]
    assert names == {"ann@acme.com": "Ann", "guest@other.org": "Guest Person"}
