# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Rules deciding which Outlook meetings are logged in Odoo (services.inbound)."""

import pytest

from services import inbound
from services.graph_client import EXTENDED_PROPERTY_ID
from services.mapping import graph_to_values

DOMAINS = {"example.com"}
INTERNAL = {"boss@example.org": 7}


def _event(**kw):
    event = {
        "id": "E1",
        "iCalUId": "UID1",
        "type": "singleInstance",
        "subject": "Demo",
        "start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
        "sensitivity": "normal",
        "categories": [],
        "organizer": {"emailAddress": {"address": "me@example.com"}},
        "attendees": [{"emailAddress": {"address": "Client@Client.COM", "name": "Client"}}],
    }
    event.update(kw)
    return event


def _decide(event, state=None, **filters):
    values = graph_to_values(event)
    _internal, external = inbound.split_people(inbound.people(values), DOMAINS, INTERNAL)
    return inbound.decide(event, values, state, inbound.Filters(**filters), external)


def test_plain_meeting_with_external_attendee_is_logged():
    assert _decide(_event()).action == inbound.LOG


def test_internal_only_meeting_is_never_logged():
    event = _event(attendees=[{"emailAddress": {"address": "boss@example.org"}}])
    decision = _decide(event)
    assert (decision.action, decision.reason) == (inbound.SKIP, "internal meeting")


def test_internal_user_address_outside_domains_counts_as_internal():
    internal, external = inbound.split_people(
        ["me@example.com", "boss@example.org", "x@client.com"], DOMAINS, INTERNAL
    )
    assert internal == ["me@example.com", "boss@example.org"]
    assert external == ["x@client.com"]


def test_our_own_events_are_never_logged():
    assert _decide(_event(categories=["odoo"])).reason == "created by Odoo"
    props = [{"id": EXTENDED_PROPERTY_ID, "value": "mail.activity,3"}]
    event = _event(singleValueExtendedProperties=props)
    values = graph_to_values(event)
    decision = inbound.decide(event, values, None, inbound.Filters(), ["x@client.com"], "x")
    assert decision.action == inbound.SKIP


def test_series_master_is_ignored():
    assert _decide(_event(type="seriesMaster")).action == inbound.IGNORE


def test_private_rules():
    private = _event(sensitivity="private")
    assert _decide(private).action == inbound.BLOCK_PRIVATE
    assert _decide(_event(sensitivity="confidential")).action == inbound.BLOCK_PRIVATE
    assert _decide(private, include_private=True).action == inbound.LOG
    # first seen private, now public: still not logged
    assert _decide(_event(), state=inbound.PRIVATE).action == inbound.SKIP
    # logged, then made private: stays logged, but nothing more of it is copied
    decision = _decide(private, state=inbound.LOGGED)
    assert decision.action == inbound.KEEP_PRIVATE
    assert _decide(_event(sensitivity="confidential"), state=inbound.LOGGED).action == (
        inbound.KEEP_PRIVATE
    )
    # ... unless the user includes private events; a cancellation still applies
    assert _decide(private, state=inbound.LOGGED, include_private=True).action == inbound.LOG
    cancelled = _event(sensitivity="private", isCancelled=True)
    assert _decide(cancelled, state=inbound.LOGGED).action == inbound.CANCEL
    # public again: copied again
    assert _decide(_event(), state=inbound.LOGGED).action == inbound.LOG


def test_category_semantics():
    exclude = frozenset({"personal"})
    include = frozenset({"clients"})
    excluded = _event(categories=["Personal"])
    assert _decide(excluded, exclude_categories=exclude).action == inbound.SKIP
    # moved from an excluded to a synced category: logged
    moved = _event(categories=["Clients"])
    assert _decide(moved, exclude_categories=exclude).action == inbound.LOG
    # logged, then put in an excluded category: not removed, still updated
    assert _decide(excluded, inbound.LOGGED, exclude_categories=exclude).action == inbound.LOG
    # include list: only events in one of them
    assert _decide(_event(), include_categories=include).action == inbound.SKIP
    assert _decide(moved, include_categories=include).action == inbound.LOG
    # both lists match: exclusion wins
    both = _event(categories=["Clients", "Personal"])
    decision = _decide(both, include_categories=include, exclude_categories=exclude)
    assert decision.action == inbound.SKIP and "personal" in decision.reason


