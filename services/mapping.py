"""Normalized values <-> Microsoft Graph event payloads.

Each synced kind (activity, meeting, leave) turns its Odoo record into a *normalized values* dict;
this module is the only place that knows Graph's event shape. Keys:

``subject`` str, ``body`` HTML str, ``all_day`` bool, ``start``/``end`` (``YYYY-MM-DD`` for all-day
items, naive UTC ``YYYY-MM-DDTHH:MM:SS`` otherwise), ``location`` str, ``attendees`` sorted list of
lower-case e-mail addresses (``attendee_names`` maps them to display names, not compared),
``show_as``, ``sensitivity``, ``categories`` sorted list.

A series master adds ``recurrence`` (Graph's ``patternedRecurrence``, see ``services/recurrence``)
and ``time_zone`` (the rule's IANA zone: its start and end are sent as wall-clock times there, so
its occurrences keep their local hour across daylight-saving changes). ``online_meeting`` True
makes the event a Teams meeting.
"""

from datetime import date, timezone
from html import escape
from zoneinfo import ZoneInfo

from dateutil.parser import isoparse

from .timezones import parse_graph_datetime

SUBJECT_MAX = 255
BODY_MAX = 512 * 1024  # characters kept from an Outlook body; the rest is cut with a notice
TRUNCATION_NOTICE = "\n[... truncated by Office 365 Calendar Sync]"


class MappingError(ValueError):
    """A Graph payload or an Odoo item that cannot be mapped; the message says why."""


def clean_email(address):
    """Lower-case, stripped e-mail address from ``"Name <a@b.c>"`` or ``" A@B.C "``; '' if none."""
    address = (address or "").strip()
    if "<" in address and address.endswith(">"):
        address = address[address.rindex("<") + 1 : -1]
    address = address.strip().strip("\"'").strip().casefold()
    return address if "@" in address else ""


def cut_subject(subject):
    """``(subject, warning)``: the subject on one line and within Outlook's limit; the warning
    says what was cut (empty when nothing was)."""
    subject = " ".join((subject or "").split())
    if len(subject) <= SUBJECT_MAX:
        return subject, ""
    warning = (
        f"The subject has {len(subject)} characters; Outlook keeps {SUBJECT_MAX}, the rest is cut."
    )
    return subject[: SUBJECT_MAX - 1] + "\N{HORIZONTAL ELLIPSIS}", warning


