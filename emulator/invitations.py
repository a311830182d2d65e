"""Meetings between mailboxes of the tenant: invitations, responses, updates, cancellations.

In Exchange a meeting is not one shared object: each internal attendee gets a copy in their own
calendar, with its own ``id`` and ``changeKey`` but the organizer's ``iCalUId`` (resources/
event.md: iCalUId is "a unique identifier for an event across calendars"; event ids are unique
per mailbox, microsoftgraph/microsoft-graph-docs issue #14370). What the emulator models, and
where each behaviour comes from:

- Delivery: an event with attendees created in the organizer's calendar is a meeting request
  to each attendee whose address is a mailbox of the emulator (the tenant); the attendee's copy
  has ``isOrganizer: false``, ``responseStatus`` ``notResponded`` and ``showAs`` ``tentative``
  until answered (Outlook's tentative placeholder), no categories, reminder or extended
  properties of the organizer's (those are per mailbox and never travel in a meeting request),
  and every attendee's ``status`` ``none``: only the organizer's copy tracks responses
  (microsoft-graph-docs issues #5281 and #4579). With ``hideAttendees`` each attendee sees only
  themself (event-update.md, hideAttendees).
- Responses: ``POST /events/{id}/accept|decline|tentativelyAccept`` with ``comment`` and
  ``sendResponse`` (default true) answer ``202 Accepted`` (event-accept.md, event-decline.md,
  event-tentativelyaccept.md); ``proposedNewTime`` is refused (400) when the event does not
  allow new time proposals or when ``sendResponse`` is false (event-decline.md). With
  ``sendResponse`` the organizer's copy then shows that attendee's ``status`` {response, time}
  and gets a new ``changeKey`` (so it shows in the organizer's delta); without it the
  organizer never learns the answer (issue #5281). A declined meeting leaves the attendee's
  calendar whether or not a response is sent, as Outlook does (EWS RemoveItem reference: "To
  remove a MeetingRequest and the associated CalendarItem, use the DeclineItem response
  object"); a declined occurrence leaves the series.
- Updates: an organizer's change of the meeting reaches every attendee's copy; a change of the
  attendees only reaches the attendees added or removed (event-update.md, "attendees property
  and meeting updates"), so the other copies keep their old attendee list. An attendee removed
  from the meeting gets a cancellation; an attendee added gets a request. A declined attendee
  gets the next full update again as a new request.
- Cancellations: deleting or cancelling the meeting (or one occurrence) in the organizer's
  calendar sends a cancellation (event-delete.md, event-cancel.md); the attendees' copies are
  marked ``isCancelled: true`` with "Canceled: " before the subject and stay in their calendars
  until the attendee removes them (EWS RemoveItem reference: RemoveItem is how an attendee
  removes "a meeting item when a MeetingCancellation message is received").

``GraphEmulator.invitations.enabled = False`` turns delivery off (the former behaviour).
"""

import copy
import hashlib

from .protocol import GraphError
from .store import new_event_id, occurrence_id, parse_occurrence_id
from .timeutil import fmt_instant, now_utc
from .validation import NULL_TIME, boolean, parse_date_time_zone

RESPONSES = {
    "accept": "accepted",
    "decline": "declined",
    "tentativelyaccept": "tentativelyAccepted",
}
ACTION_NAMES = {"accept": "accept", "decline": "decline", "tentativelyaccept": "tentativelyAccept"}
# Request parameters of each action (event-accept.md, event-decline.md,
# event-tentativelyaccept.md); OData refuses any other parameter of an action.
PARAMETERS = {
    "accept": {"comment", "sendresponse"},
    "decline": {"comment", "sendresponse", "proposednewtime"},
    "tentativelyaccept": {"comment", "sendresponse", "proposednewtime"},
}
# What a meeting request or update carries from the organizer's event into each copy.
SHARED = (
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "location",
    "locations",
    "recurrence",
    "sensitivity",
    "importance",
    "isOnlineMeeting",
    "onlineMeeting",
    "onlineMeetingProvider",
    "onlineMeetingUrl",
    "hideAttendees",
    "allowNewTimeProposals",
    "responseRequested",
    "organizer",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "originalStart",
    "iCalUId",
    "type",
    "_start",
    "_end",
    "_start_local",
    "_end_local",
    "_start_tz",
    "_end_tz",
    "_occ_key",
)
CANCELED_PREFIX = "Canceled: "