def test_cancelled_meeting():
    cancelled = _event(isCancelled=True)
    assert _decide(cancelled, state=inbound.LOGGED).action == inbound.CANCEL
    assert _decide(cancelled).action == inbound.SKIP


def test_cancel_on_removal():
    assert inbound.cancel_on_removal(True, ["other"])
    assert inbound.cancel_on_removal(False, [])
    assert not inbound.cancel_on_removal(False, ["other"])


def test_internal_domains_param_and_default():
    assert inbound.internal_domains(" @Example.com , corp.io ") == {"example.com", "corp.io"}
    fallback = ["info@company.com", "Boss <b@corp.io>", "", None]
    assert inbound.internal_domains("", fallback) == {"company.com", "corp.io"}


def test_people_are_cleaned_and_deduplicated():
    values = {
        "organizer": " Me@Example.com ",
        "attendees": ["me@example.com", "a@client.com", ""],
    }
    assert inbound.people(values) == ["me@example.com", "a@client.com"]


def test_meeting_key_occurrences():
    assert inbound.meeting_key(_event()) == ("UID1", "")
    occ = _event(type="occurrence", originalStart="2026-11-23T09:00:00Z")
    assert inbound.meeting_key(occ) == ("UID1", "2026-11-23T09:00:00Z")
    assert inbound.meeting_key({"id": "X"}) == ("X", "")


def test_truncate_description():
    short, cut = inbound.truncate_description("<p>hi</p>")
    assert (short, cut) == ("<p>hi</p>", False)
    long_html = "x" * (inbound.DESCRIPTION_MAX + 10)
    text, cut = inbound.truncate_description(long_html)
    assert cut and "truncated" in text and len(text) < len(long_html) + 300


def test_details_and_strip():
    details = inbound.details_html([("User", "Ann"), ("Location", ""), ("Company", "<ACME>")])
    assert "Location" not in details and "&lt;ACME&gt;" in details
    assert inbound.strip_details(details + "<p>body</p>", details) == "<p>body</p>"
    assert inbound.strip_details("<p>other</p>", details) == "<p>other</p>"


@pytest.mark.parametrize("subject", ["Réunion 🚀", "اجتماع المبيعات", "会议"])
def test_unicode_subjects_are_logged(subject):
    assert _decide(_event(subject=subject)).action == inbound.LOG


def test_odoo_ref_reads_our_extended_property_only():
    ours = {"id": EXTENDED_PROPERTY_ID.upper(), "value": "mail.activity,3"}
    other = {"id": "String {00000000-0000-0000-0000-000000000000} Name x", "value": "y"}
    assert inbound.odoo_ref(_event(singleValueExtendedProperties=[other, ours])) == (
        "mail.activity,3"
    )
    assert inbound.odoo_ref(_event(singleValueExtendedProperties=[other, "junk"])) is None
    assert inbound.odoo_ref(_event()) is None


# ----------------------------------------------------------------------
# The activities of a logged meeting
# ----------------------------------------------------------------------
PRIMARY, BOB, CAROL = 2, 3, 4
COMPANY, DAN, EVE = 100, 101, 102
COMMON = {"summary": "Review", "date_deadline": "2026-11-23"}


def _activity(id_, kind=inbound.ON_CONTACT, res_id=COMPANY, user_id=PRIMARY, **kw):
    values = {"summary": "Review", "date_deadline": "2026-11-23", **kw}
    return inbound.Activity(id_, kind, res_id, user_id, **values)


def _plan_activities(current, anchor=COMPANY, users=(PRIMARY,), note=None, owned=()):
    return inbound.plan_activities(current, anchor, list(users), COMMON, note, set(owned))


def test_anchor_is_the_company_else_the_first_contact_kept_while_it_attends():
    assert inbound.activity_anchor(False, COMPANY, [DAN, EVE]) == COMPANY
    assert inbound.activity_anchor(DAN, COMPANY, [DAN, EVE]) == COMPANY
    assert inbound.activity_anchor(False, False, [EVE, DAN]) == EVE  # Outlook's order
    # someone joins ahead of the anchor in Outlook's list: the activities stay where they are
    assert inbound.activity_anchor(DAN, False, [EVE, DAN]) == DAN
    # the anchor leaves: the first contact takes over
    assert inbound.activity_anchor(DAN, False, [EVE, 103]) == EVE
    assert inbound.activity_anchor(COMPANY, False, [EVE, DAN]) == EVE
    assert inbound.activity_anchor(DAN, False, []) is False
    # one contact: on their own timeline, company or not
    assert inbound.activity_anchor(False, COMPANY, [DAN]) == DAN
    assert inbound.activity_anchor(COMPANY, COMPANY, [DAN]) == DAN


