"""Odoo ``calendar.recurrence`` <-> Graph ``patternedRecurrence``; the plan of a series.

Pure Python (no ``odoo`` import). Expansions use dateutil's ``rrule`` on naive wall-clock times of
the series' time zone, then give each start its UTC offset, so a series keeps its local hour across
daylight-saving changes.

Sources (microsoft-graph-docs-contrib unless said otherwise):

- ``resources/patternedrecurrence.md``, ``resources/recurrencepattern.md`` (pattern types and the
  properties each requires; "Include only the properties that you need ... Any property that you
  include that does not have a supported value would result in an error"),
  ``resources/recurrencerange.md`` (``startDate`` "must be the same value as the start property of
  the recurring event"; ``endDate`` is inclusive; ``recurrenceTimeZone`` defaults to the event's).
- ``concepts/outlook-schedule-recurring-events.md`` ("Schedule repeating appointments as recurring
  events in Outlook"): the examples tested in ``tests/pure/test_recurrence.py``.
- Month ends: EWS ``AbsoluteMonthlyRecurrence`` / ``AbsoluteYearlyRecurrence`` ``DayOfMonth``: "If
  for a particular month this value is larger than the number of days in the month, the last day of
  the month is assumed" (Outlook's store behind Graph; [MS-OXCICAL] 2.1.3.2.2.3 maps
  ``BYMONTHDAY=-1`` to day 31 for the same reason). Odoo's rule (dateutil, RFC 5545) skips those
  months instead.
- Monthly intervals count from the month of ``startDate`` ([MS-OXOCAL] 2.2.1.44.1.1, FirstDateTime
  "first day of the month of StartDate ... modulo Period"), as rrule counts from ``dtstart``.
- Relative patterns with several days use ``BYDAY`` + ``BYSETPOS`` ([MS-OXCICAL] 2.1.3.2.2.4:
  "The last weekday of every month: FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1").
- Odoo 18: ``addons/calendar/models/calendar_recurrence.py`` (fields, ``_get_rrule``,
  ``_get_occurrences``, ``_stop_at``) and ``addons/microsoft_calendar`` (``models/calendar.py``
  ``_microsoft_values`` for the way out, ``utils/microsoft_event.py`` ``get_recurrence`` for the way
  back). Where this module differs from ``microsoft_calendar`` the comment says so.
"""

from collections import namedtuple
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import rrule
from dateutil.parser import isoparse
from tzlocal.windows_tz import tz_win

from .mapping import MappingError
from .timezones import UnknownTimeZone, parse_graph_datetime, to_iana

UTC = timezone.utc

# Odoo's calendar.recurrence MAX_RECURRENT_EVENT: Odoo never makes more events for one rule
# (``count`` is capped to it and "forever" means that many).
MAX_OCCURRENCES = 720

# Graph dayOfWeek values, Monday first like dateutil's weekday numbers (MO=0 .. SU=6).
GRAPH_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Odoo's boolean day fields and its ``weekday`` selection, in the same order.
ODOO_DAY_FIELDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ODOO_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_RRULE_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)

# Odoo's BYDAY_SELECTION <-> Graph's weekIndex: the same five positions, so a "5th Monday"
# (which Odoo's selection cannot hold either) has no Graph form.
BYDAY_TO_INDEX = {"1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last"}
INDEX_TO_BYDAY = {index: byday for byday, index in BYDAY_TO_INDEX.items()}
_INDEX_TO_POS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

_FREQ = {
    "daily": rrule.DAILY,
    "weekly": rrule.WEEKLY,
    "monthly": rrule.MONTHLY,
    "yearly": rrule.YEARLY,
}
_RANGE_TO_END_TYPE = {"endDate": "end_date", "numbered": "count", "noEnd": "forever"}


# ----- small helpers ---------------------------------------------------------------------------


def _zone(name):
    """tzinfo for an IANA or Windows time-zone name; ``MappingError`` if it is unknown."""
    try:
        iana = to_iana(name)
    except UnknownTimeZone as exc:
        raise MappingError(str(exc)) from exc
    return UTC if iana == "UTC" else ZoneInfo(iana)


def _graph_zone_name(iana):
    """The Windows name Exchange stores and returns for ``iana`` (the IANA name if none)."""
    _zone(iana)  # unknown names fail here, before anything is sent
    return tz_win.get(iana) or iana


def _localize(naive, tzinfo):
    """Aware datetime for a wall-clock time, normalized to a time that exists.

    A wall time that occurs twice (autumn) or never (spring) takes standard time, as Odoo does
    (``calendar.recurrence._get_occurrences``: ``timezone.localize(occurrence, is_dst=False)``), so
    the slots computed here are the UTC instants Odoo stores.
    """
    first = naive.replace(tzinfo=tzinfo, fold=0)
    second = naive.replace(tzinfo=tzinfo, fold=1)
    chosen = first
    if first.utcoffset() != second.utcoffset() and first.dst():
        chosen = second
    return chosen.astimezone(UTC).astimezone(tzinfo)


