"""What a client may write into an event, and how Graph checks it.

``apply_payload`` validates a POST or PATCH body and writes it into an event (a copy the
store then keeps); ``apply_times`` derives the UTC instants the store works with from the
local times and time zones sent. Refusals are Graph's: 400 ``RequestBodyRead`` for a value of
the wrong type (``bad_value``), 400 ``ErrorPropertyValidationFailure`` or ``ErrorInvalidRequest``
for a value Graph rejects (``invalid``), ``TimeZoneNotSupportedException`` for an unknown zone.
"""

import uuid
from datetime import datetime

from . import timeutil
from .protocol import GraphError
from .timeutil import UTC, TimeZoneError, fmt_local

NULL_TIME = "0001-01-01T00:00:00Z"
SENSITIVITY = ("normal", "personal", "private", "confidential")
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
IMPORTANCE = ("low", "normal", "high")
ATTENDEE_TYPES = ("required", "optional", "resource")
PROVIDERS = ("unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer")
PATTERNS = (
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
)
RANGES = ("endDate", "noEnd", "numbered")
INDEXES = ("first", "second", "third", "fourth", "last")
CATEGORY_COLORS = ("none",) + tuple("preset%d" % i for i in range(25))


def invalid(message, target=None, code="ErrorPropertyValidationFailure"):
    """Graph's generic property validation failure, with a detail naming the problem."""
    details = [{"code": code, "message": message, "target": target}] if target else None
    text = (
        "At least one property failed validation."
        if code == ("ErrorPropertyValidationFailure")
        else message
    )
    return GraphError(400, code, text, details=details or [{"code": code, "message": message}])


def bad_value(value, type_name):
    return GraphError(
        400,
        "RequestBodyRead",
        "Cannot convert the literal '%s' to the expected "
        "type 'microsoft.graph.%s'." % (value, type_name),
    )


def _enum(value, allowed, type_name):
    if not isinstance(value, str):
        raise bad_value(value, type_name)
    for option in allowed:
        if option.lower() == value.lower():
            return option
    raise bad_value(value, type_name)


def category_color(value):
    return _enum(value, CATEGORY_COLORS, "categoryColor")


def boolean(value, name):
    # Graph's OData reader takes "true"/"false" sent as JSON strings for Edm.Boolean
    # properties (msgraph-sdk and O365 clients send them so), any case.
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise bad_value(value, "Boolean (%s)" % name)
    return value


def _str(value, name, allow_none=True):
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise bad_value(value, "String (%s)" % name)
    return value


def _norm_address(value, name):
    if not isinstance(value, dict):
        raise bad_value(value, "emailAddress (%s)" % name)
    return {
        "name": _str(value.get("name"), "name") or value.get("address") or "",
        "address": _str(value.get("address"), "address") or "",
    }


def norm_location(value):
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise bad_value(value, "location")
    name = _str(value.get("displayName"), "displayName") or ""
    out = {"displayName": name, "locationType": "default"}
    if name:
        out["uniqueId"] = value.get("uniqueId") or name
        out["uniqueIdType"] = "private"
    else:
        out["uniqueIdType"] = "unknown"
    for key in ("address", "coordinates", "locationEmailAddress", "locationUri"):
        if value.get(key) is not None:
            out[key] = value[key]
    return out


def _norm_attendees(value, previous):
    if not isinstance(value, list):
        raise bad_value(value, "attendee collection")
    known = {a["emailAddress"]["address"].lower(): a for a in previous or []}
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_value(item, "attendee")
        address = _norm_address(item.get("emailAddress") or {}, "attendee")
        if not address["address"]:
            raise invalid("attendee without an email address", "attendees")
        kind = _enum(item.get("type") or "required", ATTENDEE_TYPES, "attendeeType")
        old = known.get(address["address"].lower())
        status = old["status"] if old else {"response": "none", "time": NULL_TIME}
        out.append({"type": kind, "status": status, "emailAddress": address})
    return out


