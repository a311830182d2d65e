"""Mailboxes and events of the Graph emulator: storage, series expansion, views, rendering.

What a client may write into an event, and how it is checked, is in ``validation``.

Events are kept as dicts in Graph's shape plus private keys (prefixed ``_``):
``_start``/``_end`` (aware UTC; all-day events are floating and kept as midnight UTC),
``_start_tz``/``_end_tz`` (names as sent), ``_seq`` (mailbox change sequence of the last
write, used by delta), ``_ext`` (single-value extended properties), ``_deleted_occ``
(original starts of deleted occurrences of a series master) and ``_occ_key`` (original
start of an exception).
"""

import base64
import contextlib
import copy
import html
import os
import re
import secrets
import uuid
from datetime import datetime, timedelta

from . import timeutil
from .odata import FilterError, evaluate, parse_filter
from .protocol import GraphError, not_found
from .recurrence_delta import uid_of
from .timeutil import UTC, TimeZoneError, fmt_instant, fmt_local, now_utc
from .validation import NULL_TIME, apply_payload, apply_times, category_color, norm_location

_OCC_PREFIX = "AAMkOCC"
_TAGS = re.compile(r"<[^>]+>")
_HEAD = re.compile(r"<head.*?</head>", re.S | re.I)


def new_event_id():
    raw = base64.urlsafe_b64encode(os.urandom(99)).decode()
    return "AAMkAG" + raw + "AAA="


def new_change_key():
    return base64.b64encode(os.urandom(16)).decode()


def new_ical_uid():
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(36).upper()


def occurrence_id(master_id, key):
    raw = ("%s\n%s" % (master_id, key)).encode()
    return _OCC_PREFIX + base64.urlsafe_b64encode(raw).decode()