def _as_utc(value):
    """Aware UTC datetime for a naive-UTC (Odoo's ORM) or aware datetime."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_date(value, what):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise MappingError(f"the recurrence {what} {value!r} is not a date") from exc


def occurrence_key(value):
    """Graph's identity of an occurrence: its ``originalStart`` as an aware UTC datetime (seconds).

    Accepts Graph's string (``2027-03-15T08:00:00Z``, up to seven fraction digits) or a datetime
    (naive = UTC).
    """
    if isinstance(value, str):
        value = isoparse(value.strip())
    return _as_utc(value).replace(microsecond=0)


def _day_key(value, tzinfo):
    """The calendar day of an all-day occurrence from its ``originalStart``.

    Rounded to the nearest local midnight, so it is right whether the service gives the local
    midnight in UTC or midnight UTC itself (any offset under 12 hours).
    """
    return (occurrence_key(value).astimezone(tzinfo) + timedelta(hours=12)).date()


def _weekday_index(name, what):
    key = str(name or "").strip().lower()
    for i, day in enumerate(GRAPH_DAYS):
        if key in (day, ODOO_DAY_FIELDS[i]):
            return i
    raise MappingError(f"unknown {what} {name!r}")


# ----- the Odoo rule ---------------------------------------------------------------------------


def _rule_tz(rule):
    name = rule.get("event_tz") or "UTC"
    return name, _zone(name)


def _rule_start_local(rule, tzinfo):
    """Naive wall-clock start of the series' first event (Odoo's ``dtstart``: min(start) in UTC)."""
    dtstart = rule.get("dtstart")
    if not dtstart:
        raise MappingError("the recurrence has no first event (dtstart)")
    if isinstance(dtstart, str):
        dtstart = isoparse(dtstart)
    if not isinstance(dtstart, datetime):
        return datetime.combine(dtstart, time())
    if rule.get("allday"):
        # Odoo stores all-day events at a fixed hour of their day with no zone: the day is the date.
        return datetime.combine(dtstart.date(), time())
    return _as_utc(dtstart).astimezone(tzinfo).replace(tzinfo=None)


def _interval(value):
    try:
        interval = int(value or 0)
    except (TypeError, ValueError) as exc:
        raise MappingError(f"the recurrence interval {value!r} is not a number") from exc
    if interval < 1:
        raise MappingError(f"the recurrence interval must be at least 1 (got {interval})")
    return interval


def _odoo_days(rule):
    days = [i for i, name in enumerate(ODOO_DAY_FIELDS) if rule.get(name)]
    if not days:
        raise MappingError("a weekly recurrence needs at least one day of the week")
    return days


def _odoo_byday(rule):
    byday = str(rule.get("byday") or "").strip()
    if byday not in BYDAY_TO_INDEX:
        raise MappingError(
            f"Outlook cannot repeat on occurrence {byday!r} of a weekday in a month: "
            "Graph's weekIndex has only first, second, third, fourth and last"
        )
    return byday


def _odoo_weekday(rule):
    weekday = str(rule.get("weekday") or "").strip().upper()
    if weekday not in ODOO_WEEKDAYS:
        raise MappingError(f"unknown weekday {rule.get('weekday')!r} in a monthly recurrence")
    return ODOO_WEEKDAYS.index(weekday)


def _odoo_month_day(rule):
    try:
        day = int(rule.get("day") or 0)
    except (TypeError, ValueError) as exc:
        raise MappingError(f"the recurrence day {rule.get('day')!r} is not a number") from exc
    if not 1 <= day <= 31:
        raise MappingError(f"the day of the month must be between 1 and 31 (got {day})")
    return day


def _rrule_type(rule):
    rrule_type = rule.get("rrule_type")
    if rrule_type not in _FREQ:
        raise MappingError(f"unknown recurrence type {rrule_type!r}")
    return rrule_type


def odoo_rrule(rule, week_start=7):
    """The dateutil rule Odoo expands for ``rule``, on naive wall-clock times of ``event_tz``.

    Same parameters as ``calendar.recurrence._get_rrule`` (``bymonthday=day``, ``byweekday=MO(+2)``,
    ``wkst`` from the language, ``count`` capped to 720, "forever" = 720, ``until`` = end of that
    day). Odoo starts the rule at the start of the week or month and drops what falls before the
    first event; starting at the first event gives the same occurrences.
    """
    rrule_type = _rrule_type(rule)
    _name, tzinfo = _rule_tz(rule)
    params = {
        "dtstart": _rule_start_local(rule, tzinfo),
        "interval": _interval(rule.get("interval")),
    }
    if rrule_type == "monthly" and rule.get("month_by") == "day":
        params["byweekday"] = _RRULE_DAYS[_odoo_weekday(rule)](int(_odoo_byday(rule)))
    elif rrule_type == "monthly":
        params["bymonthday"] = _odoo_month_day(rule)
    elif rrule_type == "weekly":
        params["byweekday"] = [_RRULE_DAYS[i] for i in _odoo_days(rule)]
        params["wkst"] = _RRULE_DAYS[_week_start_index(week_start)]
    end_type = rule.get("end_type") or "count"
    if end_type == "count":
        count = int(rule.get("count") or 0)
        if count < 1:
            raise MappingError(f"the number of repetitions must be at least 1 (got {count})")
        params["count"] = min(count, MAX_OCCURRENCES)
    elif end_type == "forever":
        params["count"] = MAX_OCCURRENCES
    elif end_type == "end_date":
        if not rule.get("until"):
            raise MappingError("the recurrence ends on a date but has no end date")
        params["until"] = datetime.combine(_as_date(rule["until"], "end date"), time.max)
    else:
        raise MappingError(f"unknown recurrence end {end_type!r}")
    return rrule.rrule(_FREQ[rrule_type], **params)


def _week_start_index(week_start):
    """dateutil weekday number of res.lang's ``week_start`` ('1' = Monday .. '7' = Sunday)."""
    try:
        value = int(week_start)
    except (TypeError, ValueError) as exc:
        raise MappingError(f"invalid first day of the week {week_start!r}") from exc
    if not 1 <= value <= 7:
        raise MappingError(f"invalid first day of the week {week_start!r}")
    return value - 1


