# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Planning one delta page of "Sync Office 365 events" (services.inbound_plan)."""

from datetime import datetime

from services import inbound, inbound_plan
from services.graph_client import EXTENDED_PROPERTY_ID

ME = 7  # the syncing user
OTHER = 8  # another syncing user of the company
UID = "UID1"


def _event(**kw):
    event = {
        "id": "E1",
        "iCalUId": UID,
        "changeKey": "CK1",
        "type": "singleInstance",
        "subject": "Demo",
        "start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
        "sensitivity": "normal",
        "categories": [],
        "organizer": {"emailAddress": {"address": "me@example.com"}},
        "isOrganizer": True,
        "attendees": [{"emailAddress": {"address": "Client@Client.COM", "name": "Client"}}],
    }
    event.update(kw)
    return event


def _mailbox(**kw):
    values = {
        "user_id": ME,
        "email": "me@example.com",
        "filters": inbound.Filters(),
        "domains": frozenset({"example.com"}),
        "user_emails": {"me@example.com": ME, "colleague@example.com": OTHER},
        "contacts": frozenset({"client@client.com"}),
    }
    values.update(kw)
    return inbound_plan.Mailbox(**values)


def _items(*events):
    prepared = inbound_plan.prepare(events, "Odoo")
    assert not prepared.errors and not prepared.skipped
    return prepared.items


def _key(event=None):
    return inbound_plan.prepare([event or _event()], "Odoo").items[0].key


def _known(state=inbound.LOGGED, mine=True, copies=((ME, True),), **kw):
    return inbound_plan.Known(
        id=42,
        state=state,
        copies=copies,
        mine=inbound_plan.Copy("E1", "CK0") if mine else None,
        **kw,
    )


def _plan(*events, known=None, **mailbox):
    items = _items(*(events or (_event(),)))
    known = {items[0].key: known} if known else {}
    return inbound_plan.plan_page(items, known, _mailbox(**mailbox))


# ----------------------------------------------------------------------
# prepare
# ----------------------------------------------------------------------
def test_prepare_leaves_out_masters_stubs_our_events_and_bad_ones():
    stub = {"id": "S1", "type": "occurrence", "seriesMasterId": "M1", "start": {}}
    ours = _event(id="O1", categories=["odoo"])
    ours_by_property = _event(
        id="O2",
        singleValueExtendedProperties=[{"id": EXTENDED_PROPERTY_ID, "value": "mail.activity,3"}],
    )
    bad = _event(id="B1", subject="Broken", start={"dateTime": "not a date", "timeZone": "UTC"})
    good = _event(id="G1")
    prepared = inbound_plan.prepare(
        [_event(id="M1", type="seriesMaster"), stub, ours, ours_by_property, bad, good], "Odoo"
    )
    assert [item.event["id"] for item in prepared.items] == ["G1"]
    assert prepared.skipped == 2
    assert [event_id for _message, event_id in prepared.errors] == ["S1", "B1"]
    assert "details are missing" in prepared.errors[0][0]
    assert "'Broken' (B1) not logged" in prepared.errors[1][0]


def test_prepare_keys_by_uid_occurrence_and_organizer():
    occurrence = _event(type="occurrence", originalStart="2026-11-23T10:00:00+01:00")
    (item,) = _items(occurrence)
    assert item.key == (UID, "2026-11-23T09:00:00", "me@example.com")
    assert _key(_event(organizer={"emailAddress": {"address": "x@client.com"}}))[2] == (
        "x@client.com"
    )
    assert _key(_event(organizer=None))[2] == ""


def test_prepare_drops_nul_characters():
    (item,) = _items(_event(subject="A\x00B", location={"displayName": "R\x00"}))
    assert (item.values["subject"], item.values["location"]) == ("AB", "R")


# ----------------------------------------------------------------------
# plan_page
# ----------------------------------------------------------------------
def test_new_meeting_with_a_contact_is_logged():
    plan = _plan()
    (step,) = plan.steps
    assert (step.action, step.shared, step.is_organizer, step.meeting_id) == (
        inbound.LOG,
        True,
        True,
        None,
    )
    assert step.external == ("client@client.com",)
    assert (plan.skipped, plan.cancel, plan.leave, plan.new_contacts) == (0, [], [], {})


def test_new_meeting_without_contacts_is_skipped_or_creates_them():
    assert _plan(contacts=frozenset()).skipped == 1
    assert not _plan(contacts=frozenset()).steps
    plan = _plan(contacts=frozenset(), create_contacts=True)
    assert plan.new_contacts == {"client@client.com": "Client"}
    assert len(plan.steps) == 1


def test_skips_are_counted_with_no_step():
    internal = _event(attendees=[{"emailAddress": {"address": "colleague@example.com"}}])
    invitation = _event()  # an invitation to a meeting the addon created
    for plan in (
        _plan(internal),
        _plan(invitation, odoo_uids=frozenset({UID})),
        _plan(_event(isCancelled=True)),
    ):
        assert (plan.steps, plan.skipped) == ([], 1)


def test_unchanged_copy_is_left_alone():
    known = inbound_plan.Known(42, inbound.LOGGED, mine=inbound_plan.Copy("E1", "CK1"))
    plan = _plan(known=known)
    assert (plan.steps, plan.skipped) == ([], 0)
    # the same change key on another event id (re-created in Outlook) is not "unchanged"
    moved = inbound_plan.Known(42, inbound.LOGGED, mine=inbound_plan.Copy("E0", "CK1"))
    assert _plan(known=moved).steps


