"""Planning one delta page of "Sync Office 365 events": which Outlook events are logged,
skipped, updated or cancelled, and why.

Pure (no Odoo). The model reads what Odoo knows about the page into the small records below
(a few queries for the whole page), ``prepare`` and ``plan_page`` decide event by event with the
rules of ``services.inbound``, and the model applies the plan in batches.
"""

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dateutil.parser import isoparse

from . import delta_completion, inbound, mapping, recurrence

# A meeting first seen private: remembered so that it is never logged, nothing of it kept.
BLOCKED_FIELDS = {"state": inbound.PRIVATE, "name": False, "is_private": True}
# A logged meeting made private: it stays on the timelines as it was, its body goes (the
# activities' notes follow) and nothing new is copied.
# A meeting private since it was logged keeps no body and no join link (the link opens it).
FROZEN_FIELDS = {
    "is_private": True,
    "description": False,
    "body_truncated": False,
    "join_url": False,
}


@dataclass(frozen=True)
class Item:
    """An Outlook event to plan: the event, its values (``mapping.graph_to_values``) and its
    meeting key (iCalUId, occurrence, organizer)."""

    event: dict
    values: dict
    key: tuple


@dataclass
class Prepared:
    """The events of a page worth planning, and those left out."""

    items: list = field(default_factory=list)
    skips: list = field(default_factory=list)  # (event, reason): the addon's own events
    errors: list = field(default_factory=list)  # (message, Outlook event id)

    @property
    def skipped(self):
        return len(self.skips)


@dataclass(frozen=True)
class Copy:
    """This mailbox's copy of a known meeting, as last read."""

    event_id: str
    change_key: str = ""


@dataclass(frozen=True)
class Known:
    """A meeting Odoo already has under an item's key."""

    id: int
    state: str
    has_description: bool = False
    is_private: bool = False
    copies: tuple = ()  # (user id, is organizer) of each mailbox's copy, oldest first
    mine: Copy = None  # this mailbox's copy, None when it has none yet


@dataclass(frozen=True)
class Mailbox:
    """The syncing user and what their page is judged against."""

    user_id: int
    email: str  # the bound mailbox's address, cleaned
    filters: inbound.Filters
    domains: frozenset = frozenset()  # the company's own domains
    user_emails: dict = field(default_factory=dict)  # internal user's e-mail -> user id
    contacts: frozenset = frozenset()  # e-mails of known contacts
    create_contacts: bool = False
    odoo_uids: frozenset = frozenset()  # iCalUIds of the events the addon created


@dataclass(frozen=True)
class Step:
    """One meeting to create (``meeting_id`` None) or update from this mailbox's copy."""

    item: Item
    action: str  # inbound.LOG, BLOCK_PRIVATE or KEEP_PRIVATE
    external: tuple  # the meeting's addresses outside the company
    shared: bool  # the copy speaks for the meeting; else it only joins this user to it
    is_organizer: bool  # this mailbox holds the organizer's copy
    meeting_id: int = None


@dataclass
class PagePlan:
    steps: list = field(default_factory=list)
    cancel: list = field(default_factory=list)  # ids of the meetings cancelled for everyone
    leave: list = field(default_factory=list)  # Outlook event ids this user no longer attends
    new_contacts: dict = field(default_factory=dict)  # e-mail -> name of contacts to create
    skips: list = field(default_factory=list)  # (event, reason) of the events left alone

    @property
    def skipped(self):
        return len(self.skips)


def label(event):
    """The event as named in a log line: its subject (cut) and its id."""
    subject = str(event.get("subject") or "")[:80]
    return f"{subject!r} ({event.get('id')})" if subject else str(event.get("id"))


def without_nul(values):
    """PostgreSQL refuses NUL characters in text: drop them from Outlook's strings."""
    for key in ("subject", "location", "body"):
        if isinstance(values.get(key), str) and "\x00" in values[key]:
            values[key] = values[key].replace("\x00", "")
    names = values.get("attendee_names") or {}
    for email, name in names.items():
        if isinstance(name, str) and "\x00" in name:
            names[email] = name.replace("\x00", "")
    return values


def occurrence_key(event):
    """``inbound.meeting_key`` with the original start in one UTC format, whatever the offset
    notation Outlook used."""
    uid, occurrence = inbound.meeting_key(event)
    if occurrence:
        with contextlib.suppress(ValueError, OverflowError):
            occurrence = mapping.utc_iso(isoparse(occurrence))
    return uid, occurrence


def prepare(events, category_name):
    """The page's events worth planning, with those left out counted or reported.

    A series master is left out (its occurrences come one by one); a stub is reported, never
    decided on (without attendees it would pass for internal); the addon's own events are
    skipped; an event the mapping refuses is reported and the others go on.

    The key of a meeting is its iCalUId, its occurrence and its organizer: a copy with the same
    iCalUId naming another organizer (an invitation crafted with a known iCalUId) is another
    meeting, never an update of this one.
    """
    out = Prepared()
    for event in events:
        if event.get("type") == "seriesMaster":
            continue
        event_id = event.get("id") or ""
        if delta_completion.is_stub(event):
            message = f"Outlook occurrence {event.get('id')} not logged: its details are missing"
            out.errors.append((message, event_id))
            continue
        if inbound.is_ours(event, category_name, inbound.odoo_ref(event)):
            out.skips.append((event, "created by Odoo"))
            continue
        try:
            values = without_nul(mapping.graph_to_values(event))
            # A Teams meeting's join link (resources/onlinemeetinginfo.md), for the timeline.
            values["join_url"] = recurrence.join_url(event)
        except mapping.MappingError as exc:
            out.errors.append((f"Outlook event {label(event)} not logged: {exc}", event_id))
            continue
        key = (*occurrence_key(event), values.get("organizer") or "")
        out.items.append(Item(event, values, key))
    return out