def _odoo_fills_differ(rule, start_local):
    """True when Graph would put occurrences where Odoo's rule has none (month ends).

    Odoo's ``bymonthday=29..31`` skips shorter months and a yearly rule from 29 February skips
    common years; Outlook takes the last day of the month instead (EWS DayOfMonth, see the module
    docstring).
    """
    rrule_type = rule.get("rrule_type")
    if rrule_type == "monthly" and rule.get("month_by") != "day":
        return _odoo_month_day(rule) >= 29
    if rrule_type == "yearly":
        return (start_local.month, start_local.day) == (2, 29)
    return False


# ----- Odoo -> Graph ---------------------------------------------------------------------------


def to_graph(rule, week_start=7, through=None):
    """Graph ``patternedRecurrence`` for the values of an Odoo ``calendar.recurrence``.

    ``rule`` holds the record's fields (``rrule_type``, ``interval``, ``end_type``, ``count``,
    ``until``, ``mon``..``sun``, ``month_by``, ``day``, ``weekday``, ``byday``, ``event_tz``),
    ``dtstart`` (the first event's start, naive UTC as Odoo stores it) and ``allday`` (the series'
    events are all-day). ``week_start`` is res.lang's ``week_start`` of the organizer ('1' Monday ..
    '7' Sunday), the ``wkst`` Odoo expands weekly rules with. ``through`` (optional, start of the
    recurrence's last event) widens an end-date range to reach it: after "this and following"
    Odoo's ``_stop_at`` ends the old rule the day before the split's week or month yet keeps that
    period's earlier events in the recurrence, and Outlook must keep them too.

    Raises ``MappingError`` when Graph cannot express the rule. The series master must then be sent
    with its start and end in the same time zone (``recurrenceTimeZone`` only places the dates),
    or its occurrences keep the UTC hour across daylight-saving changes.
    """
    rrule_type = _rrule_type(rule)
    tz_name, tzinfo = _rule_tz(rule)
    start_local = _rule_start_local(rule, tzinfo)
    interval = _interval(rule.get("interval"))
    # Only the properties each type needs (recurrencepattern.md: an unsupported value in an
    # unneeded property is an error). microsoft_calendar also sends daysOfWeek/firstDayOfWeek on
    # relative types and dayOfMonth whenever month_by is 'date' (its default, so even on daily).
    if rrule_type == "daily":
        pattern = {"type": "daily", "interval": interval}
    elif rrule_type == "weekly":
        # firstDayOfWeek from the organizer's language, the wkst Odoo expands with;
        # microsoft_calendar hard-codes 'sunday', which moves every-other-week series whose days
        # straddle Sunday for languages whose week starts on Monday.
        pattern = {
            "type": "weekly",
            "interval": interval,
            "daysOfWeek": [GRAPH_DAYS[i] for i in _odoo_days(rule)],
            "firstDayOfWeek": GRAPH_DAYS[_week_start_index(week_start)],
        }
    elif rrule_type == "monthly" and rule.get("month_by") == "day":
        # The weekday comes from ``weekday`` (what Odoo expands); microsoft_calendar reads the
        # mon..sun booleans, which a monthly rule does not use.
        pattern = {
            "type": "relativeMonthly",
            "interval": interval,
            "daysOfWeek": [GRAPH_DAYS[_odoo_weekday(rule)]],
            "index": BYDAY_TO_INDEX[_odoo_byday(rule)],
        }
    elif rrule_type == "monthly":
        pattern = {
            "type": "absoluteMonthly",
            "interval": interval,
            "dayOfMonth": _odoo_month_day(rule),
        }
    else:
        # Odoo's yearly rule has no by-parts: dateutil repeats dtstart's month and day.
        # microsoft_calendar sends absoluteYearly with dayOfMonth = the ``day`` field (default 1)
        # and no month, which Graph rejects (month is required for yearly types).
        pattern = {
            "type": "absoluteYearly",
            "interval": interval,
            "dayOfMonth": start_local.day,
            "month": start_local.month,
        }
    rng = {"startDate": start_local.date().isoformat()}
    if not rule.get("allday"):
        # Like Graph's own default (the event's zone), said explicitly; microsoft_calendar omits it.
        rng["recurrenceTimeZone"] = _graph_zone_name(tz_name)
    # microsoft_calendar takes the UTC date of dtstart: wrong east of UTC before the offset's hour
    # (a 00:30 Brussels meeting would start the day before). The local date is what Graph wants.
    end_type = rule.get("end_type") or "count"
    if end_type == "forever":
        # The user's "forever" stays forever in Outlook; microsoft_calendar sends numbered 720,
        # which comes back to Odoo as "720 times". Odoo still only makes 720 events: the planner
        # leaves later Outlook occurrences alone.
        rng["type"] = "noEnd"
    elif end_type == "count" and _odoo_fills_differ(rule, start_local):
        # Outlook would count its month-end fill-ins and stop early: end on Odoo's last
        # occurrence instead, and let the planner cancel the fill-ins.
        last = list(odoo_rrule(rule, week_start))[-1]
        rng.update(type="endDate", endDate=last.date().isoformat())
    elif end_type == "count":
        count = int(rule.get("count") or 0)
        if count < 1:
            raise MappingError(f"the number of repetitions must be at least 1 (got {count})")
        rng.update(type="numbered", numberOfOccurrences=min(count, MAX_OCCURRENCES))
    elif end_type == "end_date":
        if not rule.get("until"):
            raise MappingError("the recurrence ends on a date but has no end date")
        rng.update(type="endDate", endDate=_as_date(rule["until"], "end date").isoformat())
    else:
        raise MappingError(f"unknown recurrence end {end_type!r}")
    if through is not None and rng["type"] == "endDate":
        if isinstance(through, datetime) and not rule.get("allday"):
            last_day = _as_utc(through).astimezone(tzinfo).date()
        else:
            last_day = _as_date(through, "last event")
        rng["endDate"] = max(rng["endDate"], last_day.isoformat())
    if rng["type"] == "endDate" and rng["endDate"] < rng["startDate"]:
        raise MappingError(
            f"the recurrence ends ({rng['endDate']}) before it starts ({rng['startDate']})"
        )
    return {"pattern": pattern, "range": rng}


