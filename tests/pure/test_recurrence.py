"""Odoo recurrence rules <-> Graph patternedRecurrence, expansions and the series planner.

Microsoft's pages are in microsoftgraph/microsoft-graph-docs-contrib: "Schedule repeating
appointments as recurring events in Outlook" (concepts/outlook-schedule-recurring-events.md, below
"concept page"), api-reference/v1.0/resources/recurrencepattern.md and recurrencerange.md.
All dates are fixed; weekdays are asserted where they matter.
"""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services import recurrence as rec
from services.mapping import MappingError

UTC = timezone.utc
BRU = ZoneInfo("Europe/Brussels")
NYC = ZoneInfo("America/New_York")


def _rule(**kw):
    """Values of an Odoo calendar.recurrence (defaults as Odoo's fields) plus dtstart."""
    rule = {
        "rrule_type": "weekly",
        "interval": 1,
        "end_type": "count",
        "count": 1,
        "until": False,
        "month_by": "date",
        "day": 1,
        "weekday": False,
        "byday": False,
        "event_tz": "Europe/Brussels",
        **dict.fromkeys(rec.ODOO_DAY_FIELDS, False),
    }
    rule.update(kw)
    return rule


def _utc(local, tz=BRU):
    """Naive UTC (as Odoo stores it) of a wall-clock time in ``tz``."""
    return local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def _local_dates(patterned, start, end=None, tz=None, **kw):
    end = end or start + timedelta(hours=1)
    return [s.date() for s, _e in rec.occurrences(patterned, start, end, tz, **kw)]


def _concept(pattern, range_):
    return {"pattern": pattern, "range": range_}


# ----- the concept page's examples -------------------------------------------------------------


def test_concept_page_daily_every_day_and_every_three_days():
    every_day = _concept(
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2017-04-02", "numberOfOccurrences": 3},
    )
    assert _local_dates(every_day, datetime(2017, 4, 2, 9), tz="UTC") == [
        date(2017, 4, 2),
        date(2017, 4, 3),
        date(2017, 4, 4),
    ]
    every_three = _concept(
        {"type": "daily", "interval": 3},
        {"type": "numbered", "startDate": "2017-04-02", "numberOfOccurrences": 3},
    )
    assert _local_dates(every_three, datetime(2017, 4, 2, 9), tz="UTC") == [
        date(2017, 4, 2),
        date(2017, 4, 5),
        date(2017, 4, 8),
    ]
    # The same pattern from Odoo, exactly as the page writes it.
    odoo = rec.to_graph(
        _rule(rrule_type="daily", interval=3, dtstart=_utc(datetime(2017, 4, 2, 9)))
    )
    assert odoo["pattern"] == {"type": "daily", "interval": 3}


def test_concept_page_weekly_every_thursday_capitalized_days_accepted():
    # The page writes "Thursday"; the enum is lower case. Both read the same.
    patterned = _concept(
        {"type": "weekly", "interval": 1, "daysOfWeek": ["Thursday"]},
        {"type": "numbered", "startDate": "2017-04-03", "numberOfOccurrences": 2},
    )
    assert _local_dates(patterned, datetime(2017, 4, 3, 9), tz="UTC") == [
        date(2017, 4, 6),
        date(2017, 4, 13),
    ]
    values = rec.from_graph(patterned, datetime(2017, 4, 6, 9))
    assert values["rrule_type"] == "weekly" and values["thu"] and not values["mon"]


def test_concept_page_every_other_monday_and_tuesday():
    patterned = _concept(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["Monday", "Tuesday"]},
        {"type": "numbered", "startDate": "2017-09-04", "numberOfOccurrences": 4},
    )
    assert _local_dates(patterned, datetime(2017, 9, 4, 13), tz="UTC") == [
        date(2017, 9, 4),
        date(2017, 9, 5),
        date(2017, 9, 18),
        date(2017, 9, 19),
    ]
    rule = _rule(
        interval=2, mon=True, tue=True, count=4, event_tz="UTC", dtstart=datetime(2017, 9, 4, 13)
    )
    assert rec.to_graph(rule)["pattern"] == {
        "type": "weekly",
        "interval": 2,
        "daysOfWeek": ["monday", "tuesday"],
        "firstDayOfWeek": "sunday",  # the page's default, and Odoo's for en_US (week_start 7)
    }


def test_concept_page_absolute_monthly_15th_and_quarterly_7th():
    fifteenth = _concept(
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
        {"type": "numbered", "startDate": "2017-04-15", "numberOfOccurrences": 3},
    )
    assert _local_dates(fifteenth, datetime(2017, 4, 15, 9), tz="UTC") == [
        date(2017, 4, 15),
        date(2017, 5, 15),
        date(2017, 6, 15),
    ]
    quarterly = _concept(
        {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 7},
        {"type": "numbered", "startDate": "2017-01-07", "numberOfOccurrences": 3},
    )
    assert _local_dates(quarterly, datetime(2017, 1, 7, 9), tz="UTC") == [
        date(2017, 1, 7),
        date(2017, 4, 7),
        date(2017, 7, 7),
    ]
    rule = _rule(
        rrule_type="monthly",
        day=7,
        interval=3,
        count=3,
        event_tz="UTC",
        dtstart=datetime(2017, 1, 7, 9),
    )
    assert rec.to_graph(rule)["pattern"] == quarterly["pattern"]