def speaks_for(meeting, user_id, is_organizer_copy):
    """Whether ``user_id``'s copy may change the known ``meeting``'s shared fields (see
    ``inbound.may_change_shared``)."""
    organizer_syncs = any(is_org and uid != user_id for uid, is_org in meeting.copies)
    is_lead = not meeting.copies or meeting.copies[0][0] == user_id
    return inbound.may_change_shared(is_organizer_copy, organizer_syncs, is_lead)


def declined(event):
    """The user declined an invitation (an organizer's own event is never "declined")."""
    response = ((event.get("responseStatus") or {}).get("response") or "").lower()
    return response == "declined" and not event.get("isOrganizer")


def plan_page(items, known, mailbox):
    """What to do with each meeting of one delta page of ``mailbox``.

    ``items``: ``prepare``'s; ``known``: {key: Known} for the meetings Odoo already has.
    The last copy of a key in a page wins.
    """
    plan = PagePlan()
    seen = set()
    for item in reversed(items):
        if item.key in seen:
            continue
        seen.add(item.key)
        event, values = item.event, item.values
        meeting = known.get(item.key)
        mine = meeting.mine if meeting else None
        if (
            mine
            and mine.change_key
            and mine.change_key == event.get("changeKey")
            and mine.event_id == event["id"]
        ):
            continue  # unchanged since we last read it (full resync, our own push)
        if declined(event):
            plan.leave.append(event["id"])  # this user no longer attends
            if not mine:
                plan.skips.append((event, "declined"))
            continue
        _internal, external = inbound.split_people(
            inbound.people(values), mailbox.domains, mailbox.user_emails
        )
        # Invitations sent for events the addon created (its meetings, in the organizer's
        # mailbox) carry neither its category nor its property in the attendees' copies: the
        # iCalUId recorded on the organizer's link tells them apart.
        our_ref = inbound.odoo_ref(event) or (item.key[0] in mailbox.odoo_uids and "invitation")
        state = meeting.state if meeting else None
        decision = inbound.decide(event, values, state, mailbox.filters, external, our_ref)
        is_organizer = bool(event.get("isOrganizer") or values.get("organizer") == mailbox.email)
        shared = not meeting or speaks_for(meeting, mailbox.user_id, is_organizer)
        action = decision.action
        if action == inbound.IGNORE:
            continue
        if action == inbound.SKIP:
            plan.skips.append((event, decision.reason))
            continue
        if action == inbound.CANCEL:
            if shared:
                plan.cancel.append(meeting.id)
            else:
                plan.leave.append(event["id"])  # this attendee's copy only: they leave
            continue
        step = Step(
            item,
            action,
            tuple(external),
            shared,
            is_organizer,
            meeting.id if meeting else None,
        )
        if not shared:
            # Another attendee's copy: it joins this user to the meeting, nothing more.
            plan.steps.append(step)
            continue
        if action == inbound.KEEP_PRIVATE and not (
            meeting.has_description or not meeting.is_private or not mine
        ):
            continue  # already frozen: nothing to record
        if action == inbound.LOG and mailbox.create_contacts:
            for email in external:
                if email not in mailbox.contacts:
                    name = (values.get("attendee_names") or {}).get(email) or email
                    plan.new_contacts.setdefault(email, name)
        elif action == inbound.LOG and not meeting:
            if not any(email in mailbox.contacts for email in external):
                plan.skips.append((event, "no attendee is a contact"))
                continue
        plan.steps.append(step)
    return plan


def odoo_datetimes(values):
    """Naive UTC start/stop for Odoo (all-day: midnight of the first day / of the day after)."""
    if values["all_day"]:
        start = datetime.combine(date.fromisoformat(values["start"]), datetime.min.time())
        stop = datetime.combine(date.fromisoformat(values["end"]), datetime.min.time())
        if stop <= start:
            stop = start + timedelta(days=1)
        return start, stop
    return datetime.fromisoformat(values["start"]), datetime.fromisoformat(values["end"])


def meeting_fields(values, user_emails):
    """The logged meeting's own fields from Outlook's values; its contacts (``partner_ids``)
    and their company are the model's to add."""
    description, truncated = inbound.truncate_description(values.get("body"))
    start, stop = odoo_datetimes(values)
    organizer = values.get("organizer") or ""
    people = inbound.people(values)
    return {
        "state": inbound.LOGGED,
        "name": values["subject"],
        "start": start,
        "stop": stop,
        "allday": values["all_day"],
        "location": values.get("location") or False,
        "join_url": values.get("join_url") or False,
        "description": description or False,
        "body_truncated": truncated or values.get("body_truncated", False),
        "organizer_email": organizer or False,
        "organizer_name": (values.get("attendee_names") or {}).get(organizer) or False,
        # Outlook's order (``attendee_names`` keeps it; ``attendees`` is sorted): the first
        # contact in it holds the meeting's activities (``inbound.activity_anchor``).
        "attendee_emails": inbound.people(
            {
                "organizer": organizer,
                "attendees": list(values.get("attendee_names") or values.get("attendees") or []),
            }
        ),
        "categories": ", ".join(values.get("categories") or []) or False,
        "is_private": values.get("sensitivity") in inbound.PRIVATE_SENSITIVITIES,
        "internal_user_ids": [(6, 0, sorted({user_emails[e] for e in people if e in user_emails}))],
    }