def utc_iso(value):
    """Naive-UTC ISO string (seconds precision) for a datetime (naive = already UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


def html_block(rows, note_html=""):
    """Small HTML body: one ``label: value`` line per row (links allowed), then the note."""
    parts = []
    for label, value, url in rows:
        if not value and not url:
            continue
        if url:
            parts.append(f'<p><a href="{escape(url, quote=True)}">{escape(label)}</a></p>')
        else:
            parts.append(f"<p><b>{escape(label)}:</b> {escape(str(value))}</p>")
    if note_html:
        parts.append(f"<div>{note_html}</div>")
    return "".join(parts)


def values_to_graph(values, ref=None, property_id=None, time_zone="UTC"):
    """Graph event payload for the keys present in ``values`` (a partial dict gives a PATCH).

    ``ref`` is the Odoo record identity stored in the single-value extended property
    ``property_id``; all-day items are sent at midnight in ``time_zone`` as Graph requires.
    """
    payload = {}
    if "subject" in values:
        payload["subject"] = cut_subject(values["subject"])[0]
    if "body" in values:
        payload["body"] = {"contentType": "HTML", "content": values["body"] or ""}
    all_day = values.get("all_day")
    if "all_day" in values:
        payload["isAllDay"] = bool(all_day)
    for key in ("start", "end"):
        if key in values:
            if all_day:
                payload[key] = {"dateTime": f"{values[key]}T00:00:00", "timeZone": time_zone}
            elif values.get("time_zone"):
                payload[key] = local_time(values[key], values["time_zone"])
            else:
                payload[key] = {"dateTime": values[key], "timeZone": "UTC"}
    if "location" in values:
        payload["location"] = {"displayName": values["location"] or ""}
    if "attendees" in values:
        names = values.get("attendee_names") or {}
        payload["attendees"] = [
            {
                "emailAddress": {"address": email, "name": names.get(email) or email},
                "type": "required",
            }
            for email in values["attendees"]
        ]
    if "show_as" in values:
        payload["showAs"] = values["show_as"]
    if "sensitivity" in values:
        payload["sensitivity"] = values["sensitivity"]
    if "categories" in values:
        payload["categories"] = list(values["categories"])
    if "recurrence" in values:
        payload["recurrence"] = values["recurrence"]
    if values.get("online_meeting"):
        # resources/event.md: "After you set isOnlineMeeting to true ... Outlook ignores any
        # further changes to isOnlineMeeting": only True is ever sent.
        payload["isOnlineMeeting"] = True
        payload["onlineMeetingProvider"] = "teamsForBusiness"
    if ref and property_id:
        payload["singleValueExtendedProperties"] = [{"id": property_id, "value": ref}]
    return payload


def local_time(utc_text, zone):
    """Graph dateTimeTimeZone of a naive-UTC ISO string as wall-clock time in IANA ``zone``.

    A series master is sent this way: ``recurrenceTimeZone`` only places the dates, the master's
    own start zone gives the hour every occurrence keeps (resources/recurrencerange.md).
    """
    value = isoparse(utc_text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        tzinfo = timezone.utc if zone == "UTC" else ZoneInfo(zone)
    except (ValueError, KeyError) as exc:
        raise MappingError(f"unknown time zone {zone!r}") from exc
    local = value.astimezone(tzinfo).replace(tzinfo=None, microsecond=0)
    return {"dateTime": local.isoformat(), "timeZone": zone}


def graph_to_values(event):
    """Normalized values of a Graph event; raises ``MappingError`` with a clear message."""
    if not isinstance(event, dict) or not event.get("id"):
        raise MappingError("event without id")
    all_day = bool(event.get("isAllDay"))
    if not event.get("start") or not event.get("end"):
        raise MappingError(f"event {event.get('id')}: missing start or end")
    try:
        start = parse_graph_datetime(event["start"])
        end = parse_graph_datetime(event["end"])
    except (ValueError, TypeError, KeyError) as exc:
        raise MappingError(f"event {event['id']}: invalid start/end ({exc})") from exc
    if end < start:
        raise MappingError(f"event {event['id']}: end {end} before start {start}")
    values = {
        "subject": cut_subject(event.get("subject"))[0],
        "all_day": all_day,
        "location": ((event.get("location") or {}).get("displayName") or "").strip(),
        "show_as": event.get("showAs") or "busy",
        "sensitivity": event.get("sensitivity") or "normal",
        "categories": sorted(event.get("categories") or []),
    }
    if all_day:
        start_day = _all_day_date(event["start"], start)
        end_day = _all_day_date(event["end"], end)
        values["start"], values["end"] = start_day.isoformat(), end_day.isoformat()
    else:
        values["start"], values["end"] = utc_iso(start), utc_iso(end)
    body = (event.get("body") or {}).get("content") or ""
    values["body_truncated"] = len(body) > BODY_MAX
    if values["body_truncated"]:
        body = body[:BODY_MAX] + TRUNCATION_NOTICE
    values["body"] = body
    names = {}
    emails = []
    for attendee in event.get("attendees") or []:
        address = clean_email(((attendee or {}).get("emailAddress") or {}).get("address"))
        if address and address not in names:
            names[address] = ((attendee.get("emailAddress") or {}).get("name") or "").strip()
            emails.append(address)
    values["attendees"] = sorted(emails)
    values["attendee_names"] = names
    organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address")
    values["organizer"] = clean_email(organizer)
    return values


def _all_day_date(raw, parsed):
    """The calendar date of an all-day boundary, read in the event's own time zone."""
    text = str(raw.get("dateTime") or "")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return parsed.date()