def _norm_recurrence(value, start_tz):
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("pattern"), dict)
        or (not isinstance(value.get("range"), dict))
    ):
        raise invalid("recurrence needs a pattern and a range", "recurrence")
    pattern_in, range_in = value["pattern"], value["range"]
    kind = _enum(pattern_in.get("type"), PATTERNS, "recurrencePatternType")
    days = [
        _enum(d, tuple(timeutil.WEEKDAYS), "dayOfWeek") for d in pattern_in.get("daysOfWeek") or []
    ]
    pattern = {
        "type": kind,
        "interval": int(pattern_in.get("interval") or 1),
        "month": int(pattern_in.get("month") or 0),
        "dayOfMonth": int(pattern_in.get("dayOfMonth") or 0),
        "daysOfWeek": days,
        "firstDayOfWeek": _enum(
            pattern_in.get("firstDayOfWeek") or "sunday", tuple(timeutil.WEEKDAYS), "dayOfWeek"
        ),
        "index": _enum(pattern_in.get("index") or "first", INDEXES, "weekIndex"),
    }
    if pattern["interval"] < 1:
        raise invalid("recurrence interval must be at least 1", "recurrence")
    if kind in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise invalid("a %s recurrence needs daysOfWeek" % kind, "recurrence")
    if kind in ("absoluteMonthly", "absoluteYearly") and not 1 <= pattern["dayOfMonth"] <= 31:
        raise invalid("a %s recurrence needs dayOfMonth 1-31" % kind, "recurrence")
    if kind in ("absoluteYearly", "relativeYearly") and not 1 <= pattern["month"] <= 12:
        raise invalid("a %s recurrence needs month 1-12" % kind, "recurrence")
    range_kind = _enum(range_in.get("type"), RANGES, "recurrenceRangeType")
    try:
        start_date = datetime.strptime(range_in.get("startDate") or "", "%Y-%m-%d").date()
    except ValueError as exc:
        raise invalid("recurrence range needs startDate (yyyy-MM-dd)", "recurrence") from exc
    rng = {
        "type": range_kind,
        "startDate": start_date.isoformat(),
        "endDate": "0001-01-01",
        "recurrenceTimeZone": range_in.get("recurrenceTimeZone") or start_tz,
        "numberOfOccurrences": 0,
    }
    if range_kind == "endDate":
        try:
            end_date = datetime.strptime(range_in.get("endDate") or "", "%Y-%m-%d").date()
        except ValueError as exc:
            raise invalid("an endDate range needs endDate (yyyy-MM-dd)", "recurrence") from exc
        if end_date < start_date:
            raise invalid("recurrence endDate is before startDate", "recurrence")
        rng["endDate"] = end_date.isoformat()
    elif range_kind == "numbered":
        count = int(range_in.get("numberOfOccurrences") or 0)
        if count < 1:
            raise invalid("a numbered range needs numberOfOccurrences >= 1", "recurrence")
        rng["numberOfOccurrences"] = count
    return {"pattern": pattern, "range": rng}