# ----- Graph -> Odoo ---------------------------------------------------------------------------


def _pattern_days(pattern):
    days = pattern.get("daysOfWeek") or []
    if not isinstance(days, list):
        raise MappingError(f"daysOfWeek is not a list: {days!r}")
    return sorted({_weekday_index(day, "day of the week") for day in days})


def _series_zone(patterned, start, event_tz=None):
    """(IANA name, tzinfo) of a Graph series: recurrenceTimeZone, else the start's zone.

    ``event_tz`` (the Odoo rule's zone) is kept when Graph names the same Windows zone: the
    Windows name sent for Europe/Brussels comes back as Romance Standard Time, which tzlocal's
    table reads as Europe/Paris.
    """
    name = (patterned.get("range") or {}).get("recurrenceTimeZone")
    if not name and isinstance(start, dict):
        name = start.get("timeZone")
    name = name or "UTC"
    try:
        iana = to_iana(name)
    except UnknownTimeZone as exc:
        raise MappingError(str(exc)) from exc
    if event_tz and event_tz != iana:
        windows = tz_win.get(iana) or iana
        if (tz_win.get(event_tz) or event_tz) == windows:
            iana = event_tz
    return iana, _zone(iana)


def _start_local(start, tzinfo):
    """Naive wall-clock time in ``tzinfo`` of a Graph dateTimeTimeZone or datetime (naive = UTC)."""
    if isinstance(start, dict):
        try:
            start = parse_graph_datetime(start)
        except (ValueError, UnknownTimeZone) as exc:
            raise MappingError(f"invalid series start {start!r}: {exc}") from exc
    if isinstance(start, datetime):
        return _as_utc(start).astimezone(tzinfo).replace(tzinfo=None)
    if isinstance(start, date):
        return datetime.combine(start, time())
    raise MappingError(f"invalid series start {start!r}")