def test_concept_page_relative_monthly_second_wednesday():
    patterned = _concept(
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["Wednesday"], "index": "second"},
        {"type": "numbered", "startDate": "2017-01-11", "numberOfOccurrences": 3},
    )
    assert _local_dates(patterned, datetime(2017, 1, 11, 9), tz="UTC") == [
        date(2017, 1, 11),
        date(2017, 2, 8),
        date(2017, 3, 8),
    ]
    rule = _rule(
        rrule_type="monthly",
        month_by="day",
        weekday="WED",
        byday="2",
        count=3,
        event_tz="UTC",
        dtstart=datetime(2017, 1, 11, 9),
    )
    graph = rec.to_graph(rule)
    assert graph["pattern"] == {**patterned["pattern"], "daysOfWeek": ["wednesday"]}
    assert rec.from_graph(patterned, datetime(2017, 1, 11, 9))["byday"] == "2"


def test_concept_page_first_thursday_or_friday_expands_but_has_no_odoo_form():
    patterned = _concept(
        {
            "type": "relativeMonthly",
            "interval": 1,
            "daysOfWeek": ["Thursday", "Friday"],
            "index": "first",
        },
        {"type": "numbered", "startDate": "2017-06-01", "numberOfOccurrences": 3},
    )
    # June 2017 starts on a Thursday, September 2017 on a Friday.
    assert _local_dates(patterned, datetime(2017, 6, 1, 9), tz="UTC") == [
        date(2017, 6, 1),
        date(2017, 7, 6),
        date(2017, 8, 3),
    ]
    with pytest.raises(MappingError, match="one weekday"):
        rec.from_graph(patterned, datetime(2017, 6, 1, 9))


def test_concept_page_absolute_yearly_april_15():
    patterned = _concept(
        {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 15, "month": 4},
        {"type": "numbered", "startDate": "2017-04-15", "numberOfOccurrences": 2},
    )
    assert _local_dates(patterned, datetime(2017, 4, 15, 9), tz="UTC") == [
        date(2017, 4, 15),
        date(2018, 4, 15),
    ]
    rule = _rule(rrule_type="yearly", count=2, event_tz="UTC", dtstart=datetime(2017, 4, 15, 9))
    assert rec.to_graph(rule)["pattern"] == patterned["pattern"]
    assert rec.from_graph(patterned, datetime(2017, 4, 15, 9))["rrule_type"] == "yearly"


def test_concept_page_relative_yearly_last_wednesday_of_november():
    patterned = _concept(
        {
            "type": "relativeYearly",
            "interval": 1,
            "daysOfWeek": ["Wednesday"],
            "index": "last",
            "month": 11,
        },
        {"type": "numbered", "startDate": "2017-11-29", "numberOfOccurrences": 2},
    )
    assert _local_dates(patterned, datetime(2017, 11, 29, 9), tz="UTC") == [
        date(2017, 11, 29),
        date(2018, 11, 28),
    ]
    with pytest.raises(MappingError, match="relativeYearly"):
        rec.from_graph(patterned, datetime(2017, 11, 29, 9))


def test_concept_page_numbered_end_date_and_no_end_ranges():
    weekly = {"type": "weekly", "interval": 1, "daysOfWeek": ["sunday"]}
    ten = _concept(
        weekly, {"type": "numbered", "startDate": "2017-04-02", "numberOfOccurrences": 10}
    )
    assert len(_local_dates(ten, datetime(2017, 4, 2, 9), tz="UTC")) == 10
    july = _concept(
        {"type": "daily", "interval": 1},
        {"type": "endDate", "startDate": "2017-07-01", "endDate": "2017-07-31"},
    )
    days = _local_dates(july, datetime(2017, 7, 1, 9), tz="UTC")
    assert (days[0], days[-1], len(days)) == (date(2017, 7, 1), date(2017, 7, 31), 31)
    forever = _concept(
        {"type": "daily", "interval": 1}, {"type": "noEnd", "startDate": "2017-05-15"}
    )
    assert len(_local_dates(forever, datetime(2017, 5, 15, 9), tz="UTC")) == rec.MAX_OCCURRENCES
    until = datetime(2017, 5, 20, tzinfo=UTC)
    assert _local_dates(forever, datetime(2017, 5, 15, 9), tz="UTC", until=until)[-1] == date(
        2017, 5, 19
    )
    assert rec.from_graph(ten, datetime(2017, 4, 2, 9))["end_type"] == "count"
    assert rec.from_graph(july, datetime(2017, 7, 1, 9))["until"] == date(2017, 7, 31)
    assert rec.from_graph(forever, datetime(2017, 5, 15, 9))["end_type"] == "forever"


