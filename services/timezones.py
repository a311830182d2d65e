"""Time-zone helpers for Graph date-times.

Graph gives a ``dateTimeTimeZone`` as ``{"dateTime": "2026-01-01T10:00:00.0000000",
"timeZone": "W. Europe Standard Time"}``: a naive local time with up to seven fraction digits and
either a Windows or an IANA zone name. Windows names are mapped with tzlocal's CLDR table.
"""

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import tz
from dateutil.parser import isoparse
from tzlocal.windows_tz import win_tz

# Names Graph uses for UTC besides the plain ones.
_UTC_ALIASES = {"utc", "tzone://microsoft/utc", "z", "gmt", "etc/utc"}


class UnknownTimeZone(ValueError):
    """A time-zone name that is neither an IANA name nor a known Windows name."""


def _zoneinfo(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def to_iana(name):
    """Return the IANA name for a Windows or IANA time-zone name.

    Raises :class:`UnknownTimeZone` for anything else (including empty names and Outlook's
    "Customized Time Zone").
    """
    if not name or not isinstance(name, str):
        raise UnknownTimeZone(f"Missing time-zone name: {name!r}")
    name = name.strip()
    if name.lower() in _UTC_ALIASES:
        return "UTC"
    iana = win_tz.get(name)
    if iana:
        return iana
    if _zoneinfo(name) is not None:
        return name
    raise UnknownTimeZone(
        f"Unknown time zone {name!r}: neither an IANA name nor a Windows time-zone name"
    )


def zone(name):
    """Return a ``ZoneInfo`` for a Windows or IANA name (see :func:`to_iana`)."""
    iana = to_iana(name)
    return timezone.utc if iana == "UTC" else ZoneInfo(iana)


def parse_graph_datetime(dt_dict):
    """Parse a Graph ``dateTimeTimeZone`` dict into an aware UTC datetime.

    An explicit offset in ``dateTime`` wins over ``timeZone``; a missing ``timeZone`` means UTC.
    """
    if not isinstance(dt_dict, dict) or not dt_dict.get("dateTime"):
        raise ValueError(f"Not a Graph dateTimeTimeZone value: {dt_dict!r}")
    raw = str(dt_dict["dateTime"]).strip()
    try:
        value = isoparse(raw)
    except ValueError as exc:
        raise ValueError(f"Invalid Graph dateTime {raw!r}: {exc}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(dt_dict.get("timeZone") or "UTC"))
    return value.astimezone(timezone.utc)


def format_graph_datetime(value):
    """Format a naive local datetime the way Graph writes it (seven fraction digits)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + ".%07d" % (value.microsecond * 10)


def graph_datetime(dt_utc, tz="UTC"):
    """Build a Graph ``dateTimeTimeZone`` dict for ``dt_utc`` expressed in ``tz``.

    ``dt_utc`` may be naive (taken as UTC) or aware. ``tz`` is kept as given in ``timeZone``
    (Graph accepts Windows and IANA names); the local time is computed from it.
    """
    if dt_utc.tzinfo is None:
        dt_utc = dt_utc.replace(tzinfo=timezone.utc)
    local = dt_utc.astimezone(zone(tz)).replace(tzinfo=None)
    return {"dateTime": format_graph_datetime(local), "timeZone": tz}


def query_datetime(value):
    """Format a datetime (naive = UTC) as ``YYYY-MM-DDTHH:MM:SSZ``, the form of Graph's
    ``startDateTime``/``endDateTime`` query parameters (the normalized values use
    ``services.mapping.utc_iso``, without the ``Z``).

    A date (the sync window's bounds) stands for its midnight UTC.
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_offset(value):
    """``UTC+02:00``: the UTC offset of an aware datetime."""
    offset = value.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def local_range(start, stop, zone_info):
    """``2027-03-27 10:00 - 11:00``: naive UTC ``start`` and ``stop`` as wall-clock times in
    ``zone_info`` (the end's date only when it differs). Across a change of the clocks, or in
    the hour that happens twice, wall-clock times alone mislead ("02:30 - 02:30"): each one
    then says its UTC offset."""
    start = start.replace(tzinfo=timezone.utc).astimezone(zone_info)
    stop = stop.replace(tzinfo=timezone.utc).astimezone(zone_info)
    first = start.strftime("%Y-%m-%d %H:%M")
    last = stop.strftime("%H:%M" if stop.date() == start.date() else "%Y-%m-%d %H:%M")
    if start.utcoffset() != stop.utcoffset() or any(
        tz.datetime_ambiguous(value.replace(tzinfo=None), zone_info) for value in (start, stop)
    ):
        first, last = f"{first} {_utc_offset(start)}", f"{last} {_utc_offset(stop)}"
    return f"{first} - {last}"
