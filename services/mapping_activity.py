"""Normalized values (see ``services.mapping``) of Odoo activities and meetings.

Pure functions: the models gather plain data (names, dates, settings) in batches and these build
the values pushed to Outlook, so the rules are tested without Odoo.

Activities have a due date and no time. The event goes on the due date, as an all-day event or
in the user's default time slot; once Outlook has chosen other times (the user moved the event),
those times are kept as long as they fall on the due date, and are shifted with it when the due
date changes in Odoo. That keeps both sides stable: a pull right after a move changes nothing.
"""

from datetime import date, datetime, time, timedelta, timezone

from .mapping import MappingError, clean_email, cut_subject, html_block, utc_iso
from .timezones import zone

# Dates Odoo and Outlook both accept for a due date.
MIN_YEAR, MAX_YEAR = 1900, 9998
DASH = "\N{EM DASH}"
# The route that opens one activity: seed 003's "Open activity" opens "the task/phone call
# details", not only the document the activity is on.
ACTIVITY_PATH = "/office365_calendar_sync/activity"


def _one_line(text):
    return " ".join(str(text or "").split())


def activity_subject(type_name, summary, fallback=""):
    """``<Activity type>: <summary>`` (the document name when there is no summary).

    Returns ``(subject, warning)``: subjects longer than Outlook's limit are cut and the warning
    says so (else it is empty).
    """
    type_name = _one_line(type_name) or "Activity"
    text = _one_line(summary) or _one_line(fallback)
    subject = f"{type_name}: {text}" if text else type_name
    return cut_subject(subject)


def meeting_subject(name, companies=()):
    """``Meeting: <name> — <company>`` when the attendees' company is known."""
    name = _one_line(name) or "Meeting"
    companies = sorted({_one_line(c) for c in companies if _one_line(c)})
    subject = f"Meeting: {name}"
    if companies:
        subject += f" {DASH} " + ", ".join(companies)
    return cut_subject(subject)


def activity_url(base_url, activity_id):
    """The address that opens the activity itself (``controllers/activity.py``)."""
    return f"{(base_url or '').rstrip('/')}{ACTIVITY_PATH}/{int(activity_id)}"


def activity_body(url, contact=None, note_html="", document_url=None):
    """HTML body: "Open activity" link (``url``, see :func:`activity_url`), "Open document"
    link, the contact's details, then the activity's note."""
    contact = contact or {}
    rows = [
        ("Open activity", None, url),
        ("Open document", None, document_url),
        ("Contact", contact.get("name"), None),
        ("Company", contact.get("company"), None),
        ("Phone", contact.get("phone"), None),
        ("Email", contact.get("email"), None),
    ]
    return html_block(rows, note_html or "")