def test_concept_page_every_monday_until_end_of_year_last_is_december_25():
    patterned = _concept(
        {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
        {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"},
    )
    days = _local_dates(patterned, datetime(2017, 9, 4, 13), datetime(2017, 9, 4, 13, 30), "UTC")
    assert days[0] == date(2017, 9, 4) and days[-1] == date(2017, 12, 25)
    assert date(2017, 12, 31).weekday() == 6  # "Because December 31, 2017, is on a Sunday"


def test_concept_page_first_thursday_every_other_month_from_august_29():
    """The page says the first occurrence "will be in September" with interval 2.

    Monthly intervals count from the month of startDate ([MS-OXOCAL] 2.2.1.44.1.1: FirstDateTime
    is the first day of StartDate's month modulo Period), so with interval 2 the months are
    August, October, ...: August's first Thursday (the 3rd) is before startDate, and the first
    occurrence is 5 October. The page's sentence holds for interval 1 (7 September).
    """
    pattern = {
        "type": "relativeMonthly",
        "interval": 2,
        "daysOfWeek": ["Thursday"],
        "index": "first",
    }
    rng = {"type": "noEnd", "startDate": "2017-08-29"}
    start = datetime(2017, 8, 29, 14)
    assert _local_dates(_concept(pattern, rng), start, tz="UTC", limit=2) == [
        date(2017, 10, 5),
        date(2017, 12, 7),
    ]
    monthly = {**pattern, "interval": 1}
    assert _local_dates(_concept(monthly, rng), start, tz="UTC", limit=1) == [date(2017, 9, 7)]


def test_recurrencepattern_page_examples():
    # "Repeat event on the second Thursday or Friday every three months": the second day of the
    # month that is a Thursday or a Friday ([MS-OXCICAL] BYDAY + BYSETPOS).
    second_thu_fri = _concept(
        {
            "type": "relativeMonthly",
            "interval": 3,
            "daysOfWeek": ["thursday", "friday"],
            "index": "second",
        },
        {"type": "numbered", "startDate": "2027-01-01", "numberOfOccurrences": 2},
    )
    # January 2027: Fri 1, Thu 7 -> second is Thu 7; April 2027: Thu 1, Fri 2 -> Fri 2.
    assert _local_dates(second_thu_fri, datetime(2027, 1, 1, 9), tz="UTC") == [
        date(2027, 1, 7),
        date(2027, 4, 2),
    ]
    # "Repeat event on the 15th of March every 3 years."
    march = _concept(
        {"type": "absoluteYearly", "interval": 3, "dayOfMonth": 15, "month": 3},
        {"type": "numbered", "startDate": "2027-03-15", "numberOfOccurrences": 2},
    )
    assert _local_dates(march, datetime(2027, 3, 15, 9), tz="UTC") == [
        date(2027, 3, 15),
        date(2030, 3, 15),
    ]
    rule = _rule(rrule_type="yearly", interval=3, count=2, dtstart=_utc(datetime(2027, 3, 15, 9)))
    assert rec.to_graph(rule)["pattern"] == march["pattern"]


def test_recurrencerange_page_june_2017_ranges():
    daily = {"type": "daily", "interval": 1}
    between = _concept(
        daily, {"type": "endDate", "startDate": "2017-06-01", "endDate": "2017-06-15"}
    )
    assert len(_local_dates(between, datetime(2017, 6, 1, 9), tz="UTC")) == 15  # inclusive
    ten = _concept(
        daily, {"type": "numbered", "startDate": "2017-06-01", "numberOfOccurrences": 10}
    )
    assert _local_dates(ten, datetime(2017, 6, 1, 9), tz="UTC")[-1] == date(2017, 6, 10)


# ----- Odoo -> Graph -----------------------------------------------------------------------------


def test_to_graph_weekly_full_payload_with_time_zone_kept():
    rule = _rule(mon=True, thu=True, count=6, interval=1, dtstart=_utc(datetime(2027, 3, 1, 10)))
    assert rec.to_graph(rule, week_start=1) == {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": ["monday", "thursday"],
            "firstDayOfWeek": "monday",
        },
        "range": {
            "type": "numbered",
            "startDate": "2027-03-01",
            "numberOfOccurrences": 6,
            "recurrenceTimeZone": "Romance Standard Time",
        },
    }


def test_to_graph_relative_monthly_last_friday_uses_weekday_not_day_booleans():
    # Odoo's monthly "by day" rule reads ``weekday``; the mon..sun booleans keep whatever the form
    # left (here Monday), which microsoft_calendar would send as daysOfWeek.
    rule = _rule(
        rrule_type="monthly",
        month_by="day",
        weekday="FRI",
        byday="-1",
        mon=True,
        count=3,
        dtstart=_utc(datetime(2027, 1, 29, 15)),
    )
    assert rec.to_graph(rule)["pattern"] == {
        "type": "relativeMonthly",
        "interval": 1,
        "daysOfWeek": ["friday"],
        "index": "last",
    }


def test_to_graph_start_date_is_the_local_date():
    # 00:30 in Brussels on 16 March is 23:30 UTC on the 15th; Graph's startDate must be the date
    # of the master's start (recurrencerange.md), i.e. the 16th. microsoft_calendar sends the 15th.
    rule = _rule(mon=True, tue=True, dtstart=_utc(datetime(2027, 3, 16, 0, 30)))
    assert rule["dtstart"] == datetime(2027, 3, 15, 23, 30)
    assert rec.to_graph(rule)["range"]["startDate"] == "2027-03-16"


def test_to_graph_end_types():
    base = _rule(rrule_type="daily", dtstart=_utc(datetime(2027, 5, 3, 9)))
    assert (
        rec.to_graph({**base, "end_type": "count", "count": 10})["range"]["numberOfOccurrences"]
        == 10
    )
    # Odoo never makes more than 720 events of one rule: neither does Outlook.
    big = rec.to_graph({**base, "end_type": "count", "count": 5000})["range"]
    assert big["numberOfOccurrences"] == rec.MAX_OCCURRENCES
    until = rec.to_graph({**base, "end_type": "end_date", "until": date(2027, 5, 31)})["range"]
    assert (until["type"], until["endDate"]) == ("endDate", "2027-05-31")
    forever = rec.to_graph({**base, "end_type": "forever"})["range"]
    assert forever["type"] == "noEnd" and "numberOfOccurrences" not in forever
    with pytest.raises(MappingError, match="before it starts"):
        rec.to_graph({**base, "end_type": "end_date", "until": date(2027, 5, 1)})
    with pytest.raises(MappingError, match="no end date"):
        rec.to_graph({**base, "end_type": "end_date", "until": False})


def test_to_graph_all_day_series_takes_the_date_and_no_zone():
    # Odoo keeps all-day events at a fixed hour of their day with no zone.
    rule = _rule(fri=True, allday=True, dtstart=datetime(2027, 3, 5, 8))
    graph = rec.to_graph(rule)
    assert graph["range"]["startDate"] == "2027-03-05"
    assert "recurrenceTimeZone" not in graph["range"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rrule_type": "hourly"}, "unknown recurrence type"),
        ({"rrule_type": "monthly", "month_by": "day", "weekday": "MON", "byday": "5"}, "weekIndex"),
        ({"rrule_type": "monthly", "month_by": "day", "weekday": "XYZ", "byday": "1"}, "weekday"),
        ({"rrule_type": "monthly", "month_by": "date", "day": 32}, "between 1 and 31"),
        ({"mon": False}, "at least one day"),
        ({"interval": 0}, "at least 1"),
        ({"count": 0}, "at least 1"),
        ({"end_type": "sometimes"}, "unknown recurrence end"),
        ({"event_tz": "Mars/Olympus_Mons"}, "Unknown time zone"),
        ({"dtstart": False}, "no first event"),
    ],
)
def test_to_graph_refuses_what_graph_cannot_express(change, message):
    rule = _rule(mon=True, count=3, dtstart=_utc(datetime(2027, 3, 1, 10)))
    rule.update(change)
    with pytest.raises(MappingError, match=message):
        rec.to_graph(rule)


