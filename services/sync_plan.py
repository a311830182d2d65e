"""What one sync run decides, without doing it: pure functions the models call and act on.

- Routing a delta page: which events are ours (:func:`sort_page`, :func:`split_by_ref`).
- Reconciling a delta round: which of our events it should have listed (:func:`missing_events`).
- Pushing a record: create, update or nothing, and what is sent (:func:`plan_push`).

Outlook's edits of our own events are merged by ``decisions.plan_inbound``. The models read and
write records; everything here works on plain dicts, so each rule is tested with pytest
(``tests/pure/test_sync_plan.py``).
"""

import hashlib
from dataclasses import dataclass, field

from . import decisions
from .inbound import odoo_ref

# plan_push actions
CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"  # Outlook already shows these values
CREATE_PREVENTED = "create_prevented"  # the user forbids creating events in Outlook
UPDATE_PREVENTED = "update_prevented"  # ... or updating them
# A series master's zone and rule go with its times: Graph checks the range's startDate against
# the start (resources/recurrencerange.md) and reads the hour in the start's zone.
TIME_KEYS = ("start", "end", "all_day", "time_zone", "recurrence")


# ----------------------------------------------------------------------------------------------
# Routing and reconciling delta pages
# ----------------------------------------------------------------------------------------------
def delta_key(delta_link):
    """A short stable key of a delta link (the round an event we created must appear in)."""
    return hashlib.sha256(delta_link.encode()).hexdigest()[:16] if delta_link else None


def in_window(values, low, high):
    """Whether a snapshot's start/end (normalized ISO strings) overlap [low, high)."""
    first = (values or {}).get("start")
    last = (values or {}).get("end") or first
    return bool(first) and first < high and last > low


def missing_events(snapshots, seen, low, high):
    """Ids of our events a delta round should have listed but did not: those of ``snapshots``
    (``(event id, last synced values)`` pairs) inside the window [low, high) and not ``seen``."""
    return [
        event_id
        for event_id, values in snapshots
        if event_id not in seen and in_window(values, low, high)
    ]


@dataclass
class SortedPage:
    """The events of one delta page, by where they go."""

    linked: dict = field(default_factory=dict)  # event id -> event, for events we have a link to
    unlinked_ours: list = field(default_factory=list)  # our category or identity, no link here
    foreign: list = field(default_factory=list)  # the rest: the inbound log decides
    malformed: list = field(default_factory=list)  # not an event (no id): skipped and logged
    # Occurrences of one of our series not linked yet: the push links them to their meetings.
    occurrences: list = field(default_factory=list)


def sort_page(events, linked_ids, category):
    """Sort the ``events`` of a page: ``linked_ids`` are the event ids our links know;
    ``category`` is the Outlook category every event we create carries."""
    page = SortedPage()
    for event in events:
        if not isinstance(event, dict) or not event.get("id"):
            page.malformed.append(event)
        elif event["id"] in linked_ids:
            page.linked[event["id"]] = event
        elif event.get("type") in ("occurrence", "exception") and (
            category in (event.get("categories") or []) or odoo_ref(event)
        ):
            # An occurrence carries its series' category and identity: never adopted (the
            # series master is) nor removed as an orphan, never logged as someone else's.
            page.occurrences.append(event)
        elif category in (event.get("categories") or []) or odoo_ref(event):
            page.unlinked_ours.append(event)
        else:
            page.foreign.append(event)
    return page


def split_by_ref(events):
    """``({(res_model, res_id): event}, others)``: the events carrying our identity (their
    extended property fetched), and the others (our category only, or someone else's).

    An identity that names no record id is neither: no link can adopt it, and it is not a
    meeting to log either.
    """
    refs, others = {}, []
    for event in events:
        ref = odoo_ref(event)
        if not ref:
            others.append(event)
            continue
        res_model, _sep, res_id = ref.partition(",")
        if res_id.isdigit():
            refs[(res_model, int(res_id))] = event
    return refs, others


def is_orphan(event_id, target_user_id, linked_event_id, user_id):
    """Whether our event ``event_id`` in the mailbox of ``user_id`` is owned by no link: its
    record now goes to another mailbox (or none), or the record's link holds another event (this
    one is a second copy, from a create that was sent twice)."""
    second_copy = bool(linked_event_id) and linked_event_id != event_id
    return second_copy or target_user_id != user_id


# ----------------------------------------------------------------------------------------------
# Pushing a record
# ----------------------------------------------------------------------------------------------
@dataclass
class Note:
    """Something the sync log says about a record's mapping (a cut subject, a missing address).

    ``field``: logged only when the write sends that field (a create sends all); None: logged
    whenever the record is planned. ``res_model``/``res_id`` default to the record's own.
    """

    message: str
    field: str | None = None
    level: str = "warning"
    res_model: str = ""
    res_id: int = 0


@dataclass(frozen=True)
class PushSettings:
    """What planning the push of one mailbox needs from its account."""

    prevented: decisions.Prevented  # operations the user forbids
    time_zone: str  # the user's: all-day events are sent at midnight there
    category: str  # the Outlook category created events get
    calendar_id: str | None = None  # the Outlook calendar events are created in (None: default)


@dataclass
class PushPlan:
    """What to send for one record: ``values`` is the whole event for a create, the changed
    keys for an update; ``snapshot`` is the link's synced values once Outlook took it."""

    action: str
    values: dict = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)


def plan_push(values, previous, in_outlook, prevented, category):
    """Plan the push of a record whose normalized ``values`` are these.

    ``previous`` are the values last synced (the link's snapshot), ``in_outlook`` whether the
    event exists there already, ``prevented`` the user's :class:`decisions.Prevented`,
    ``category`` the Outlook category a created event gets unless its values name one.
    """
    if not in_outlook:
        if not prevented.allows("outlook", "create"):
            return PushPlan(CREATE_PREVENTED)
        values = dict(values)
        values.setdefault("categories", [category])
        return PushPlan(CREATE, values, values)
    previous = previous or {}
    # Display names follow the addresses; on their own they are no reason to write.
    changed = {
        key: value
        for key, value in values.items()
        if key != "attendee_names" and previous.get(key) != value
    }
    if not changed:
        return PushPlan(UNCHANGED)
    if not prevented.allows("outlook", "update"):
        return PushPlan(UPDATE_PREVENTED)
    if set(TIME_KEYS) & set(changed):
        # Graph checks start, end and isAllDay together (an all-day event needs both ends at
        # midnight): they are sent as one.
        changed.update({key: values[key] for key in TIME_KEYS if key in values})
    if "attendees" in changed and "attendee_names" in values:
        changed["attendee_names"] = values["attendee_names"]
    return PushPlan(UPDATE, changed, {**previous, **values})