def test_changed_copy_updates_the_known_meeting():
    (step,) = _plan(known=_known()).steps
    assert (step.action, step.meeting_id, step.shared) == (inbound.LOG, 42, True)


def test_last_copy_of_a_key_in_a_page_wins():
    first = _event(id="E1", subject="First")
    last = _event(id="E2", subject="Last")
    plan = _plan(first, last)
    assert [step.item.values["subject"] for step in plan.steps] == ["Last"]


def test_declined_invitation_leaves_the_meeting():
    declined = _event(isOrganizer=False, responseStatus={"response": "Declined"})
    plan = _plan(declined)
    assert (plan.leave, plan.skipped, plan.steps) == (["E1"], 1, [])
    # a copy already known is not counted as skipped: the removal counts it
    plan = _plan(declined, known=_known(copies=((OTHER, True), (ME, False))))
    assert (plan.leave, plan.skipped) == (["E1"], 0)
    # the organizer's own event is never "declined"
    assert _plan(_event(responseStatus={"response": "declined"})).steps


def test_cancellation_by_the_copy_that_speaks_for_the_meeting():
    cancelled = _event(isCancelled=True)
    plan = _plan(cancelled, known=_known())
    assert (plan.cancel, plan.leave) == ([42], [])
    # an attendee's cancelled copy while the organizer syncs: only this attendee leaves
    attendee_copy = _event(
        isCancelled=True, isOrganizer=False, organizer={"emailAddress": {"address": "o@x.org"}}
    )
    plan = _plan(attendee_copy, known=_known(copies=((OTHER, True), (ME, False))))
    assert (plan.cancel, plan.leave) == ([], ["E1"])


def test_copy_of_another_attendee_only_joins_the_meeting():
    copy = _event(isOrganizer=False, organizer={"emailAddress": {"address": "boss@client.com"}})
    (step,) = _plan(copy, known=_known(copies=((OTHER, False),), mine=False)).steps
    assert (step.shared, step.is_organizer) == (False, False)
    # without a syncing organizer the first mailbox that logged it stands in
    (step,) = _plan(copy, known=_known(copies=((ME, False), (OTHER, False)))).steps
    assert step.shared


def test_private_meetings():
    private = _event(sensitivity="private")
    (step,) = _plan(private).steps
    assert step.action == inbound.BLOCK_PRIVATE
    # logged, then made private: frozen once (body dropped), then nothing more to record
    (step,) = _plan(private, known=_known(has_description=True, is_private=True)).steps
    assert step.action == inbound.KEEP_PRIVATE
    (step,) = _plan(private, known=_known(is_private=False)).steps
    assert step.action == inbound.KEEP_PRIVATE
    assert not _plan(private, known=_known(is_private=True)).steps
    # first seen private: never logged, even once public
    plan = _plan(known=_known(state=inbound.PRIVATE))
    assert (plan.steps, plan.skipped) == ([], 1)


def test_speaks_for():
    organizer_syncs = _known(copies=((OTHER, True), (ME, False)))
    assert inbound_plan.speaks_for(organizer_syncs, ME, True)
    assert not inbound_plan.speaks_for(organizer_syncs, ME, False)
    lead = _known(copies=((ME, False), (OTHER, False)))
    assert inbound_plan.speaks_for(lead, ME, False)
    assert not inbound_plan.speaks_for(lead, OTHER, False)
    assert inbound_plan.speaks_for(_known(copies=()), OTHER, False)


# ----------------------------------------------------------------------
# Meeting fields
# ----------------------------------------------------------------------
def test_meeting_fields():
    (item,) = _items(
        _event(
            attendees=[
                {"emailAddress": {"address": "client@client.com", "name": "Client"}},
                {"emailAddress": {"address": "colleague@example.com"}},
            ],
            categories=["B", "A"],
            body={"contentType": "html", "content": "<p>Agenda</p>"},
            location={"displayName": "Room 1"},
        )
    )
    fields = inbound_plan.meeting_fields(item.values, _mailbox().user_emails)
    assert fields["start"] == datetime(2026, 11, 23, 9, 0)
    assert fields["stop"] == datetime(2026, 11, 23, 10, 0)
    assert fields["attendee_emails"] == [
        "me@example.com",
        "client@client.com",
        "colleague@example.com",
    ]
    assert fields["internal_user_ids"] == [(6, 0, [ME, OTHER])]
    assert (fields["categories"], fields["location"], fields["description"]) == (
        "A, B",
        "Room 1",
        "<p>Agenda</p>",
    )
    assert (fields["organizer_email"], fields["is_private"]) == ("me@example.com", False)


def test_attendee_emails_keep_outlooks_order():
    """Not the sorted order the comparisons use: the first contact in it holds the meeting's
    activities."""
    (item,) = _items(
        _event(
            attendees=[
                {"emailAddress": {"address": "zed@other.org"}},
                {"emailAddress": {"address": "ann@client.com"}},
                {"emailAddress": {"address": "Zed@Other.org"}},
            ]
        )
    )
    fields = inbound_plan.meeting_fields(item.values, _mailbox().user_emails)
    assert fields["attendee_emails"] == ["me@example.com", "zed@other.org", "ann@client.com"]
    assert item.values["attendees"] == ["ann@client.com", "zed@other.org"]


def test_all_day_datetimes():
    values = {"all_day": True, "start": "2026-11-23", "end": "2026-11-23"}
    assert inbound_plan.odoo_datetimes(values) == (
        datetime(2026, 11, 23),
        datetime(2026, 11, 24),
    )
    values["end"] = "2026-11-25"
    assert inbound_plan.odoo_datetimes(values)[1] == datetime(2026, 11, 25)