# ----- Graph expansion == Odoo's expansion --------------------------------------------------------

SAME_RULES = {
    "daily every 2 days across the March 2027 change": _rule(
        rrule_type="daily", interval=2, count=10, dtstart=_utc(datetime(2027, 3, 20, 9))
    ),
    "weekly Mon/Wed/Fri until the end of April": _rule(
        mon=True,
        wed=True,
        fri=True,
        end_type="end_date",
        until=date(2027, 4, 30),
        dtstart=_utc(datetime(2027, 3, 1, 8, 30)),
    ),
    "every other week Sun+Mon, Monday-first language": _rule(
        interval=2, sun=True, mon=True, count=8, dtstart=_utc(datetime(2027, 3, 1, 10))
    ),
    "monthly on the 15th every 3 months, New York": _rule(
        rrule_type="monthly",
        day=15,
        interval=3,
        count=5,
        event_tz="America/New_York",
        dtstart=_utc(datetime(2027, 1, 15, 18), NYC),
    ),
    "monthly last Friday": _rule(
        rrule_type="monthly",
        month_by="day",
        weekday="FRI",
        byday="-1",
        count=6,
        dtstart=_utc(datetime(2027, 1, 29, 15)),
    ),
    "monthly second Wednesday": _rule(
        rrule_type="monthly",
        month_by="day",
        weekday="WED",
        byday="2",
        count=4,
        dtstart=_utc(datetime(2027, 1, 13, 9)),
    ),
    "yearly 15 April": _rule(rrule_type="yearly", count=3, dtstart=_utc(datetime(2027, 4, 15, 9))),
    "weekly Tuesday forever": _rule(
        tue=True, end_type="forever", dtstart=_utc(datetime(2027, 3, 2, 9))
    ),
}


@pytest.mark.parametrize("name", sorted(SAME_RULES))
def test_outlook_expands_the_mapped_rule_to_odoos_occurrences(name):
    rule = SAME_RULES[name]
    week_start = 1 if "Monday-first" in name else 7
    graph = rec.to_graph(rule, week_start=week_start)
    start = rule["dtstart"].replace(tzinfo=UTC)
    outlook = [
        s.astimezone(UTC) for s, _e in rec.occurrences(graph, start, start + timedelta(hours=1))
    ]
    assert outlook == rec.odoo_slots(rule, week_start=week_start)


def test_first_day_of_week_matters_for_every_other_week_sunday_and_monday():
    # A Monday-first language (res.lang week_start '1'): weeks Mon..Sun, so the series is
    # Mon 1, Sun 7, Mon 15, Sun 21 March 2027. microsoft_calendar sends firstDayOfWeek 'sunday',
    # which makes Outlook's weeks Sun..Sat: Mon 1, Sun 14, Mon 15, Sun 28.
    rule = SAME_RULES["every other week Sun+Mon, Monday-first language"]
    start = rule["dtstart"].replace(tzinfo=UTC)
    ours = rec.to_graph(rule, week_start=1)
    assert _local_dates(ours, start, limit=4) == [
        date(2027, 3, 1),
        date(2027, 3, 7),
        date(2027, 3, 15),
        date(2027, 3, 21),
    ]
    sunday = {**ours, "pattern": {**ours["pattern"], "firstDayOfWeek": "sunday"}}
    assert _local_dates(sunday, start, limit=4) == [
        date(2027, 3, 1),
        date(2027, 3, 14),
        date(2027, 3, 15),
        date(2027, 3, 28),
    ]


# ----- daylight saving time (Europe/Brussels, last Sunday of March 2027 = 28 March) ---------------


def test_dst_weekly_keeps_the_local_hour():
    assert date(2027, 3, 28).weekday() == 6
    rule = _rule(mon=True, count=4, dtstart=_utc(datetime(2027, 3, 15, 9)))
    graph = rec.to_graph(rule)
    series = rec.occurrences(
        graph, datetime(2027, 3, 15, 8, tzinfo=UTC), datetime(2027, 3, 15, 9, tzinfo=UTC)
    )
    assert [(s.hour, e.hour) for s, e in series] == [(9, 10)] * 4
    assert [s.astimezone(UTC).hour for s, _e in series] == [8, 8, 7, 7]
    assert [s.utcoffset() for s, _e in series] == [timedelta(hours=1)] * 2 + [
        timedelta(hours=2)
    ] * 2
    assert [s.astimezone(UTC) for s, _e in series] == rec.odoo_slots(rule)