def parse_date_time_zone(value, name):
    """Return (naive local, tz name, tzinfo) of a dateTimeTimeZone."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The %s property is required and "
            "must have a dateTime." % name,
        )
    tz_name = value.get("timeZone") or "UTC"
    try:
        tzinfo = timeutil.resolve_tz(tz_name)
    except TimeZoneError as exc:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone "
            "value is not supported: '%s'." % tz_name,
        ) from exc
    try:
        local = timeutil.parse_local(value["dateTime"])
    except ValueError as exc:
        raise bad_value(value["dateTime"], "dateTimeTimeZone (%s)" % name) from exc
    return local, tz_name, tzinfo


# Properties a client may write, and how each is normalised.
_WRITABLE = (
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "sensitivity",
    "showAs",
    "importance",
    "categories",
    "attendees",
    "location",
    "locations",
    "recurrence",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "transactionId",
    "singleValueExtendedProperties",
)


# Enumerated properties: (property, allowed values, Graph type named in a refusal).
_CHOICES = (
    ("sensitivity", SENSITIVITY, "sensitivity"),
    ("showAs", SHOW_AS, "freeBusyStatus"),
    ("importance", IMPORTANCE, "importance"),
    ("onlineMeetingProvider", PROVIDERS, "onlineMeetingProviderType"),
)
_FLAGS = (
    "isReminderOn",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "isOnlineMeeting",
)


def apply_payload(event, payload, creating, owner_email, allow_organizer=False):
    """Validate ``payload`` and write it into ``event`` (a copy); raise GraphError.

    ``owner_email``: the mailbox's address; ``allow_organizer``: the payload may name
    another organizer (an event made by the user in Outlook, not through the API).
    """
    if not isinstance(payload, dict):
        raise GraphError(
            400, "UnableToDeserializePostBody", "were unable to deserialize the request body"
        )
    data = {k: v for k, v in payload.items() if k in _WRITABLE}
    if allow_organizer and payload.get("organizer"):
        _apply_organizer(event, payload["organizer"], owner_email)
    if creating and ("start" not in data or "end" not in data):
        missing = "start" if "start" not in data else "end"
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The %s property is required "
            "to create an event." % missing,
        )
    if "subject" in data:
        event["subject"] = _str(data["subject"], "subject") or ""
    if "body" in data:
        event["body"] = _norm_body(data["body"])
    for key, allowed, type_name in _CHOICES:
        if key in data:
            event[key] = _enum(data[key], allowed, type_name)
    for key in _FLAGS:
        if key in data:
            event[key] = boolean(data[key], key)
    _apply_online_meeting(event, data)
    if "reminderMinutesBeforeStart" in data:
        value = data["reminderMinutesBeforeStart"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_value(value, "Int32")
        event["reminderMinutesBeforeStart"] = value
    if "categories" in data:
        event["categories"] = _norm_categories(data["categories"])
    if "attendees" in data:
        event["attendees"] = _norm_attendees(data["attendees"] or [], event["attendees"])
    _apply_locations(event, data)
    if "transactionId" in data:
        _apply_transaction_id(event, data["transactionId"], creating)
    if "singleValueExtendedProperties" in data:
        _apply_extended_properties(event, data["singleValueExtendedProperties"])
    if "isAllDay" in data:
        event["isAllDay"] = boolean(data["isAllDay"], "isAllDay")
    apply_times(event, data)
    _apply_recurrence(event, data)


def _apply_organizer(event, organizer, owner_email):
    event["organizer"] = {
        "emailAddress": _norm_address(organizer.get("emailAddress") or {}, "organizer")
    }
    event["isOrganizer"] = (
        event["organizer"]["emailAddress"]["address"].lower() == owner_email.lower()
    )
    if not event["isOrganizer"]:
        event["responseStatus"] = {"response": "notResponded", "time": NULL_TIME}


def _norm_body(value):
    body = value or {}
    if not isinstance(body, dict):
        raise bad_value(body, "itemBody")
    return {
        "contentType": _enum(body.get("contentType") or "text", ("text", "html"), "bodyType"),
        "content": _str(body.get("content"), "content") or "",
    }


def _apply_online_meeting(event, data):
    if event["isOnlineMeeting"] and not event.get("onlineMeeting"):
        # Graph makes the Teams meeting at once: the event then carries its join URL.
        if event["onlineMeetingProvider"] == "unknown":
            event["onlineMeetingProvider"] = "teamsForBusiness"
        event["onlineMeeting"] = {
            "joinUrl": "https://teams.microsoft.com/l/meetup-join/" + uuid.uuid4().hex
        }
    elif event.get("onlineMeeting"):
        # resources/event.md: "After you set isOnlineMeeting to true, Microsoft Graph
        # initializes onlineMeeting. Subsequently Outlook ignores any further changes to
        # isOnlineMeeting, and the meeting remains available online."
        event["isOnlineMeeting"] = True


def _norm_categories(value):
    cats = value or []
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise bad_value(cats, "String collection (categories)")
    # Graph accepts category names that are not in the master list.
    return list(dict.fromkeys(cats))


def _apply_locations(event, data):
    if "location" in data:
        event["location"] = norm_location(data["location"])
        event["locations"] = (
            []
            if not event["location"]["displayName"]
            else [
                {
                    "displayName": event["location"]["displayName"],
                    "locationType": "default",
                    "uniqueIdType": "unknown",
                }
            ]
        )
    if "locations" in data:
        locs = data["locations"] or []
        if not isinstance(locs, list):
            raise bad_value(locs, "location collection")
        event["locations"] = [norm_location(loc) for loc in locs]
        if "location" not in data and event["locations"]:
            event["location"] = norm_location(
                {"displayName": "; ".join(loc["displayName"] for loc in event["locations"])}
            )


def _apply_transaction_id(event, value, creating):
    tid = _str(value, "transactionId")
    if not creating and tid != event.get("transactionId"):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The transactionId of an event can't be changed.",
        )
    event["transactionId"] = tid


def _apply_extended_properties(event, value):
    props = value or []
    if not isinstance(props, list):
        raise bad_value(props, "singleValueLegacyExtendedProperty collection")
    for prop in props:
        if (
            not isinstance(prop, dict)
            or not isinstance(prop.get("id"), str)
            or (prop.get("value") is not None and not isinstance(prop["value"], str))
        ):
            raise bad_value(prop, "singleValueLegacyExtendedProperty")
        parts = prop["id"].split()
        if len(parts) < 4 or parts[2].lower() not in ("name", "id"):
            raise invalid(
                "extended property id %r is not a supported format" % prop["id"],
                "singleValueExtendedProperties",
            )
        if prop.get("value") is None:
            event["_ext"].pop(prop["id"], None)
        else:
            event["_ext"][prop["id"]] = prop["value"]
    event["singleValueExtendedProperties"] = [
        {"id": k, "value": v} for k, v in event["_ext"].items()
    ]


def _apply_recurrence(event, data):
    if "recurrence" in data:
        if event.get("type") in ("occurrence", "exception"):
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. An occurrence can't have its own recurrence.",
            )
        event["recurrence"] = _norm_recurrence(data["recurrence"], event["_start_tz"])
        event["type"] = "seriesMaster" if event["recurrence"] else "singleInstance"
        if event["recurrence"] is None:
            event["_deleted_occ"] = []
    elif event.get("recurrence") and ("start" in data or "end" in data):
        event["recurrence"]["range"]["recurrenceTimeZone"] = event["_start_tz"]


def apply_times(event, data):
    """Write ``start``/``end`` of ``data`` (if any) and derive ``_start``/``_end`` (UTC)."""
    if "start" in data:
        local, name, tzinfo = parse_date_time_zone(data["start"], "start")
        event["_start_local"], event["_start_tz"], start_tz = local, name, tzinfo
    else:
        start_tz = timeutil.resolve_tz(event["_start_tz"])
    if "end" in data:
        local, name, tzinfo = parse_date_time_zone(data["end"], "end")
        event["_end_local"], event["_end_tz"], end_tz = local, name, tzinfo
    else:
        end_tz = timeutil.resolve_tz(event["_end_tz"])
    start_local, end_local = event["_start_local"], event["_end_local"]
    if event["isAllDay"]:
        if start_local.time() != datetime.min.time() or (end_local.time() != datetime.min.time()):
            raise invalid("an all-day event must start and end at midnight", "start")
        if end_local <= start_local:
            raise invalid("an all-day event must last at least one whole day", "end")
        # All-day events float: they are the same dates in every time zone.
        event["_start"] = start_local.replace(tzinfo=UTC)
        event["_end"] = end_local.replace(tzinfo=UTC)
    else:
        event["_start"] = timeutil.to_utc(start_local, start_tz)
        event["_end"] = timeutil.to_utc(end_local, end_tz)
        if event["_end"] < event["_start"]:
            raise invalid("the end of the event is before its start", "end")
    event["originalStartTimeZone"] = event["_start_tz"]
    event["originalEndTimeZone"] = event["_end_tz"]
    # Stored copy in UTC, so mailbox.events reads like Graph without Prefer headers.
    for key in ("start", "end"):
        local = event["_" + key].replace(tzinfo=None)
        event[key] = {"dateTime": fmt_local(local), "timeZone": "UTC"}