def _graph_parts(patterned):
    if (
        not isinstance(patterned, dict)
        or not isinstance(patterned.get("pattern"), dict)
        or not isinstance(patterned.get("range"), dict)
    ):
        raise MappingError("a recurrence needs a pattern and a range")
    return patterned["pattern"], patterned["range"]


def from_graph(patterned, start, week_start=7, event_tz=None):
    """Odoo ``calendar.recurrence`` values for a Graph ``patternedRecurrence``.

    ``start`` is the series master's start (Graph dateTimeTimeZone dict, or datetime, naive = UTC).
    ``week_start`` is the organizer's res.lang week start; ``event_tz`` the rule's current zone,
    kept when Graph's is the same Windows zone. The values set every field the rule reads, so
    writing them replaces the previous rule. Raises ``MappingError`` for the series
    Odoo's rule cannot repeat (the caller keeps the occurrences as single events):

    - ``relativeYearly`` ("last Wednesday of November"): Odoo's yearly rule repeats one date;
      microsoft_calendar maps it to a yearly rule on the start's date, which drifts.
    - ``absoluteYearly`` whose first occurrence is not on its day (31 June -> 30 June).
    - ``relativeMonthly`` on several days ("first Thursday or Friday"): Odoo holds one weekday;
      microsoft_calendar keeps the first, which changes the dates.
    - ``weekly`` with an interval over 1 whose ``firstDayOfWeek`` gives other weeks than the
      organizer's language does (Odoo has no per-rule week start).

    Month ends: ``absoluteMonthly`` on the 29th-31st maps to Odoo's same day; Odoo then has no event
    in the shorter months where Outlook has one on their last day.
    """
    pattern, rng = _graph_parts(patterned)
    iana, tzinfo = _series_zone(patterned, start, event_tz)
    kind = pattern.get("type")
    interval = _interval(pattern.get("interval"))
    values = {
        "interval": interval,
        "event_tz": iana,
        **dict.fromkeys(ODOO_DAY_FIELDS, False),
    }
    if kind == "daily":
        values["rrule_type"] = "daily"
    elif kind == "weekly":
        days = _pattern_days(pattern)
        if not days:
            raise MappingError("a weekly recurrence without daysOfWeek")
        values["rrule_type"] = "weekly"
        values.update({ODOO_DAY_FIELDS[i]: True for i in days})
    elif kind == "absoluteMonthly":
        values.update(rrule_type="monthly", month_by="date", day=_graph_month_day(pattern))
    elif kind == "relativeMonthly":
        days = _pattern_days(pattern)
        if len(days) != 1:
            raise MappingError(
                "Odoo repeats a monthly rule on one weekday; this Outlook series allows "
                f"{len(days)} ({', '.join(GRAPH_DAYS[i] for i in days) or 'none'})"
            )
        index = pattern.get("index") or "first"  # recurrencepattern.md: default first
        if index not in INDEX_TO_BYDAY:
            raise MappingError(f"unknown weekIndex {index!r}")
        values.update(
            rrule_type="monthly",
            month_by="day",
            weekday=ODOO_WEEKDAYS[days[0]],
            byday=INDEX_TO_BYDAY[index],
        )
    elif kind == "absoluteYearly":
        values["rrule_type"] = "yearly"
    elif kind == "relativeYearly":
        raise MappingError(
            "Odoo's yearly rule repeats one date; an Outlook series on a weekday of a month "
            "each year (relativeYearly) has no Odoo form"
        )
    else:
        raise MappingError(f"unknown recurrence pattern type {kind!r}")

    range_type = rng.get("type")
    if range_type not in _RANGE_TO_END_TYPE:
        raise MappingError(f"unknown recurrence range type {range_type!r}")
    values["end_type"] = _RANGE_TO_END_TYPE[range_type]
    values["until"] = False
    if range_type == "endDate":
        values["until"] = _as_date(rng.get("endDate"), "end date")
    elif range_type == "numbered":
        try:
            count = int(rng.get("numberOfOccurrences") or 0)
        except (TypeError, ValueError) as exc:
            raise MappingError(
                f"invalid numberOfOccurrences {rng.get('numberOfOccurrences')!r}"
            ) from exc
        if count < 1:
            raise MappingError("a numbered recurrence needs numberOfOccurrences >= 1")
        values["count"] = count

    start_local = _start_local(start, tzinfo)
    if kind == "absoluteYearly":
        first = next(iter(_graph_rrule(patterned, start_local)), None)
        wanted = (int(pattern.get("month") or 0), _graph_month_day(pattern))
        if first is None or (first.month, first.day) != wanted:
            raise MappingError(
                "Odoo's yearly rule repeats the first event's date; this series' first "
                f"occurrence ({first.date() if first else 'none'}) is not on month {wanted[0]}, "
                f"day {wanted[1]}"
            )
    if kind == "weekly" and interval > 1:
        _check_week_start(patterned, start_local, values, week_start)
    return values