def test_timeline_notes_for_every_other_contact_once():
    assert inbound.timeline_contacts([DAN, EVE], COMPANY, []) == [DAN, EVE]
    assert inbound.timeline_contacts([DAN, EVE], DAN, []) == [EVE]
    assert inbound.timeline_contacts([DAN, EVE, 103], DAN, [EVE]) == [103]
    assert inbound.timeline_contacts([DAN], DAN, []) == []


def test_one_activity_per_user_whatever_the_contacts():
    plan = _plan_activities([], users=(PRIMARY, BOB, CAROL, BOB))
    assert plan.create == [PRIMARY, BOB, CAROL]
    assert (plan.writes, plan.unlink) == ([], [])


def test_activities_in_step_are_left_alone():
    current = [_activity(1), _activity(2, user_id=BOB)]
    plan = _plan_activities(current, users=(PRIMARY, BOB))
    assert (plan.writes, plan.unlink, plan.create) == ([], [], [])


def test_activities_follow_the_meeting():
    current = [
        _activity(1, summary="Old", date_deadline="2026-11-20"),
        _activity(2, user_id=BOB, summary=False),
    ]
    plan = _plan_activities(current, users=(PRIMARY, BOB), note="<p>new</p>")
    assert plan.writes == [
        (1, {**COMMON, "note": "<p>new</p>"}),
        (2, {"summary": "Review", "note": "<p>new</p>"}),
    ]


def test_fields_edited_in_odoo_are_kept():
    current = [_activity(1, summary="Mine", date_deadline="2026-11-30")]
    owned = ("1:summary", "1:time", "1:note")
    assert _plan_activities(current, note="<p>new</p>", owned=owned).writes == []
    assert _plan_activities(current, owned=("1:summary",)).writes == [
        (1, {"date_deadline": "2026-11-23"})
    ]


def test_activities_move_with_the_anchor_keeping_their_edits():
    current = [_activity(1, res_id=DAN), _activity(2, inbound.ON_MEETING, 9, BOB)]
    plan = _plan_activities(current, anchor=EVE, users=(PRIMARY, BOB), owned=("1:note",))
    assert plan.writes == [(1, {"res_id": EVE}), (2, {"res_id": EVE})]
    assert (plan.unlink, plan.create) == ([], [])


def test_one_per_contact_as_logged_before_converges_to_one_per_user():
    current = [
        _activity(1, res_id=DAN),
        _activity(2, res_id=EVE),  # on the anchor
        _activity(3, res_id=103),
        _activity(4, res_id=DAN, user_id=BOB),
        _activity(5, res_id=EVE, user_id=BOB),  # Bob rewrote this one's note
        _activity(6, inbound.ON_MEETING, 9, CAROL),  # an attendee's to-do on the meeting
    ]
    plan = _plan_activities(current, anchor=EVE, users=(PRIMARY, BOB, CAROL), owned=("5:note",))
    assert plan.unlink == [1, 3, 4]
    assert plan.writes == [(6, {"res_id": EVE})]
    assert plan.create == []
    # the edited note wins over the place: the one kept moves, with its note
    plan = _plan_activities(current[:2], anchor=EVE, owned=("1:note",), note="<p>new</p>")
    assert (plan.unlink, plan.writes) == ([2], [(1, {"res_id": EVE})])


def test_activities_of_users_no_longer_concerned_go():
    current = [_activity(1), _activity(2, user_id=CAROL), _activity(3, "", 9, BOB)]
    plan = _plan_activities(current, users=(PRIMARY, BOB))
    assert plan.unlink == [2]
    assert plan.writes == [(3, {"res_id": COMPANY})]


def test_unassigned_primary_still_gets_one_activity():
    plan = inbound.plan_activities([], DAN, [False], COMMON, None, set())
    assert plan.create == [False]
    current = [_activity(1, res_id=DAN, user_id=False)]
    assert inbound.plan_activities(current, DAN, [False], COMMON, None, set()).writes == []
