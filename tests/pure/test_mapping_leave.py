"""Normalized values of a leave (services.mapping_leave) and their Graph payload."""

from datetime import date, datetime, timezone

import pytest

from services import mapping
from services.mapping_leave import leave_subject, leave_values, pick_translation
from services.timezones import query_datetime


def test_whole_days_are_all_day_ending_the_day_after():
    values = leave_values(
        "Paid Time Off",
        "Summer",
        all_day=True,
        category="Odoo",
        day_from=date(2026, 7, 6),
        day_to=date(2026, 7, 10),
    )
    assert values == {
        "subject": "Paid Time Off: Summer",
        "all_day": True,
        "show_as": "oof",
        "categories": ["Odoo"],
        "start": "2026-07-06",
        "end": "2026-07-11",
    }


def test_single_day_leave_ends_next_midnight():
    values = leave_values(
        "Sick",
        "",
        all_day=True,
        category="Odoo",
        day_from=date(2026, 12, 31),
        day_to=date(2026, 12, 31),
    )
    assert (values["start"], values["end"]) == ("2026-12-31", "2027-01-01")
    assert values["subject"] == "Sick"


def test_half_day_and_hours_are_timed_in_utc():
    values = leave_values(
        "Paid Time Off",
        "Dentist",
        all_day=False,
        category="Odoo",
        date_from=datetime(2026, 3, 2, 7, 0, 0, 123),
        date_to=datetime(2026, 3, 2, 11, 0),
    )
    assert values["all_day"] is False
    assert (values["start"], values["end"]) == ("2026-03-02T07:00:00", "2026-03-02T11:00:00")
    aware = leave_values(
        "T",
        "",
        all_day=False,
        category="Odoo",
        date_from=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc),
        date_to=datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc),
    )
    assert aware["start"] == "2026-03-02T09:00:00"


def test_payload_for_graph_all_day_and_oof():
    values = leave_values(
        "PTO",
        "x",
        all_day=True,
        category="Odoo",
        day_from=date(2026, 1, 5),
        day_to=date(2026, 1, 6),
    )
    payload = mapping.values_to_graph(values, "hr.leave,7", "PROP", "Europe/Brussels")
    assert payload["isAllDay"] is True
    assert payload["showAs"] == "oof"
    assert payload["start"] == {"dateTime": "2026-01-05T00:00:00", "timeZone": "Europe/Brussels"}
    assert payload["end"] == {"dateTime": "2026-01-07T00:00:00", "timeZone": "Europe/Brussels"}
    assert payload["categories"] == ["Odoo"]
    assert payload["singleValueExtendedProperties"] == [{"id": "PROP", "value": "hr.leave,7"}]


def test_round_trip_through_graph_values_is_stable():
    """What Outlook gives back compares equal: no restore loop on unchanged events."""
    values = leave_values(
        "PTO",
        "x",
        all_day=True,
        category="Odoo",
        day_from=date(2026, 1, 5),
        day_to=date(2026, 1, 6),
    )
    event = {"id": "AAMk1", **mapping.values_to_graph(values, time_zone="Europe/Brussels")}
    back = mapping.graph_to_values(event)
    assert {key: back[key] for key in values} == values


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"all_day": True, "day_from": None, "day_to": date(2026, 1, 1)}, "no start or end day"),
        (
            {"all_day": True, "day_from": date(2026, 1, 2), "day_to": date(2026, 1, 1)},
            "ends (2026-01-01) before it starts",
        ),
        ({"all_day": False, "date_from": datetime(2026, 1, 1), "date_to": None}, "no start or end"),
        (
            {
                "all_day": False,
                "date_from": datetime(2026, 1, 1, 10),
                "date_to": datetime(2026, 1, 1, 9),
            },
            "before it starts",
        ),
    ],
)
def test_bad_dates_raise_a_clear_mapping_error(kwargs, message):
    with pytest.raises(mapping.MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        leave_values("PTO", "", category="Odoo", **kwargs)


def test_subject_needs_a_type_name_and_is_trimmed():
    with pytest.raises(mapping.MappingError, match="no name"):
        leave_subject("  ", "desc")
    assert leave_subject(" Paid   Time Off ", "  long\nweekend ") == "Paid Time Off: long weekend"
    assert len(leave_subject("T", "x" * 400)) == mapping.SUBJECT_MAX


def test_pick_translation_user_language_then_english_then_any():
    names = {"en_US": "Paid Time Off", "fr_FR": "Congés payés", "de_DE": "Urlaub"}
    assert pick_translation(names, "fr_FR") == ("Congés payés", "fr_FR")
    assert pick_translation(names, "nl_NL") == ("Paid Time Off", "en_US")
    assert pick_translation({"fr_FR": " ", "nl_NL": "Verlof", "de_DE": "Urlaub"}, "fr_FR") == (
        "Urlaub",
        "de_DE",
    )
    assert pick_translation({}, "fr_FR") == ("", None)
    assert pick_translation(None, "fr_FR") == ("", None)
    assert pick_translation("Plain", "fr_FR") == ("Plain", "en_US")


def test_window_dates_format_as_midnight_utc_for_graph_queries():
    assert query_datetime(date(2026, 3, 2)) == "2026-03-02T00:00:00Z"
    assert query_datetime(datetime(2026, 3, 2, 9, 30)) == "2026-03-02T09:30:00Z"