def parse_occurrence_id(event_id):
    if not event_id.startswith(_OCC_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(event_id[len(_OCC_PREFIX) :].encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    master_id, _, key = raw.partition("\n")
    return (master_id, key) if key else None


def occ_key(start_utc):
    return start_utc.strftime("%Y%m%dT%H%M%S")


def html_of(body):
    content = body.get("content") or ""
    if body.get("contentType") == "text":
        content = html.escape(content).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    if "<html" in content.lower():
        return content
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\r\n</head>\r\n<body>\r\n%s\r\n</body>\r\n</html>\r\n' % content
    )


def text_of(body):
    content = body.get("content") or ""
    if body.get("contentType") == "text":
        return content
    content = _HEAD.sub("", content)
    content = re.sub(r"<br\s*/?>", "\n", content, flags=re.I)
    return html.unescape(_TAGS.sub("", content)).strip()


def preview_of(body):
    return " ".join(text_of(body).split())[:255]


class Mailbox:
    """One user's mailbox: its calendar, events and Outlook categories.

    The public helpers (``create_event``, ``update_event``, ``delete_event``,
    ``cancel_event``) simulate a change made by the user in Outlook: they go through the
    same validation as the API and are seen by delta queries and subscriptions.
    """

    def __init__(self, emulator, email, display_name=None, user_id=None):
        self._emu = emulator
        self.email = email
        self.user_id = user_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "mailbox:" + email.lower()))
        self.display_name = display_name or email.split("@")[0].replace(".", " ").title()
        self.calendar_id = (
            "AAMkCAL"
            + base64.urlsafe_b64encode(
                uuid.uuid5(uuid.NAMESPACE_URL, "calendar:" + self.user_id).bytes
            ).decode()
        )
        self.events = {}
        self.categories = []
        self.transactions = {}
        self.sync_states = {}
        self.seq = 0
        self.time_zone = "UTC"
        # The calendar's allowedOnlineMeetingProviders (resources/calendar.md); an empty list is
        # a tenant without Teams.
        self.online_meeting_providers = ["teamsForBusiness"]

    def __repr__(self):
        return "Mailbox(%r)" % self.email

    # ----- public helpers (the user acting in Outlook) -----------------------------------

    def create_event(self, payload):
        """Create an event as the user would in Outlook; returns it as the API shows it."""
        with self._emu.lock:
            event, _created = self.api_create(payload, allow_organizer=True)
            return self.render(event)

    def update_event(self, event_id, patch):
        with self._emu.lock:
            return self.render(self.api_update(event_id, patch))

    def delete_event(self, event_id):
        with self._emu.lock:
            self.api_delete(event_id)

    def cancel_event(self, event_id, comment=""):
        """Organizer: cancel and remove. Attendee copy: mark cancelled, as a received
        cancellation does."""
        with self._emu.lock:
            event = self.get(event_id)
            if event.get("isOrganizer"):
                self.api_cancel(event_id, comment)
                return
            stored = self.events.get(event["id"])
            if stored is None:
                stored = self._materialize(event)
            stored["isCancelled"] = True
            if not stored["subject"].startswith("Canceled: "):
                stored["subject"] = "Canceled: " + (stored["subject"] or "")
            self._touch(stored)
            self._emu.event_changed(self, "updated", stored["id"])

    def add_category(self, display_name, color="preset0"):
        with self._emu.lock:
            return self.api_create_category({"displayName": display_name, "color": color})

    # ----- internals ----------------------------------------------------------------------

    def _next_seq(self):
        self.seq += 1
        return self.seq

    def _touch(self, event):
        event["changeKey"] = new_change_key()
        event["lastModifiedDateTime"] = fmt_instant(now_utc())
        event["_seq"] = self._next_seq()

    def organizer(self):
        return {"emailAddress": {"name": self.display_name, "address": self.email}}

    def _blank(self):
        now = fmt_instant(now_utc())
        return {
            "id": None,
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "changeKey": None,
            "categories": [],
            "transactionId": None,
            "originalStartTimeZone": "UTC",
            "originalEndTimeZone": "UTC",
            "iCalUId": new_ical_uid(),
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": True,
            "hasAttachments": False,
            "subject": "",
            "importance": "normal",
            "sensitivity": "normal",
            "isAllDay": False,
            "isCancelled": False,
            "isOrganizer": True,
            "responseRequested": True,
            "seriesMasterId": None,
            "showAs": "busy",
            "type": "singleInstance",
            "isOnlineMeeting": False,
            "onlineMeetingProvider": "unknown",
            "onlineMeetingUrl": None,
            "onlineMeeting": None,
            "allowNewTimeProposals": True,
            "isDraft": False,
            "hideAttendees": False,
            "occurrenceId": None,
            "responseStatus": {"response": "organizer", "time": NULL_TIME},
            "body": {"contentType": "text", "content": ""},
            "location": norm_location({}),
            "locations": [],
            "recurrence": None,
            "attendees": [],
            "organizer": self.organizer(),
            "singleValueExtendedProperties": [],
            "_ext": {},
            "_deleted_occ": [],
            "_seq": 0,
            "_calendar": self.calendar_id,
        }

    def api_create(self, payload, allow_organizer=False, calendar_id=None):
        """Create an event. Returns (event, created); created is False when a previous
        create with the same transactionId is answered again."""
        tid = payload.get("transactionId") if isinstance(payload, dict) else None
        if isinstance(tid, str) and tid in self.transactions:
            existing = self.events.get(self.transactions[tid])
            if existing is not None:
                probe = self._blank()
                apply_payload(
                    probe,
                    payload,
                    creating=True,
                    owner_email=self.email,
                    allow_organizer=allow_organizer,
                )
                same = (
                    probe["subject"] == existing["subject"]
                    and probe["_start"] == existing["_start"]
                    and probe["_end"] == existing["_end"]
                )
                if not same:
                    raise GraphError(
                        400,
                        "ErrorDuplicateTransactionId",
                        "Your request can't be completed. The TransactionId "
                        "specified in the request has already been used to "
                        "create a different event.",
                    )
                return existing, False
        event = self._blank()
        apply_payload(
            event, payload, creating=True, owner_email=self.email, allow_organizer=allow_organizer
        )
        self._online_meeting(event)
        event["id"] = new_event_id()
        event["_calendar"] = calendar_id or self.calendar_id
        self._touch(event)
        self.events[event["id"]] = event
        if event.get("transactionId"):
            self.transactions[event["transactionId"]] = event["id"]
        self._emu.event_changed(self, "created", event["id"])
        return event, True

    def get(self, event_id):
        """Any event by id: stored ones, and occurrences computed from their master."""
        event = self.events.get(event_id)
        if event is not None:
            return event
        parsed = parse_occurrence_id(event_id)
        if not parsed:
            raise not_found()
        master = self.events.get(parsed[0])
        if not master or master["type"] != "seriesMaster":
            raise not_found()
        key = parsed[1]
        if key in master["_deleted_occ"]:
            raise not_found()
        start = datetime.strptime(key, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        for item in self.series_instances(
            master, start, start + timedelta(seconds=1), zero_ok=True
        ):
            if item["id"] == event_id:
                return item
        raise not_found()

    def _materialize(self, occurrence):
        """Turn a computed occurrence into a stored exception."""
        stored = copy.deepcopy(occurrence)
        stored["type"] = "exception"
        self.events[stored["id"]] = stored
        return stored

    def api_update(self, event_id, patch, if_match=None):
        event = self.get(event_id)
        check_etag(event, if_match)
        updated = copy.deepcopy(event)
        apply_payload(updated, patch, creating=False, owner_email=self.email)
        self._online_meeting(updated)
        if updated["type"] == "occurrence":
            updated["type"] = "exception"
        if updated["type"] == "exception":
            master = self.events[updated["seriesMasterId"]]
            self._check_exception_bounds(master, updated)
        if event["type"] == "seriesMaster" and (
            updated["recurrence"] != event["recurrence"] or updated["_start"] != event["_start"]
        ):
            # Outlook drops the exceptions and deleted occurrences of a re-planned series.
            for other in [e for e in self.events.values() if e["seriesMasterId"] == event["id"]]:
                self.events.pop(other["id"], None)
            updated["_deleted_occ"] = []
        self._touch(updated)
        self.events[updated["id"]] = updated
        self._emu.event_changed(self, "updated", updated["id"])
        return updated

    def _online_meeting(self, event):
        """No Teams meeting in a calendar whose allowedOnlineMeetingProviders lack its provider
        (concepts/outlook-calendar-online-meetings.md: "Look for the
        allowedOnlineMeetingProviders ... to verify if an Outlook calendar supports any online
        meeting providers"): the event stays an ordinary one, without join URL."""
        if event["isOnlineMeeting"] and (
            event["onlineMeetingProvider"] not in self.online_meeting_providers
        ):
            event["isOnlineMeeting"] = False
            event["onlineMeetingProvider"] = "unknown"
            event["onlineMeeting"] = None

    def _check_exception_bounds(self, master, exception):
        """Outlook: an occurrence can't move to or past the day of its neighbours."""
        key = exception["_occ_key"]
        original = datetime.strptime(key, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        span = timedelta(days=400)
        starts = [
            i["_occ_start"]
            for i in self.series_instances(master, original - span, original + span, raw=True)
        ]
        before = [s for s in starts if s < original]
        after = [s for s in starts if s > original]
        new_day = exception["_start"].date()
        if (before and new_day <= max(before).date()) or (after and new_day >= min(after).date()):
            raise GraphError(
                400,
                "ErrorOccurrenceCrossingBoundary",
                "Modified occurrence is crossing or overlapping adjacent occurrence.",
            )

    def api_delete(self, event_id, if_match=None):
        event = self.get(event_id)
        check_etag(event, if_match)
        if event["type"] in ("occurrence", "exception"):
            master = self.events[event["seriesMasterId"]]
            master["_deleted_occ"].append(event["_occ_key"])
            self.events.pop(event["id"], None)
            self._touch(master)
            self._emu.event_changed(self, "deleted", event["id"])
            return
        self.events.pop(event["id"], None)
        if event["type"] == "seriesMaster":
            for other in [e for e in self.events.values() if e["seriesMasterId"] == event["id"]]:
                self.events.pop(other["id"], None)
        if event.get("transactionId"):
            self.transactions.pop(event["transactionId"], None)
        self._emu.event_changed(self, "deleted", event["id"])

    def api_cancel(self, event_id, comment=""):
        event = self.get(event_id)
        if not event.get("isOrganizer"):
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            )
        self.api_delete(event_id)

    def api_respond(self, event_id, response, send_response=True, comment=None):
        """The user answers a meeting request (``response``: accepted, declined or
        tentativelyAccepted); see ``emulator.invitations``."""
        action = {
            "accepted": "accept",
            "declined": "decline",
            "tentativelyAccepted": "tentativelyAccept",
        }[response]
        body = {"sendResponse": send_response}
        if comment is not None:
            body["comment"] = comment
        with self._emu.lock:
            self._emu.invitations.respond(self, event_id, action, body)

    # ----- categories ---------------------------------------------------------------------

    def api_create_category(self, payload):
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("displayName"), str)
            or (not payload["displayName"].strip())
        ):
            raise GraphError(
                400, "ErrorInvalidRequest", "The displayName of the category is required."
            )
        name = payload["displayName"]
        if any(c["displayName"].lower() == name.lower() for c in self.categories):
            raise GraphError(
                409,
                "ErrorDuplicateDisplayName",
                "A category with the display name '%s' already exists." % name,
            )
        color = category_color(payload.get("color") or "none")
        category = {"id": str(uuid.uuid4()), "displayName": name, "color": color}
        self.categories.append(category)
        return dict(category)

    def category(self, category_id):
        for category in self.categories:
            if category["id"] == category_id:
                return category
        raise not_found()

    # ----- views --------------------------------------------------------------------------

    def series_instances(self, master, window_start, window_end, zero_ok=False, raw=False):
        """Occurrences and exceptions of ``master`` overlapping [window_start, window_end)."""
        recurrence = master["recurrence"]
        duration = master["_end"] - master["_start"]
        if master["isAllDay"]:
            tzinfo = UTC
        else:
            tzinfo = timeutil.resolve_tz(
                recurrence["range"].get("recurrenceTimeZone") or master["_start_tz"]
            )
        first_local = master["_start"].astimezone(tzinfo).replace(tzinfo=None)
        margin = duration + timedelta(days=2)
        lo = (window_start - margin).astimezone(tzinfo).replace(tzinfo=None)
        hi = (window_end + timedelta(days=2)).astimezone(tzinfo).replace(tzinfo=None)
        exceptions = {
            e["_occ_key"]: e
            for e in self.events.values()
            if e["seriesMasterId"] == master["id"] and e["type"] == "exception"
        }
        out = []
        for local in timeutil.occurrence_starts(recurrence, first_local, lo, hi):
            start = (
                local.replace(tzinfo=UTC) if master["isAllDay"] else timeutil.to_utc(local, tzinfo)
            )
            key = occ_key(start)
            if raw:
                out.append({"_occ_start": start})
                continue
            if key in master["_deleted_occ"] or key in exceptions:
                continue
            item = self._occurrence(master, start, start + duration, key)
            if overlaps(item, window_start, window_end, zero_ok):
                out.append(item)
        if not raw:
            out.extend(
                e for e in exceptions.values() if overlaps(e, window_start, window_end, zero_ok)
            )
        return out

    def _occurrence(self, master, start, end, key):
        item = {k: v for k, v in master.items() if k not in ("_deleted_occ", "_ext")}
        item = copy.deepcopy(item)
        item["_ext"] = dict(master["_ext"])
        item["_deleted_occ"] = []
        item["id"] = occurrence_id(master["id"], key)
        item["type"] = "occurrence"
        item["seriesMasterId"] = master["id"]
        item["recurrence"] = None
        item["transactionId"] = None
        item["_start"], item["_end"] = start, end
        if master["isAllDay"]:
            item["_start_local"] = start.replace(tzinfo=None)
            item["_end_local"] = end.replace(tzinfo=None)
        else:
            item["_start_local"] = start.astimezone(
                timeutil.resolve_tz(master["_start_tz"])
            ).replace(tzinfo=None)
            item["_end_local"] = end.astimezone(timeutil.resolve_tz(master["_end_tz"])).replace(
                tzinfo=None
            )
        item["_occ_key"] = key
        item["start"] = {"dateTime": fmt_local(start.replace(tzinfo=None)), "timeZone": "UTC"}
        item["end"] = {"dateTime": fmt_local(end.replace(tzinfo=None)), "timeZone": "UTC"}
        item["originalStart"] = fmt_instant(start)
        uid = master["iCalUId"]
        item["iCalUId"] = (
            uid[:32] + "%04X%02X%02X" % (start.year, start.month, start.day) + (uid[40:])
        )
        return item

    def view(self, window_start, window_end, calendar_id=None, with_masters=False):
        """Instances of the calendar overlapping the window (calendarView semantics)."""
        out = []
        for event in list(self.events.values()):
            if calendar_id and event["_calendar"] != calendar_id:
                continue
            if event["type"] == "seriesMaster":
                instances = self.series_instances(event, window_start, window_end)
                if with_masters and instances:
                    out.append(event)
                out.extend(instances)
            elif event["type"] == "singleInstance" and overlaps(event, window_start, window_end):
                out.append(event)
        out.sort(key=lambda e: (e["_start"], e["id"]))
        return out

    def listing(self, calendar_id=None):
        """Single instances and series masters (``GET /events`` semantics)."""
        return [
            e
            for e in self.events.values()
            if e["type"] in ("singleInstance", "seriesMaster")
            and (not calendar_id or e["_calendar"] == calendar_id)
        ]

    def render(self, event, tz_name=None, body_type=None, select=None, expand_ext=None):
        """The event as Graph returns it (times in UTC unless ``tz_name``)."""
        out = {"@odata.etag": 'W/"%s"' % event["changeKey"]}
        for key, value in event.items():
            if not key.startswith("_") and key != "singleValueExtendedProperties":
                out[key] = copy.deepcopy(value)
        if event.get("transactionId") is None:
            out.pop("transactionId", None)
        if event["type"] not in ("occurrence", "exception"):
            out.pop("originalStart", None)
        out["uid"] = uid_of(event)
        tzinfo = UTC
        label = "UTC"
        if tz_name:
            with contextlib.suppress(TimeZoneError):
                tzinfo = timeutil.resolve_tz(tz_name)
                label = tz_name
        for key, value in (("start", event["_start"]), ("end", event["_end"])):
            if event["isAllDay"]:
                local = value.replace(tzinfo=None)
            else:
                local = value.astimezone(tzinfo).replace(tzinfo=None)
            out[key] = {"dateTime": fmt_local(local), "timeZone": label}
        body = event["body"]
        if body_type == "text":
            out["body"] = {"contentType": "text", "content": text_of(body)}
        else:
            out["body"] = {"contentType": "html", "content": html_of(body)}
        out["bodyPreview"] = preview_of(body)
        out["webLink"] = (
            "https://outlook.office365.com/owa/?itemid=%s&exvsurl=1&path=/"
            "calendar/item" % event["id"].replace("=", "%3D")
        )
        if expand_ext is not None:
            out["singleValueExtendedProperties"] = [
                {"id": k, "value": v}
                for k, v in event["_ext"].items()
                if expand_ext is True or k.lower() in expand_ext
            ]
        # Test hook: payloads Graph itself would never hold (malformed input for clients).
        for key in event.get("_drop") or ():
            out.pop(key, None)
        out.update(copy.deepcopy(event.get("_raw") or {}))
        if select:
            keep = {s.lower() for s in select} | {"id", "@odata.etag"}
            out = {
                k: v
                for k, v in out.items()
                if k.lower() in keep or k == "singleValueExtendedProperties"
            }
        return out

    def matches(self, event, filter_tree):
        """Evaluate a parsed $filter against an event (UTC view + extended properties)."""
        probe = self.render(event)
        probe["singleValueExtendedProperties"] = [
            {"id": k, "value": v} for k, v in event["_ext"].items()
        ]
        for key in ("createdDateTime", "lastModifiedDateTime"):
            probe[key] = timeutil.parse_instant(probe[key])
        for key in ("start", "end"):
            probe[key]["dateTime"] = event["_%s" % key]
        try:
            return evaluate(filter_tree, probe)
        except FilterError as exc:
            raise GraphError(400, "BadRequest", "Invalid filter clause: %s" % exc) from exc

    def parse_filter(self, text):
        try:
            return parse_filter(text)
        except (FilterError, ValueError) as exc:
            raise GraphError(400, "BadRequest", "Invalid filter clause: %s" % exc) from exc

    # ----- persistence --------------------------------------------------------------------

    def dump(self):
        events = []
        for event in self.events.values():
            data = {
                k: v
                for k, v in event.items()
                if k not in ("_start", "_end", "_start_local", "_end_local")
            }
            data["_start_local"] = event["_start_local"].isoformat()
            data["_end_local"] = event["_end_local"].isoformat()
            events.append(data)
        return {
            "email": self.email,
            "display_name": self.display_name,
            "user_id": self.user_id,
            "events": events,
            "categories": self.categories,
            "transactions": self.transactions,
            "seq": self.seq,
            "time_zone": self.time_zone,
            "online_meeting_providers": self.online_meeting_providers,
        }

    def load(self, data):
        self.categories = data.get("categories", [])
        self.transactions = data.get("transactions", {})
        self.seq = data.get("seq", 0)
        self.time_zone = data.get("time_zone", "UTC")
        self.online_meeting_providers = data.get("online_meeting_providers", ["teamsForBusiness"])
        for event in data.get("events", []):
            event["_start_local"] = datetime.fromisoformat(event["_start_local"])
            event["_end_local"] = datetime.fromisoformat(event["_end_local"])
            apply_times(event, {})
            self.events[event["id"]] = event


def overlaps(event, window_start, window_end, zero_ok=True):
    start, end = event["_start"], event["_end"]
    if start == end:
        return window_start <= start < window_end if zero_ok else False
    return start < window_end and end > window_start


def check_etag(event, if_match):
    """Honour ``If-Match``: 412 when it names another version of the event."""
    if not if_match or if_match.strip() == "*":
        return
    wanted = if_match.strip()
    if wanted.startswith("W/"):
        wanted = wanted[2:]
    wanted = wanted.strip('"')
    if wanted != event["changeKey"]:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the "
            "change key passed in the request does not match the current change "
            "key for the item.",
        )