def test_dst_missing_and_repeated_wall_times_take_standard_time_like_odoo():
    # 02:30 does not exist on 28 March 2027 in Brussels and exists twice on 31 October 2027.
    # Odoo localizes with is_dst=False: 02:30 CET = 01:30 UTC both times.
    spring = _rule(rrule_type="daily", count=3, dtstart=_utc(datetime(2027, 3, 27, 2, 30)))
    assert rec.odoo_slots(spring) == [
        datetime(2027, 3, 27, 1, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # shown as 03:30 CEST
        datetime(2027, 3, 29, 0, 30, tzinfo=UTC),
    ]
    graph = rec.to_graph(spring)
    series = rec.occurrences(graph, datetime(2027, 3, 27, 2, 30), datetime(2027, 3, 27, 3, 30))
    assert [s.strftime("%d %H:%M%z") for s, _e in series] == [
        "27 02:30+0100",
        "28 03:30+0200",
        "29 02:30+0200",
    ]
    autumn = _rule(rrule_type="daily", count=2, dtstart=_utc(datetime(2027, 10, 30, 2, 30)))
    assert rec.odoo_slots(autumn)[1] == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_occurrences_accept_a_windows_zone_and_refuse_an_unknown_one():
    graph = _concept(
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2027-03-27", "numberOfOccurrences": 2},
    )
    series = rec.occurrences(
        graph, datetime(2027, 3, 27, 9), datetime(2027, 3, 27, 10), "Romance Standard Time"
    )
    assert [s.astimezone(UTC).hour for s, _e in series] == [8, 7]
    with pytest.raises(MappingError, match="Unknown time zone"):
        rec.occurrences(
            graph, datetime(2027, 3, 27, 9), datetime(2027, 3, 27, 10), "Mars Standard Time"
        )


# ----- month ends and leap years ---------------------------------------------------------------


def test_month_end_31st_outlook_fills_short_months_odoo_skips_them():
    """EWS AbsoluteMonthlyRecurrence DayOfMonth: "If for a particular month this value is larger
    than the number of days in the month, the last day of the month is assumed". Odoo's rule
    (dateutil bymonthday=31) skips those months. to_graph ends the series on Odoo's last
    occurrence (a count would stop Outlook early) and the planner cancels the fill-ins, so Outlook
    shows what Odoo shows.
    """
    rule = _rule(rrule_type="monthly", day=31, count=4, dtstart=_utc(datetime(2027, 1, 31, 9)))
    assert [s.date() for s in rec.odoo_slots(rule)] == [
        date(2027, 1, 31),
        date(2027, 3, 31),
        date(2027, 5, 31),
        date(2027, 7, 31),
    ]
    graph = rec.to_graph(rule)
    assert graph["pattern"]["dayOfMonth"] == 31
    assert graph["range"] == {
        "type": "endDate",
        "startDate": "2027-01-31",
        "endDate": "2027-07-31",
        "recurrenceTimeZone": "Romance Standard Time",
    }
    start = rule["dtstart"].replace(tzinfo=UTC)
    outlook = rec.occurrences(graph, start, start + timedelta(hours=1))
    assert [s.date() for s, _e in outlook] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
    ]
    events = [
        {
            "id": i,
            "start": s.replace(tzinfo=None),
            "stop": s.replace(tzinfo=None) + timedelta(hours=1),
        }
        for i, s in enumerate(rec.odoo_slots(rule))
    ]
    plan = rec.plan_occurrences(rule, events, [_instance(s, e) for s, e in outlook])
    assert sorted(step.key.date() for step in plan.cancel) == [
        date(2027, 2, 28),
        date(2027, 4, 30),
        date(2027, 6, 30),
    ]
    assert {step.reason for step in plan.cancel} == {"not an occurrence of Odoo's rule"}
    assert len(plan.unchanged) == 4 and not plan.patch and not plan.missing


def test_month_end_with_an_end_date_keeps_the_date_and_the_30th_only_skips_february():
    rule = _rule(
        rrule_type="monthly",
        day=30,
        end_type="end_date",
        until=date(2027, 4, 30),
        dtstart=_utc(datetime(2027, 1, 30, 9)),
    )
    assert rec.to_graph(rule)["range"]["endDate"] == "2027-04-30"
    assert [s.date() for s in rec.odoo_slots(rule)] == [
        date(2027, 1, 30),
        date(2027, 3, 30),
        date(2027, 4, 30),
    ]
    start = rule["dtstart"].replace(tzinfo=UTC)
    assert _local_dates(rec.to_graph(rule), start)[1] == date(2027, 2, 28)


def test_leap_day_yearly_series():
    # Odoo (dateutil) repeats 29 February only in leap years; Outlook uses 28 February in the
    # other years (EWS AbsoluteYearlyRecurrence DayOfMonth).
    rule = _rule(rrule_type="yearly", count=3, dtstart=_utc(datetime(2028, 2, 29, 9)))
    assert [s.date() for s in rec.odoo_slots(rule)] == [
        date(2028, 2, 29),
        date(2032, 2, 29),
        date(2036, 2, 29),
    ]
    graph = rec.to_graph(rule)
    assert graph["pattern"] == {
        "type": "absoluteYearly",
        "interval": 1,
        "dayOfMonth": 29,
        "month": 2,
    }
    assert (graph["range"]["type"], graph["range"]["endDate"]) == ("endDate", "2036-02-29")
    start = rule["dtstart"].replace(tzinfo=UTC)
    assert _local_dates(graph, start)[:2] == [date(2028, 2, 29), date(2029, 2, 28)]
    # A yearly series on 28 February is the same on both sides: its count stays a count.
    plain = _rule(rrule_type="yearly", count=3, dtstart=_utc(datetime(2027, 2, 28, 9)))
    assert rec.to_graph(plain)["range"]["numberOfOccurrences"] == 3


def test_from_graph_yearly_on_a_day_its_month_lacks_is_refused():
    patterned = _concept(
        {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 31, "month": 6},
        {"type": "noEnd", "startDate": "2027-06-01"},
    )
    with pytest.raises(MappingError, match="not on month 6, day 31"):
        rec.from_graph(patterned, datetime(2027, 6, 1, 9))


# ----- Graph -> Odoo and round trips --------------------------------------------------------------

ROUND_TRIP_FIELDS = ("rrule_type", "interval", "end_type", "event_tz")


