"""Date, time-zone and recurrence helpers of the Graph emulator.

Graph accepts Windows time-zone names ("Pacific Standard Time") and IANA names
("America/Los_Angeles"); Windows names are mapped with tzlocal's table. Recurring
series are expanded with dateutil.rrule from Graph's ``patternedRecurrence``.
"""

import re
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule
from tzlocal.windows_tz import win_tz

UTC = timezone.utc
_UTC_NAMES = {"utc", "etc/utc", "gmt", "etc/gmt", "z", "tzone://microsoft/utc"}
_WIN_LOWER = {name.lower(): iana for name, iana in win_tz.items()}
_FRACTION = re.compile(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$")

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_RRULE_DAYS = [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU]
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
# Hard cap on occurrences generated for one series in one expansion.
MAX_OCCURRENCES = 5000


class TimeZoneError(ValueError):
    """An unknown time-zone name."""


def resolve_tz(name):
    """Return a tzinfo for a Windows or IANA time-zone name, or raise TimeZoneError."""
    if not name or not isinstance(name, str):
        raise TimeZoneError(name)
    key = name.strip()
    if key.lower() in _UTC_NAMES:
        return UTC
    iana = _WIN_LOWER.get(key.lower())
    if iana:
        return ZoneInfo(iana)
    if "/" not in key or ".." in key or key.startswith("/"):
        raise TimeZoneError(name)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(name) from exc


def parse_local(value):
    """Parse a Graph ``dateTime`` string (no offset, up to 7 fraction digits) to naive."""
    if not isinstance(value, str) or not value:
        raise ValueError("dateTime must be a non-empty string")
    text = value.strip()
    match = _FRACTION.match(text)
    if match:
        text = "%s.%s%s" % (match.group(1), match.group(2)[:6].ljust(6, "0"), match.group(3))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_instant(value):
    """Parse an ISO 8601 instant; a value without offset is UTC. Returns aware UTC."""
    text = value.strip().replace(" ", "+") if isinstance(value, str) else value
    if not isinstance(text, str) or not text:
        raise ValueError("empty date")
    match = _FRACTION.match(text)
    if match:
        text = "%s.%s%s" % (match.group(1), match.group(2)[:6].ljust(6, "0"), match.group(3))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) == 10:
        parsed = datetime.combine(date.fromisoformat(text), time())
    else:
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_utc(local_naive, tz):
    """Interpret a naive wall-clock time in ``tz`` and return aware UTC."""
    return local_naive.replace(tzinfo=tz).astimezone(UTC)


def fmt_local(value):
    """Graph's dateTime format: ``2017-04-15T12:00:00.0000000``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d0" % value.microsecond


def fmt_instant(value):
    """Graph's DateTimeOffset format, always UTC: ``2017-04-15T03:00:50.7579581Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d0Z" % value.microsecond


def now_utc():
    return datetime.now(UTC)


def _byweekday(days):
    out = []
    for day in days or []:
        name = str(day).lower()
        if name not in WEEKDAYS:
            raise ValueError("unknown day of week %r" % day)
        out.append(_RRULE_DAYS[WEEKDAYS.index(name)])
    return out


def _month_day(kwargs, day):
    """Outlook puts "day 31" on the last day of shorter months (RFC 5545 would skip them)."""
    if day <= 28:
        kwargs["bymonthday"] = day
    else:
        kwargs["bymonthday"] = tuple(range(28, day + 1))
        kwargs["bysetpos"] = -1


def build_rule(recurrence, first_local):
    """Build a dateutil rrule for a normalised Graph recurrence.

    ``first_local`` is the naive local start of the series master; its time of day is
    the time of every occurrence. Occurrences start on or after ``range.startDate``.
    """
    pattern = recurrence["pattern"]
    rng = recurrence["range"]
    start_date = date.fromisoformat(rng["startDate"])
    dtstart = datetime.combine(start_date, first_local.time())
    kind = pattern["type"]
    kwargs = {"dtstart": dtstart, "interval": max(1, int(pattern.get("interval") or 1))}
    kwargs["wkst"] = _RRULE_DAYS[WEEKDAYS.index(pattern.get("firstDayOfWeek") or "sunday")]
    index = _INDEX.get(pattern.get("index") or "first", 1)
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        kwargs["byweekday"] = _byweekday(pattern.get("daysOfWeek"))
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        _month_day(kwargs, int(pattern["dayOfMonth"]))
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        kwargs["byweekday"] = _byweekday(pattern.get("daysOfWeek"))
        kwargs["bysetpos"] = index
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = int(pattern["month"])
        _month_day(kwargs, int(pattern["dayOfMonth"]))
    elif kind == "relativeYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = int(pattern["month"])
        kwargs["byweekday"] = _byweekday(pattern.get("daysOfWeek"))
        kwargs["bysetpos"] = index
    else:
        raise ValueError("unknown recurrence pattern type %r" % kind)
    if rng["type"] == "endDate":
        end = date.fromisoformat(rng["endDate"])
        kwargs["until"] = datetime.combine(end, time(23, 59, 59))
    elif rng["type"] == "numbered":
        kwargs["count"] = int(rng["numberOfOccurrences"])
    return rrule.rrule(freq, **kwargs)


def occurrence_starts(recurrence, first_local, window_start_local=None, window_end_local=None):
    """Naive local starts of the series, optionally limited to a local window."""
    rule = build_rule(recurrence, first_local)
    out = []
    if window_start_local is None:
        for value in rule:
            out.append(value)
            if len(out) >= MAX_OCCURRENCES:
                break
        return out
    if recurrence["range"]["type"] == "numbered":
        # ``count`` rules must be iterated from the start to honour the count.
        for value in rule:
            if value > window_end_local:
                break
            if value >= window_start_local:
                out.append(value)
            if len(out) >= MAX_OCCURRENCES:
                break
        return out
    for value in rule.xafter(window_start_local, inc=True):
        if value > window_end_local or len(out) >= MAX_OCCURRENCES:
            break
        out.append(value)
    return out
