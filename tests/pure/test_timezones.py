from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.timezones import (
    UnknownTimeZone,
    graph_datetime,
    local_range,
    parse_graph_datetime,
    query_datetime,
    to_iana,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("GMT Standard Time", "Europe/London"),
        ("Europe/Paris", "Europe/Paris"),
        ("America/New_York", "America/New_York"),
        ("UTC", "UTC"),
        ("tzone://Microsoft/Utc", "UTC"),
    ],
)
def test_to_iana(name, expected):
    assert to_iana(name) == expected


@pytest.mark.parametrize("name", ["Customized Time Zone", "Mars/Olympus", "", None, "../etc"])
def test_to_iana_unknown(name):
    with pytest.raises(UnknownTimeZone) as info:
        to_iana(name)
    assert isinstance(info.value, ValueError)
    assert "time zone" in str(info.value).lower() or "time-zone" in str(info.value).lower()


def test_parse_windows_zone_with_seven_digit_fraction():
    value = parse_graph_datetime(
        {"dateTime": "2026-01-01T10:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    )
    assert value == datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
    assert value.tzinfo == timezone.utc


def test_parse_summer_time_and_fraction_kept():
    value = parse_graph_datetime(
        {"dateTime": "2026-07-01T10:00:00.1234567", "timeZone": "Europe/Berlin"}
    )
    assert value == datetime(2026, 7, 1, 8, 0, 0, 123456, tzinfo=timezone.utc)


def test_parse_utc_default_and_explicit_offset():
    assert parse_graph_datetime({"dateTime": "2026-03-01T00:00:00"}) == datetime(
        2026, 3, 1, tzinfo=timezone.utc
    )
    # An offset in the string wins over the zone name.
    value = parse_graph_datetime(
        {"dateTime": "2026-03-01T12:00:00+02:00", "timeZone": "Pacific Standard Time"}
    )
    assert value == datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        parse_graph_datetime({"dateTime": "not a date", "timeZone": "UTC"})
    with pytest.raises(ValueError):
        parse_graph_datetime(None)
    with pytest.raises(UnknownTimeZone):
        parse_graph_datetime({"dateTime": "2026-03-01T00:00:00", "timeZone": "Nowhere Time"})


def test_graph_datetime_round_trip():
    utc = datetime(2026, 1, 15, 14, 30, tzinfo=timezone.utc)
    value = graph_datetime(utc, "W. Europe Standard Time")
    assert value == {
        "dateTime": "2026-01-15T15:30:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    assert parse_graph_datetime(value) == utc
    naive = graph_datetime(datetime(2026, 1, 15, 14, 30))
    assert naive == {"dateTime": "2026-01-15T14:30:00.0000000", "timeZone": "UTC"}


def test_query_datetime():
    assert query_datetime(datetime(2026, 1, 1, 5, 6, 7)) == "2026-01-01T05:06:07Z"
    aware = datetime(2026, 1, 1, 12, tzinfo=timezone.utc).astimezone()
    assert query_datetime(aware) == "2026-01-01T12:00:00Z"


# Europe/Brussels: summer time starts on Sunday 2027-03-28 at 02:00 (UTC+1 -> UTC+2) and ends
# on Sunday 2027-10-31 at 03:00 (UTC+2 -> UTC+1, 02:00-03:00 happens twice).
BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        ((2027, 3, 27, 9), (2027, 3, 27, 10), "2027-03-27 10:00 - 11:00"),
        ((2027, 3, 28, 9), (2027, 3, 28, 10), "2027-03-28 11:00 - 12:00"),
        (
            (2027, 3, 27, 22),
            (2027, 3, 28, 9),
            "2027-03-27 23:00 UTC+01:00 - 2027-03-28 11:00 UTC+02:00",
        ),
        # One hour that reads as two without the offsets.
        (
            (2027, 3, 28, 0, 30),
            (2027, 3, 28, 1, 30),
            "2027-03-28 01:30 UTC+01:00 - 03:30 UTC+02:00",
        ),
        # One hour that reads as none without the offsets.
        (
            (2027, 10, 31, 0, 30),
            (2027, 10, 31, 1, 30),
            "2027-10-31 02:30 UTC+02:00 - 02:30 UTC+01:00",
        ),
        # Both ends in the hour that happens twice (the second time), same offset.
        (
            (2027, 10, 31, 1, 5),
            (2027, 10, 31, 1, 55),
            "2027-10-31 02:05 UTC+01:00 - 02:55 UTC+01:00",
        ),
        ((2027, 10, 31, 9), (2027, 10, 31, 10), "2027-10-31 10:00 - 11:00"),
    ],
)
def test_local_range_names_the_offset_only_where_the_clock_misleads(start, stop, expected):
    assert local_range(datetime(*start), datetime(*stop), BRUSSELS) == expected


def test_local_range_in_utc():
    start = datetime(2027, 3, 28, 9)
    assert (
        local_range(start, start + timedelta(hours=1), ZoneInfo("UTC"))
        == "2027-03-28 09:00 - 10:00"
    )