def default_times(due, slot, hour, duration, time_zone):
    """Start/end of an activity due on ``due`` with the user's settings (no Outlook choice yet).

    ``slot`` is ``"allday"`` or ``"slot"``; ``hour`` and ``duration`` are hours (floats) in the
    user's ``time_zone``.
    """
    if slot != "slot":
        return {
            "all_day": True,
            "start": due.isoformat(),
            "end": (due + timedelta(days=1)).isoformat(),
        }
    hour = min(max(float(hour or 0.0), 0.0), 23.99)
    minutes = round(hour * 60)
    local = datetime.combine(due, time(minutes // 60, minutes % 60), tzinfo=zone(time_zone))
    start = local.astimezone(timezone.utc)
    length = timedelta(minutes=max(round(float(duration or 0.0) * 60), 1))
    return {"all_day": False, "start": utc_iso(start), "end": utc_iso(start + length)}


def outlook_date(values, time_zone):
    """The calendar day (in the user's ``time_zone``) an Outlook event starts on."""
    start = values.get("start")
    if not start:
        raise MappingError("event without start")
    try:
        if values.get("all_day"):
            day = date.fromisoformat(start[:10])
        else:
            moment = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
            day = moment.astimezone(zone(time_zone)).date()
    except (ValueError, TypeError) as exc:
        raise MappingError(f"invalid start {start!r}") from exc
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise MappingError(f"the date {day.isoformat()} is outside the range Odoo accepts")
    return day


def activity_times(due, slot, hour, duration, time_zone, previous=None):
    """Start/end/all_day of an activity event.

    ``previous`` are the last synced values (Outlook's state): when they fall on ``due`` they are
    kept as they are; when ``due`` moved, they are shifted by the same number of days (Outlook's
    chosen times and length are kept); without them the user's default slot is used.
    """
    if previous and previous.get("start") and previous.get("end"):
        try:
            before = outlook_date(previous, time_zone)
        except MappingError:
            before = None
        if before is not None:
            kept = {key: previous[key] for key in ("all_day", "start", "end")}
            kept["all_day"] = bool(kept["all_day"])
            if before == due:
                return kept
            return _shift(kept, (due - before).days, time_zone)
    return default_times(due, slot, hour, duration, time_zone)


def _shift(values, days, time_zone):
    """Move all-day or timed values by ``days`` calendar days (wall-clock time kept)."""
    delta = timedelta(days=days)
    if values["all_day"]:
        return {
            "all_day": True,
            "start": (date.fromisoformat(values["start"][:10]) + delta).isoformat(),
            "end": (date.fromisoformat(values["end"][:10]) + delta).isoformat(),
        }
    tz = zone(time_zone)
    out = {"all_day": False}
    for key in ("start", "end"):
        local = datetime.fromisoformat(values[key]).replace(tzinfo=timezone.utc).astimezone(tz)
        moved = (local.replace(tzinfo=None) + delta).replace(tzinfo=tz)
        out[key] = utc_iso(moved)
    return out


def meeting_times(all_day, start, stop, start_date=None, stop_date=None):
    """Start/end of an Odoo meeting (UTC naive datetimes, or dates for all-day meetings)."""
    if all_day:
        first = start_date or start.date()
        last = stop_date or stop.date()
        if last < first:
            last = first
        return {
            "all_day": True,
            "start": first.isoformat(),
            "end": (last + timedelta(days=1)).isoformat(),
        }
    if stop < start:
        stop = start
    return {"all_day": False, "start": utc_iso(start), "end": utc_iso(stop)}


def odoo_meeting_times(values):
    """Odoo ``calendar.event`` fields for Outlook's start/end values."""
    try:
        if values.get("all_day"):
            first = date.fromisoformat(values["start"][:10])
            last = date.fromisoformat(values["end"][:10]) - timedelta(days=1)
            last = max(last, first)
            return {
                "allday": True,
                "start": datetime.combine(first, time(8)),
                "stop": datetime.combine(last, time(18)),
                "start_date": first,
                "stop_date": last,
            }
        start = datetime.fromisoformat(values["start"])
        stop = datetime.fromisoformat(values["end"])
    except (KeyError, ValueError, TypeError) as exc:
        raise MappingError(f"invalid start/end ({exc})") from exc
    for moment in (start, stop):
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise MappingError(f"the date {moment.date()} is outside the range Odoo accepts")
    return {"allday": False, "start": start, "stop": stop}


def meeting_attendees(organizer_email, attendees, kept=()):
    """Outlook attendees of a meeting.

    ``attendees`` are ``(name, email)`` pairs of the Odoo attendees; the organizer is left out
    (Outlook adds them). ``kept`` are addresses added in Outlook that match nobody in Odoo
    (a list, or a dict address -> display name): they stay invited.
    Returns ``(emails, names, names_without_email)``.
    """
    organizer = clean_email(organizer_email)
    names, missing = {}, []
    for name, email in attendees:
        address = clean_email(email)
        if not address:
            missing.append(name or "?")
            continue
        if address != organizer and address not in names:
            names[address] = name or address
    kept = kept if isinstance(kept, dict) else dict.fromkeys(kept or ())
    for raw, name in kept.items():
        address = clean_email(raw)
        if address and address != organizer and address not in names:
            names[address] = name or address
    return sorted(names), names, missing