def _signature(event):
    """Fingerprint of what a meeting update would carry (attendees aside)."""
    shared = [repr(event.get(name)) for name in SHARED if name not in ("type", "originalStart")]
    return hashlib.sha1("\n".join(shared).encode()).hexdigest()


class Invitations:
    """Delivers the meetings of one mailbox to the other mailboxes of the emulator."""

    def __init__(self, emulator):
        self.emu = emulator
        self.enabled = True
        # (organizer user id, organizer event id) -> {attendee user id: copy id or None}
        # (None: the attendee declined; kept so that an attendees-only update leaves them be).
        # Also stored on the organizer's event as ``_invited`` (survives save/load); this
        # index still knows it once the organizer's event is deleted.
        self.index = {}
        self._busy = False

    # ----- bookkeeping ------------------------------------------------------------------

    def rebuild(self):
        """Index the invitations of loaded mailboxes (``load_state``)."""
        self.index = {}
        for mailbox in self.emu.mailboxes.values():
            for event in mailbox.events.values():
                if event.get("_invited") and event["type"] in ("singleInstance", "seriesMaster"):
                    self.index[(mailbox.user_id, event["id"])] = event["_invited"]

    def changed(self, mailbox, change_type, event_id):
        """Called by the emulator on every event write (under its lock)."""
        if not self.enabled or self._busy:
            return
        self._busy = True
        try:
            if change_type == "deleted":
                self._deleted(mailbox, event_id)
                return
            event = mailbox.events.get(event_id)
            if event is None or not event.get("isOrganizer"):
                return  # copies never send anything on their own
            if event["type"] == "exception":
                self._exception_changed(mailbox, event)
            elif event["type"] in ("singleInstance", "seriesMaster"):
                self._meeting_changed(mailbox, event)
        finally:
            self._busy = False

    def _attendee_mailboxes(self, organizer, event):
        out = {}
        for attendee in event.get("attendees") or []:
            address = attendee["emailAddress"]["address"]
            box = self.emu.find_mailbox(address)
            if box is not None and box is not organizer:
                out[box.user_id] = box
        return out

    # ----- organizer side ---------------------------------------------------------------

    def _meeting_changed(self, organizer, event):
        key = (organizer.user_id, event["id"])
        invited = self.index.get(key)
        if invited is None:
            invited = self.index[key] = {}
        boxes = self._attendee_mailboxes(organizer, event)
        if not boxes and not invited:
            return
        for user_id in [u for u in invited if u not in boxes]:
            # Removed from the meeting: a cancellation for that attendee only.
            copy_id = invited.pop(user_id)
            box = self.emu.mailboxes.get(user_id)
            if copy_id and box is not None and copy_id in box.events:
                self._mark_cancelled(box, box.events[copy_id])
        signature = _signature(event)
        attendees_only = event.get("_sent") == signature
        for user_id, box in boxes.items():
            copy_id = invited.get(user_id)
            current = box.events.get(copy_id) if copy_id else None
            if user_id in invited and attendees_only:
                continue  # an attendees-only update goes to the changed attendees only
            if current is None:
                invited[user_id] = self._deliver(organizer, event, box)
            else:
                self._update_copy(box, current, event)
        event["_invited"] = dict(invited)
        event["_sent"] = signature

    def _exception_changed(self, organizer, exception):
        master_key = (organizer.user_id, exception["seriesMasterId"])
        for user_id, copy_master_id in (self.index.get(master_key) or {}).items():
            box = self.emu.mailboxes.get(user_id)
            if not copy_master_id or box is None or copy_master_id not in box.events:
                continue
            copy_id = occurrence_id(copy_master_id, exception["_occ_key"])
            try:
                current = box.get(copy_id)
            except GraphError:
                continue  # that occurrence was declined or removed by the attendee
            stored = box.events.get(copy_id) or box._materialize(current)
            self._update_copy(box, stored, exception, copy_master_id)

    def _deleted(self, organizer, event_id):
        parsed = parse_occurrence_id(event_id)
        if parsed:
            master_id, key = parsed
            for user_id, copy_master_id in (
                self.index.get((organizer.user_id, master_id)) or {}
            ).items():
                box = self.emu.mailboxes.get(user_id)
                if not copy_master_id or box is None or copy_master_id not in box.events:
                    continue
                try:
                    current = box.get(occurrence_id(copy_master_id, key))
                except GraphError:
                    continue
                stored = box.events.get(current["id"]) or box._materialize(current)
                self._mark_cancelled(box, stored)
            return
        invited = self.index.pop((organizer.user_id, event_id), None) or {}
        for user_id, copy_id in invited.items():
            box = self.emu.mailboxes.get(user_id)
            if copy_id and box is not None and copy_id in box.events:
                self._mark_cancelled(box, box.events[copy_id])
                for other in [e for e in box.events.values() if e["seriesMasterId"] == copy_id]:
                    self._mark_cancelled(box, other)

    # ----- attendee side ----------------------------------------------------------------

    def _deliver(self, organizer, event, box):
        """A new meeting request in ``box``: the attendee's own copy of ``event``."""
        item = box._blank()
        self._fill(item, event, box)
        item["id"] = new_event_id()
        item["responseStatus"] = {"response": "notResponded", "time": NULL_TIME}
        item["showAs"] = "tentative"
        item["isOrganizer"] = False
        item["_origin"] = [organizer.user_id, event["id"]]
        box._touch(item)
        box.events[item["id"]] = item
        self.emu.event_changed(box, "created", item["id"])
        return item["id"]

    def _fill(self, item, event, box, master_id=None):
        for name in SHARED:
            if name in event:
                item[name] = copy.deepcopy(event[name])
        attendees = copy.deepcopy(event.get("attendees") or [])
        for attendee in attendees:
            attendee["status"] = {"response": "none", "time": NULL_TIME}
        if event.get("hideAttendees"):
            attendees = [
                a for a in attendees if a["emailAddress"]["address"].lower() == box.email.lower()
            ]
        item["attendees"] = attendees
        if master_id:
            item["seriesMasterId"] = master_id

    def _update_copy(self, box, current, event, master_id=None):
        replanned = current["type"] == "seriesMaster" and (
            current.get("recurrence") != event.get("recurrence")
            or current["_start"] != event["_start"]
        )
        self._fill(current, event, box, master_id)
        if current["type"] == "occurrence":
            current["type"] = "exception"
        if replanned:
            # The attendee's copy of a re-planned series loses its exceptions, as the
            # organizer's does (store.api_update).
            for other in [e for e in box.events.values() if e["seriesMasterId"] == current["id"]]:
                box.events.pop(other["id"], None)
            current["_deleted_occ"] = []
        current["isCancelled"] = False
        current["responseStatus"] = current.get("responseStatus") or {
            "response": "notResponded",
            "time": NULL_TIME,
        }
        box._touch(current)
        self.emu.event_changed(box, "updated", current["id"])

    def _mark_cancelled(self, box, stored):
        if stored.get("isCancelled"):
            return
        stored["isCancelled"] = True
        if not (stored.get("subject") or "").startswith(CANCELED_PREFIX):
            stored["subject"] = CANCELED_PREFIX + (stored.get("subject") or "")
        box._touch(stored)
        self.emu.event_changed(box, "updated", stored["id"])

    # ----- responses --------------------------------------------------------------------

    def respond(self, box, event_id, action, body):
        """``POST /events/{id}/accept|decline|tentativelyAccept`` in ``box``."""
        action = action.lower()
        name = ACTION_NAMES[action]
        params = {}
        if body is not None:
            if not isinstance(body, dict):
                raise GraphError(
                    400,
                    "UnableToDeserializePostBody",
                    "were unable to deserialize the request body",
                )
            for key, value in body.items():
                if key.lower() not in PARAMETERS[action]:
                    raise GraphError(
                        400,
                        "BadRequest",
                        "The parameter '%s' in the request payload is not a valid parameter "
                        "for the operation '%s'." % (key, name),
                    )
                params[key.lower()] = value
        send = params.get("sendresponse", True)
        if isinstance(send, str) and send.lower() in ("true", "false"):
            send = send.lower() == "true"  # Graph reads "false" for a Boolean parameter
        send = boolean(send, "sendResponse")
        comment = params.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise GraphError(400, "BadRequest", "The comment of a response must be a string.")
        event = box.get(event_id)
        if event.get("isOrganizer"):
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. You can't respond to a meeting you organized.",
            )
        if params.get("proposednewtime") is not None:
            # event-decline.md / event-tentativelyaccept.md: 400 when the event does not allow
            # new time proposals, or when no response is sent.
            if not event.get("allowNewTimeProposals") or not send:
                raise GraphError(
                    400,
                    "ErrorInvalidRequest",
                    "Your request can't be completed. A new time can only be proposed in a "
                    "response sent to an organizer who allows new time proposals.",
                )
            proposed = params["proposednewtime"]
            if not isinstance(proposed, dict):
                raise GraphError(400, "BadRequest", "proposedNewTime must be a timeSlot.")
            parse_date_time_zone(proposed.get("start"), "proposedNewTime.start")
            parse_date_time_zone(proposed.get("end"), "proposedNewTime.end")
        response = RESPONSES[action]
        now = fmt_instant(now_utc())
        self._busy = True
        try:
            if response == "declined":
                self._remove_declined(box, event)
            else:
                stored = box.events.get(event["id"]) or box._materialize(event)
                stored["responseStatus"] = {"response": response, "time": now}
                if response == "accepted":
                    stored["showAs"] = self._organizer_show_as(stored)
                else:
                    stored["showAs"] = "tentative"
                box._touch(stored)
                self.emu.event_changed(box, "updated", stored["id"])
            if send:
                self._tell_organizer(box, event, response, now)
        finally:
            self._busy = False

    def _organizer_show_as(self, stored):
        target = self._organizer_event(stored)
        return (target or {}).get("showAs") or "busy"

    def _remove_declined(self, box, event):
        if event["type"] in ("occurrence", "exception"):
            master = box.events.get(event["seriesMasterId"])
            if master is not None and event["_occ_key"] not in master["_deleted_occ"]:
                master["_deleted_occ"].append(event["_occ_key"])
                box._touch(master)
            box.events.pop(event["id"], None)
            self.emu.event_changed(box, "deleted", event["id"])
            return
        box.events.pop(event["id"], None)
        if event["type"] == "seriesMaster":
            for other in [e for e in box.events.values() if e["seriesMasterId"] == event["id"]]:
                box.events.pop(other["id"], None)
        origin = event.get("_origin")
        if origin:
            invited = self.index.get(tuple(origin))
            if invited is not None and invited.get(box.user_id) == event["id"]:
                invited[box.user_id] = None
                organizer = self.emu.mailboxes.get(origin[0])
                master = organizer and organizer.events.get(origin[1])
                if master is not None:
                    master["_invited"] = dict(invited)
        self.emu.event_changed(box, "deleted", event["id"])

    def _organizer_event(self, copy_event, materialize=False):
        """The organizer's event (or occurrence) a copy stands for, or None."""
        master_copy = copy_event
        box_origin = copy_event.get("_origin")
        if not box_origin:
            return None
        organizer = self.emu.mailboxes.get(box_origin[0])
        if organizer is None:
            return None
        if copy_event["type"] in ("occurrence", "exception"):
            try:
                occurrence = organizer.get(occurrence_id(box_origin[1], master_copy["_occ_key"]))
            except GraphError:
                return None
            if materialize:
                return organizer.events.get(occurrence["id"]) or organizer._materialize(occurrence)
            return occurrence
        return organizer.events.get(box_origin[1])

    def _tell_organizer(self, box, event, response, now):
        target = self._organizer_event(event, materialize=True)
        if target is None:
            return  # organized outside the tenant: the answer leaves by mail
        organizer = self.emu.mailboxes[event["_origin"][0]]
        for attendee in target.get("attendees") or []:
            if attendee["emailAddress"]["address"].lower() == box.email.lower():
                attendee["status"] = {"response": response, "time": now}
                break
        else:
            return
        organizer._touch(target)
        self.emu.event_changed(organizer, "updated", target["id"])