def _relevant(rule):
    """The fields a rule of that type reads (Odoo ignores the others)."""
    keys = list(ROUND_TRIP_FIELDS)
    keys.append({"count": "count", "end_date": "until", "forever": "end_type"}[rule["end_type"]])
    if rule["rrule_type"] == "weekly":
        keys += rec.ODOO_DAY_FIELDS
    if rule["rrule_type"] == "monthly":
        keys.append("month_by")
        keys += ["weekday", "byday"] if rule["month_by"] == "day" else ["day"]
    return {key: rule[key] for key in keys}


ROUND_TRIPS = {
    **SAME_RULES,
    "weekly Thursday until a date, Brussels": _rule(
        thu=True,
        end_type="end_date",
        until=date(2027, 6, 24),
        dtstart=_utc(datetime(2027, 3, 4, 14)),
    ),
    "monthly first Monday forever, New York": _rule(
        rrule_type="monthly",
        month_by="day",
        weekday="MON",
        byday="1",
        end_type="forever",
        event_tz="America/New_York",
        dtstart=_utc(datetime(2027, 2, 1, 9), NYC),
    ),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_round_trip_to_graph_from_graph(name):
    rule = ROUND_TRIPS[name]
    week_start = 1 if "Monday-first" in name else 7
    graph = rec.to_graph(rule, week_start=week_start)
    start = rule["dtstart"].replace(tzinfo=UTC)
    back = rec.from_graph(graph, start, week_start=week_start, event_tz=rule["event_tz"])
    assert _relevant({**rule, **back}) == _relevant(rule)
    assert _relevant(back) == _relevant(rule)


def test_round_trip_of_a_month_end_count_comes_back_as_its_end_date():
    rule = _rule(rrule_type="monthly", day=31, count=4, dtstart=_utc(datetime(2027, 1, 31, 9)))
    back = rec.from_graph(rec.to_graph(rule), rule["dtstart"], event_tz="Europe/Brussels")
    assert (back["end_type"], back["until"], back["day"]) == ("end_date", date(2027, 7, 31), 31)
    # Same occurrences in Odoo either way.
    assert rec.odoo_slots({**rule, **back}) == rec.odoo_slots(rule)


def test_from_graph_time_zone_names():
    patterned = _concept(
        {"type": "daily", "interval": 1},
        {
            "type": "numbered",
            "startDate": "2027-03-01",
            "numberOfOccurrences": 2,
            "recurrenceTimeZone": "Romance Standard Time",
        },
    )
    start = {"dateTime": "2027-03-01T09:00:00.0000000", "timeZone": "Romance Standard Time"}
    # tzlocal's table reads the Windows name as Europe/Paris ...
    assert rec.from_graph(patterned, start)["event_tz"] == "Europe/Paris"
    # ... and the rule's own zone is kept when it is that Windows zone,
    assert (
        rec.from_graph(patterned, start, event_tz="Europe/Brussels")["event_tz"]
        == "Europe/Brussels"
    )
    # but not when Outlook moved the series to another zone.
    assert (
        rec.from_graph(patterned, start, event_tz="America/New_York")["event_tz"] == "Europe/Paris"
    )
    # Without recurrenceTimeZone the start's zone is the series' (recurrencerange.md).
    no_zone = _concept(patterned["pattern"], {**patterned["range"], "recurrenceTimeZone": None})
    start_ny = {"dateTime": "2027-03-01T09:00:00", "timeZone": "Eastern Standard Time"}
    assert rec.from_graph(no_zone, start_ny)["event_tz"] == "America/New_York"
    unknown = _concept(
        patterned["pattern"], {**patterned["range"], "recurrenceTimeZone": "Mars Standard Time"}
    )
    with pytest.raises(MappingError, match="Mars Standard Time"):
        rec.from_graph(unknown, start)


def test_from_graph_weekly_with_another_first_day_of_week():
    # Every other week on Sunday and Monday, weeks starting on Monday (an Outlook user's setting).
    patterned = _concept(
        {
            "type": "weekly",
            "interval": 2,
            "daysOfWeek": ["sunday", "monday"],
            "firstDayOfWeek": "monday",
        },
        {"type": "numbered", "startDate": "2027-03-01", "numberOfOccurrences": 8},
    )
    start = datetime(2027, 3, 1, 9, tzinfo=UTC)
    # The organizer's language counts weeks from Monday too: same occurrences, accepted.
    assert rec.from_graph(patterned, start, week_start=1)["sun"]
    # From Sunday (en_US): Odoo would put the Sundays a week later; refused.
    with pytest.raises(MappingError, match="counts its weeks from monday"):
        rec.from_graph(patterned, start, week_start=7)
    # A weekly series on one day is the same whatever the week's first day.
    single = _concept({**patterned["pattern"], "daysOfWeek": ["monday"]}, patterned["range"])
    assert rec.from_graph(single, start, week_start=7)["mon"]


@pytest.mark.parametrize(
    ("patterned", "message"),
    [
        (
            {"pattern": {"type": "hourly", "interval": 1}, "range": {"type": "noEnd"}},
            "pattern type",
        ),
        (
            {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "sometimes"}},
            "range type",
        ),
        ({"pattern": {"type": "daily", "interval": 0}, "range": {"type": "noEnd"}}, "at least 1"),
        ({"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd"}}, "daysOfWeek"),
        (
            {
                "pattern": {
                    "type": "relativeMonthly",
                    "interval": 1,
                    "daysOfWeek": ["monday"],
                    "index": "fifth",
                },
                "range": {"type": "noEnd"},
            },
            "weekIndex",
        ),
        ({"pattern": {"type": "daily", "interval": 1}}, "pattern and a range"),
        (
            {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "numberOfOccurrences": 0},
            },
            "numberOfOccurrences",
        ),
    ],
)
def test_from_graph_refuses_bad_input(patterned, message):
    patterned.setdefault("range", None)
    if patterned["range"] is not None:
        patterned["range"].setdefault("startDate", "2027-03-01")
    with pytest.raises(MappingError, match=message):
        rec.from_graph(patterned, datetime(2027, 3, 1, 9))