def _graph_month_day(pattern):
    try:
        day = int(pattern.get("dayOfMonth") or 0)
    except (TypeError, ValueError) as exc:
        raise MappingError(f"invalid dayOfMonth {pattern.get('dayOfMonth')!r}") from exc
    if not 1 <= day <= 31:
        raise MappingError(f"dayOfMonth must be between 1 and 31 (got {day})")
    return day


def _check_week_start(patterned, start_local, values, week_start):
    """Refuse a weekly series whose weeks (firstDayOfWeek) Odoo's language would cut otherwise."""
    # Both rules without their end: only the weeks they pick are compared.
    endless = {**patterned, "range": {**patterned["range"], "type": "noEnd"}}
    graph = _graph_rrule(endless, start_local)
    odoo = odoo_rrule(
        {**values, "dtstart": start_local, "event_tz": "UTC", "end_type": "count", "count": 1},
        week_start,
    ).replace(count=None)
    # Two cycles of the pattern show every day of it in both its weeks.
    span = 2 * values["interval"] * 7
    until = start_local + timedelta(days=span)
    if list(graph.between(start_local, until, inc=True)) != list(
        odoo.between(start_local, until, inc=True)
    ):
        first_day = (patterned["pattern"].get("firstDayOfWeek") or "sunday").lower()
        raise MappingError(
            f"this every-{values['interval']}-weeks series counts its weeks from {first_day}; "
            f"Odoo counts them from {GRAPH_DAYS[_week_start_index(week_start)]} for the "
            "organizer's language, which would move its occurrences"
        )


# ----- Graph expansion ---------------------------------------------------------------------------


def _month_day(params, day):
    """Graph's dayOfMonth: the last day of months shorter than ``day`` (EWS DayOfMonth)."""
    if day <= 28:
        params["bymonthday"] = day
    else:
        params["bymonthday"] = tuple(range(28, day + 1))
        params["bysetpos"] = -1


def _graph_rrule(patterned, start_local):
    """dateutil rule of a Graph series on naive wall-clock times of its time zone."""
    pattern, rng = _graph_parts(patterned)
    start_date = _as_date(rng.get("startDate"), "start date")
    params = {
        "dtstart": datetime.combine(start_date, start_local.time()),
        "interval": _interval(pattern.get("interval")),
        "wkst": _RRULE_DAYS[
            _weekday_index(pattern.get("firstDayOfWeek") or "sunday", "firstDayOfWeek")
        ],
    }
    kind = pattern.get("type")
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        params["byweekday"] = [_RRULE_DAYS[i] for i in _pattern_days(pattern)]
        if not params["byweekday"]:
            raise MappingError("a weekly recurrence without daysOfWeek")
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        freq = rrule.MONTHLY if kind == "absoluteMonthly" else rrule.YEARLY
        _month_day(params, _graph_month_day(pattern))
    elif kind in ("relativeMonthly", "relativeYearly"):
        freq = rrule.MONTHLY if kind == "relativeMonthly" else rrule.YEARLY
        params["byweekday"] = [_RRULE_DAYS[i] for i in _pattern_days(pattern)]
        if not params["byweekday"]:
            raise MappingError(f"a {kind} recurrence without daysOfWeek")
        index = pattern.get("index") or "first"
        if index not in _INDEX_TO_POS:
            raise MappingError(f"unknown weekIndex {index!r}")
        params["bysetpos"] = _INDEX_TO_POS[index]
    else:
        raise MappingError(f"unknown recurrence pattern type {kind!r}")
    if kind in ("absoluteYearly", "relativeYearly"):
        month = int(pattern.get("month") or 0)
        if not 1 <= month <= 12:
            raise MappingError(f"a {kind} recurrence needs month 1-12 (got {month})")
        params["bymonth"] = month
    range_type = rng.get("type")
    if range_type == "endDate":
        params["until"] = datetime.combine(_as_date(rng.get("endDate"), "end date"), time.max)
    elif range_type == "numbered":
        count = int(rng.get("numberOfOccurrences") or 0)
        if count < 1:
            raise MappingError("a numbered recurrence needs numberOfOccurrences >= 1")
        params["count"] = count
    elif range_type != "noEnd":
        raise MappingError(f"unknown recurrence range type {range_type!r}")
    return rrule.rrule(freq, **params)