# ----- "this and following" ----------------------------------------------------------------------


def test_this_and_following_split_keeps_the_earlier_events_of_the_split_week():
    """Odoo's _stop_at ends the old rule the day before the split's week (Monday-first language:
    split at Thu 11 March -> until Sun 7 March) yet keeps Mon 8 March in the old recurrence."""
    old = _rule(
        mon=True,
        thu=True,
        end_type="end_date",
        until=date(2027, 3, 7),
        dtstart=_utc(datetime(2027, 3, 1, 10)),
    )
    kept = [datetime(2027, 3, d, 10) for d in (1, 4, 8)]
    events = [
        {"id": i, "start": _utc(s), "stop": _utc(s) + timedelta(hours=1)}
        for i, s in enumerate(kept)
    ]
    plan = rec.plan_occurrences(old, events, [], week_start=1)
    assert [step.event_id for step in plan.outside] == [2]
    graph = rec.to_graph(old, week_start=1, through=events[-1]["start"])
    assert graph["range"]["endDate"] == "2027-03-08"
    start = datetime(2027, 3, 1, 10, tzinfo=BRU)
    assert _local_dates(graph, start) == [d.date() for d in kept]
    # The new recurrence starts at the split event with the detached events' count.
    new = _rule(mon=True, thu=True, count=5, dtstart=_utc(datetime(2027, 3, 11, 10)))
    new_graph = rec.to_graph(new, week_start=1)
    assert new_graph["range"]["startDate"] == "2027-03-11"
    assert _local_dates(new_graph, datetime(2027, 3, 11, 10, tzinfo=BRU)) == [
        date(2027, 3, 11),
        date(2027, 3, 15),
        date(2027, 3, 18),
        date(2027, 3, 22),
        date(2027, 3, 25),
    ]
    # ``through`` never shortens a range, and leaves counts alone.
    assert (
        rec.to_graph(old, week_start=1, through=events[0]["start"])["range"]["endDate"]
        == "2027-03-07"
    )
    assert "endDate" not in rec.to_graph(new, week_start=1, through=datetime(2027, 6, 1))["range"]


# ----- the planner --------------------------------------------------------------------------------


def _instance(start, end, cancelled=False, original=None):
    """A Graph /instances item for an occurrence (times in UTC, as the emulator answers)."""
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    original = (original or start).astimezone(UTC)
    return {
        "id": "occ-" + original.strftime("%Y%m%dT%H%M"),
        "type": "exception" if original != start else "occurrence",
        "originalStart": original.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "start": {"dateTime": start_utc.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {"dateTime": end_utc.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "isCancelled": cancelled,
    }


WEEKLY = _rule(mon=True, count=6, dtstart=_utc(datetime(2027, 3, 1, 10)))
MONDAYS = [datetime(2027, 3, 1, 10, tzinfo=BRU) + timedelta(weeks=i) for i in range(6)]


def _weekly_events():
    return {
        m.day: {
            "id": f"ev{m.day}",
            "start": _utc(m.replace(tzinfo=None)),
            "stop": _utc(m.replace(tzinfo=None)) + timedelta(hours=1),
        }
        for m in MONDAYS
    }


def test_planner_weekly_series_two_exceptions_and_one_cancelled_occurrence():
    # Mondays 1, 8, 15, 22, 29 March and 5 April 2027, 10:00 Brussels (the 29th is after the
    # change to summer time). In Odoo: the 8th moved to 14:00, the 22nd renamed (its own values),
    # the 15th deleted.
    events = _weekly_events()
    events[8]["start"] = _utc(datetime(2027, 3, 8, 14))
    events[8]["stop"] = _utc(datetime(2027, 3, 8, 15))
    events[22]["changed"] = True
    del events[15]
    fresh = [_instance(m, m + timedelta(hours=1)) for m in MONDAYS]
    plan = rec.plan_occurrences(WEEKLY, list(events.values()), fresh)

    def keys(steps):
        return [(s.key.strftime("%m-%d %H:%M"), s.event_id, s.reason) for s in steps]

    assert keys(plan.patch) == [("03-08 09:00", "ev8", "moved"), ("03-22 09:00", "ev22", "changed")]
    assert keys(plan.cancel) == [("03-15 09:00", None, "deleted in Odoo")]
    assert [s.key.strftime("%m-%d %H:%M") for s in plan.unchanged] == [
        "03-01 09:00",
        "03-29 08:00",
        "04-05 08:00",
    ]
    assert not plan.missing and not plan.outside
    assert plan.cancel[0].instance_id == "occ-20270315T0900"

    # Once Outlook has them (the 8th an exception at 14:00, the 15th deleted), nothing is left.
    moved = MONDAYS[1].replace(hour=14)
    after = [_instance(m, m + timedelta(hours=1)) for m in MONDAYS if m.day not in (8, 15)]
    after.append(_instance(moved, moved + timedelta(hours=1), original=MONDAYS[1]))
    events[22]["changed"] = False
    again = rec.plan_occurrences(WEEKLY, list(events.values()), after)
    assert not again.patch and not again.cancel and not again.missing and not again.outside
    assert len(again.unchanged) == 5


def test_planner_uses_the_stored_original_start_of_a_moved_event():
    # The 8th moved to Tuesday the 16th, past the 15th: only the stored key can place it.
    events = _weekly_events()
    events[8].update(
        start=_utc(datetime(2027, 3, 16, 10)),
        stop=_utc(datetime(2027, 3, 16, 11)),
        original_start=datetime(2027, 3, 8, 9),  # naive UTC, as the caller stores it
    )
    fresh = [_instance(m, m + timedelta(hours=1)) for m in MONDAYS]
    plan = rec.plan_occurrences(WEEKLY, list(events.values()), fresh)
    assert [(s.key.day, s.event_id) for s in plan.patch] == [(8, "ev8")]
    assert not plan.cancel


def test_planner_moved_event_without_key_takes_the_nearest_free_occurrence():
    # The 8th moved to Tuesday the 9th and the 15th deleted: both the 8th and 15th are free
    # between the 1st and the 22nd; the 9th is nearest the 8th.
    events = _weekly_events()
    events[8].update(start=_utc(datetime(2027, 3, 9, 10)), stop=_utc(datetime(2027, 3, 9, 11)))
    del events[15]
    fresh = [_instance(m, m + timedelta(hours=1)) for m in MONDAYS]
    plan = rec.plan_occurrences(WEEKLY, list(events.values()), fresh)
    assert [(s.key.day, s.event_id) for s in plan.patch] == [(8, "ev8")]
    assert [s.key.day for s in plan.cancel] == [15]


def test_planner_reports_outlook_cancellations_and_unread_occurrences():
    events = _weekly_events()
    instances = [_instance(m, m + timedelta(hours=1), cancelled=m.day == 22) for m in MONDAYS[:5]]
    plan = rec.plan_occurrences(WEEKLY, list(events.values()), instances)
    assert [(s.key.day, s.event_id, s.reason) for s in plan.missing] == [
        (22, "ev22", "cancelled in Outlook"),
        (5, "ev5", "no Outlook occurrence"),
    ]


def test_planner_forever_series_leaves_outlook_occurrences_after_odoos_last_event():
    rule = _rule(rrule_type="daily", end_type="forever", dtstart=_utc(datetime(2027, 1, 1, 9)))
    slots = rec.odoo_slots(rule)
    assert len(slots) == rec.MAX_OCCURRENCES
    last = slots[-1].astimezone(BRU)
    later = last + timedelta(days=1)
    events = [
        {
            "id": "last",
            "start": slots[-1].replace(tzinfo=None),
            "stop": slots[-1].replace(tzinfo=None) + timedelta(hours=1),
        }
    ]
    instances = [
        _instance(last, last + timedelta(hours=1)),
        _instance(later, later + timedelta(hours=1)),
    ]
    plan = rec.plan_occurrences(rule, events, instances)
    assert [s.reason for s in plan.unchanged] == ["same", "after Odoo's last event"]
    assert not plan.cancel


def test_planner_all_day_series_keys_by_day():
    rule = _rule(fri=True, count=3, allday=True, dtstart=datetime(2027, 3, 5, 8))
    fridays = [date(2027, 3, 5), date(2027, 3, 12), date(2027, 3, 19)]
    assert all(d.weekday() == 4 for d in fridays)
    events = [{"id": d.day, "start": d, "stop": d} for d in fridays]
    events[1]["stop"] = date(2027, 3, 13)  # the 12th now lasts two days

    def all_day(d, original_style):
        midnight = datetime(d.year, d.month, d.day, tzinfo=BRU)
        original = (
            midnight.astimezone(UTC) if original_style == "local" else midnight.replace(tzinfo=UTC)
        )
        return {
            "id": f"occ{d.day}",
            "originalStart": original.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start": {
                "dateTime": f"{d.isoformat()}T00:00:00.0000000",
                "timeZone": "Romance Standard Time",
            },
            "end": {
                "dateTime": f"{(d + timedelta(days=1)).isoformat()}T00:00:00.0000000",
                "timeZone": "Romance Standard Time",
            },
            "isCancelled": False,
        }

    # Local midnight in UTC (23:00 the day before) or midnight UTC: the same day either way.
    instances = [
        all_day(fridays[0], "local"),
        all_day(fridays[1], "utc"),
        all_day(fridays[2], "local"),
    ]
    plan = rec.plan_occurrences(rule, events, instances)
    assert [(s.key, s.reason) for s in plan.patch] == [(date(2027, 3, 12), "moved")]
    assert [s.key for s in plan.unchanged] == [date(2027, 3, 5), date(2027, 3, 19)]


def test_planner_refuses_an_occurrence_without_original_start():
    bad = _instance(MONDAYS[0], MONDAYS[0] + timedelta(hours=1))
    del bad["originalStart"]
    with pytest.raises(MappingError, match="originalStart"):
        rec.plan_occurrences(WEEKLY, [], [bad])


def test_occurrence_key_reads_graphs_seven_fraction_digits():
    assert rec.occurrence_key("2027-03-15T08:00:00.0000000Z") == datetime(
        2027, 3, 15, 8, tzinfo=UTC
    )
    assert rec.occurrence_key(datetime(2027, 3, 15, 8, 0, 0, 123)) == datetime(
        2027, 3, 15, 8, tzinfo=UTC
    )


# ----- online meetings (resources/event.md, resources/onlinemeetinginfo.md) -----------------------


def test_online_meeting_values():
    assert rec.online_meeting_values(True) == {
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
    }
    # event.md: once online, Outlook ignores isOnlineMeeting changes; nothing to send.
    assert rec.online_meeting_values(False) == {}


def test_join_url():
    url = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0"
    assert rec.join_url({"isOnlineMeeting": True, "onlineMeeting": {"joinUrl": url}}) == url
    # onlineMeetingUrl: the older property event.md says "will be deprecated".
    assert rec.join_url({"onlineMeeting": None, "onlineMeetingUrl": url}) == url
    assert rec.join_url({"onlineMeeting": None}) == ""
    assert rec.join_url({"onlineMeeting": {"joinUrl": "javascript:alert(1)"}}) == ""
    assert rec.join_url(None) == ""