def occurrences(patterned, series_start, series_end, tz=None, until=None, limit=MAX_OCCURRENCES):
    """(start, end) of each occurrence of a Graph series, aware in the series' time zone.

    ``series_start``/``series_end`` are the master's start and end (aware, or naive wall-clock in
    ``tz``): the time of day and the duration of every occurrence. ``tz`` (IANA or Windows name)
    defaults to ``range.recurrenceTimeZone``. Each occurrence keeps the local time across
    daylight-saving changes and lasts the master's duration. A series without end stops at
    ``until`` (aware datetime) or after ``limit`` occurrences.
    """
    _pattern, rng = _graph_parts(patterned)
    tzinfo = _zone(tz or rng.get("recurrenceTimeZone") or "UTC")
    duration = series_end - series_start
    if series_start.tzinfo is None:
        start_local = series_start
    else:
        start_local = series_start.astimezone(tzinfo).replace(tzinfo=None)
    if duration < timedelta(0):
        raise MappingError("the series ends before it starts")
    out = []
    for local in _graph_rrule(patterned, start_local):
        start = _localize(local, tzinfo)
        if until is not None and start >= until:
            break
        out.append((start, (start.astimezone(UTC) + duration).astimezone(tzinfo)))
        if len(out) >= limit:
            break
    return out


# ----- the planner -------------------------------------------------------------------------------

Step = namedtuple("Step", "key instance_id event_id reason")
Step.__doc__ = """One occurrence of a plan: its key (Graph's originalStart: aware UTC, or the date
of an all-day series), the Outlook occurrence id, the Odoo event id, and why."""


@dataclass
class SeriesPlan:
    """What to do with each occurrence of one series, keyed the way Graph identifies them.

    ``patch``: PATCH the Outlook occurrence with its Odoo event (it becomes an exception).
    ``cancel``: delete the Outlook occurrence (Odoo has no event for it).
    ``unchanged``: nothing to send. ``missing``: an Odoo event whose occurrence Outlook does not
    have (cancelled there, or outside the instances read). ``outside``: Odoo events on no
    occurrence of the rule (the caller sends them as single events).
    """

    patch: list = field(default_factory=list)
    cancel: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    outside: list = field(default_factory=list)


def _event_bounds(event, allday):
    """(start, end) of an Odoo event in the planner's terms (UTC instants, or inclusive days)."""
    start, stop = event["start"], event["stop"]
    if allday:
        return _as_date(start, "event start"), _as_date(stop, "event stop")
    return _as_utc(start).replace(microsecond=0), _as_utc(stop).replace(microsecond=0)


def _instance_bounds(instance, allday, tzinfo):
    try:
        start = parse_graph_datetime(instance["start"])
        end = parse_graph_datetime(instance["end"])
    except (KeyError, ValueError, UnknownTimeZone) as exc:
        raise MappingError(f"occurrence {instance.get('id')}: invalid start/end ({exc})") from exc
    if allday:
        # Graph all-day items end at the next midnight; Odoo's stop date is the last day.
        first = (start.astimezone(tzinfo) + timedelta(hours=12)).date()
        last = (end.astimezone(tzinfo) + timedelta(hours=12)).date() - timedelta(days=1)
        return first, max(first, last)
    return start.replace(microsecond=0), end.replace(microsecond=0)


def odoo_slots(rule, week_start=7):
    """Keys of the occurrences of Odoo's rule: UTC starts as Odoo stores them, or all-day dates."""
    _name, tzinfo = _rule_tz(rule)
    if rule.get("allday"):
        return [local.date() for local in odoo_rrule(rule, week_start)]
    return [_localize(local, tzinfo).astimezone(UTC) for local in odoo_rrule(rule, week_start)]


def plan_occurrences(rule, events, instances, week_start=7):
    """Compare an Odoo series with its Outlook occurrences; return a :class:`SeriesPlan`.

    ``rule``: the recurrence values as for :func:`to_graph`. ``events``: the recurrence's active
    events, mappings with ``id``, ``start``, ``stop`` (naive UTC; for all-day series Odoo's
    ``start_date``/``stop_date``), optionally ``original_start`` (the occurrence it was sent as,
    when the caller stored it) and ``changed`` (its own values were edited in Odoo and must be sent
    even if its times match). ``instances``: Graph's ``/events/{master}/instances`` items (``id``,
    ``originalStart``, ``start``, ``end``, ``isCancelled``) over the range the caller read.

    An event is matched to its occurrence by ``original_start``, else by its start being an
    occurrence of the rule, else (moved in Odoo without a stored key) to the nearest free
    occurrence between its matched neighbours: Outlook refuses to move an occurrence past the
    next or previous one (ErrorOccurrenceCrossingBoundary, cited by microsoft_calendar's
    ``_check_recurrence_overlapping``), so a moved event stays between them.
    """
    allday = bool(rule.get("allday"))
    _name, tzinfo = _rule_tz(rule)
    slots = odoo_slots(rule, week_start)
    slot_set = set(slots)
    last_slot = slots[-1] if slots else None
    forever = (rule.get("end_type") or "count") == "forever"

    def to_key(value):
        if allday:
            return _as_date(value, "original start")
        return occurrence_key(value)

    plan = SeriesPlan()
    matched = {}  # slot key -> event
    loose = []
    ordered = sorted(events, key=lambda ev: _event_bounds(ev, allday)[0])
    for event in ordered:
        start, _stop = _event_bounds(event, allday)
        key = to_key(event["original_start"]) if event.get("original_start") else start
        if key in slot_set and key not in matched:
            matched[key] = event
        else:
            loose.append(event)
    for event in loose:
        start, _stop = _event_bounds(event, allday)
        by_start = sorted((_event_bounds(ev, allday)[0], k) for k, ev in matched.items())
        lower = max((k for s, k in by_start if s <= start), default=None)
        upper = min((k for s, k in by_start if s > start), default=None)
        free = [
            k
            for k in slots
            if k not in matched and (lower is None or k > lower) and (upper is None or k < upper)
        ]
        if not free:
            plan.outside.append(Step(None, None, event.get("id"), "on no occurrence of the rule"))
            continue
        matched[min(free, key=lambda k: (abs(k - start), k))] = event

    seen = set()
    for instance in sorted(instances, key=lambda i: str(i.get("originalStart"))):
        if not instance.get("originalStart"):
            raise MappingError(f"occurrence {instance.get('id')} has no originalStart")
        key = (
            _day_key(instance["originalStart"], tzinfo)
            if allday
            else occurrence_key(instance["originalStart"])
        )
        seen.add(key)
        event = matched.get(key)
        if instance.get("isCancelled"):
            if event is not None:
                plan.missing.append(
                    Step(key, instance.get("id"), event.get("id"), "cancelled in Outlook")
                )
            else:
                plan.unchanged.append(Step(key, instance.get("id"), None, "already cancelled"))
            continue
        if event is None:
            if key in slot_set:
                plan.cancel.append(Step(key, instance["id"], None, "deleted in Odoo"))
            elif forever and last_slot is not None and key > last_slot:
                # Odoo stops making events after 720; the Outlook series goes on.
                plan.unchanged.append(Step(key, instance["id"], None, "after Odoo's last event"))
            else:
                plan.cancel.append(
                    Step(key, instance["id"], None, "not an occurrence of Odoo's rule")
                )
            continue
        if _event_bounds(event, allday) != _instance_bounds(instance, allday, tzinfo):
            plan.patch.append(Step(key, instance["id"], event.get("id"), "moved"))
        elif event.get("changed"):
            plan.patch.append(Step(key, instance["id"], event.get("id"), "changed"))
        else:
            plan.unchanged.append(Step(key, instance["id"], event.get("id"), "same"))
    for key in sorted(set(matched) - seen):
        plan.missing.append(Step(key, None, matched[key].get("id"), "no Outlook occurrence"))
    return plan


# ----- online meetings --------------------------------------------------------------------------


def online_meeting_values(flag):
    """Graph properties that make an event a Teams meeting (resources/event.md).

    Nothing when ``flag`` is false: "After you set isOnlineMeeting to true ... Outlook ignores any
    further changes to isOnlineMeeting, and the meeting remains available online", so sending
    ``False`` would change nothing.
    """
    if not flag:
        return {}
    return {"isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"}


def join_url(event):
    """The join link of a Graph event: ``onlineMeeting.joinUrl`` (resources/onlinemeetinginfo.md).

    Falls back to ``onlineMeetingUrl``, which event.md says "will be deprecated". Only http(s) links
    are returned (Odoo shows the value as a link), else ''.
    """
    if not isinstance(event, dict):
        return ""
    url = (
        (event.get("onlineMeeting") or {}).get("joinUrl") or event.get("onlineMeetingUrl") or ""
    ).strip()
    return url if url.lower().startswith(("https://", "http://")) else ""
