"""What a sync run decides: routing a page, reconciling a round, planning pushes and merges."""

from services import sync_plan
from services.decisions import Prevented
from services.graph_client import EXTENDED_PROPERTY_ID

DAY = {"all_day": True, "start": "2026-03-02", "end": "2026-03-03"}
VALUES = {"subject": "Call: Ann", "body": "<p>x</p>", **DAY}


def _event(event_id, categories=(), ref=None):
    event = {"id": event_id, "categories": list(categories)}
    if ref:
        event["singleValueExtendedProperties"] = [{"id": EXTENDED_PROPERTY_ID, "value": ref}]
    return event


# ----- routing -------------------------------------------------------------------------------
def test_sort_page_by_destination():
    linked, mine, theirs, flagged = (
        _event("A"),
        _event("B", ["Odoo"]),
        _event("C", ["Customers"]),
        _event("D", ref="mail.activity,4"),
    )
    page = sync_plan.sort_page([linked, mine, "junk", {}, theirs, flagged], {"A": 1}, "Odoo")
    assert page.linked == {"A": linked}
    assert page.unlinked_ours == [mine, flagged]
    assert page.foreign == [theirs]
    assert page.malformed == ["junk", {}]


def test_sort_page_keeps_occurrences_of_our_series_apart():
    """An occurrence carries its series' category and identity: it is neither adopted nor an
    orphan; someone else's occurrence is foreign."""
    ours = {**_event("O", ["Odoo"], "calendar.recurrence,3"), "type": "occurrence"}
    exception = {**_event("E", ["Odoo"]), "type": "exception"}
    theirs = {**_event("T", ["Customers"]), "type": "occurrence"}
    master = {**_event("M", ["Odoo"], "calendar.recurrence,3"), "type": "seriesMaster"}
    page = sync_plan.sort_page([ours, exception, theirs, master], {}, "Odoo")
    assert page.occurrences == [ours, exception]
    assert page.unlinked_ours == [master]
    assert page.foreign == [theirs]


def test_split_by_ref_keeps_identities_and_returns_the_others():
    ours = _event("A", ["Odoo"], "mail.activity,7")
    category_only = _event("B", ["Odoo"])
    unreadable = _event("C", ["Odoo"], "mail.activity,seven")
    refs, others = sync_plan.split_by_ref([ours, category_only, unreadable])
    assert refs == {("mail.activity", 7): ours}
    assert others == [category_only], "an identity without a record id is neither"


def test_our_ref_ignores_other_and_malformed_properties():
    event = {
        "singleValueExtendedProperties": [
            "junk",
            {"id": None},
            {"id": "String {x} Name other", "value": "no"},
            {"id": EXTENDED_PROPERTY_ID.upper(), "value": "hr.leave,3"},
        ]
    }
    assert sync_plan.odoo_ref(event) == "hr.leave,3"
    assert sync_plan.odoo_ref({}) is None


def test_missing_events_are_the_unseen_ones_inside_the_window():
    snapshots = [
        ("seen", {"start": "2026-03-05", "end": "2026-03-06"}),
        ("gone", {"start": "2026-03-05T09:00:00", "end": "2026-03-05T10:00:00"}),
        ("before", {"start": "2026-01-01", "end": "2026-01-02"}),
        ("after", {"start": "2026-06-01", "end": "2026-06-02"}),
        ("never-synced", None),
    ]
    missing = sync_plan.missing_events(snapshots, {"seen"}, "2026-03-01", "2026-04-01")
    assert missing == ["gone"]


def test_delta_key_is_short_and_stable():
    key = sync_plan.delta_key("https://graph/delta?$deltatoken=1")
    assert key == sync_plan.delta_key("https://graph/delta?$deltatoken=1")
    assert key != sync_plan.delta_key("https://graph/delta?$deltatoken=2")
    assert len(key) == 16
    assert sync_plan.delta_key(None) is None


def test_orphans_are_events_no_link_will_own():
    # The record is this mailbox's and its link holds this event (or none yet): not an orphan.
    assert not sync_plan.is_orphan("E1", 7, "E1", 7)
    assert not sync_plan.is_orphan("E1", 7, None, 7)
    # A second copy, a record for another mailbox, a record gone (no target).
    assert sync_plan.is_orphan("E2", 7, "E1", 7)
    assert sync_plan.is_orphan("E1", 8, None, 7)
    assert sync_plan.is_orphan("E1", None, None, 7)


# ----- pushing -------------------------------------------------------------------------------
def test_new_record_is_created_in_our_category():
    plan = sync_plan.plan_push(VALUES, None, False, Prevented(), "Odoo")
    assert plan.action == sync_plan.CREATE
    assert plan.values == {**VALUES, "categories": ["Odoo"]}
    assert plan.snapshot == plan.values
    leave = {**VALUES, "categories": ["Holiday"]}
    assert sync_plan.plan_push(leave, None, False, Prevented(), "Odoo").values == leave


def test_prevented_create_sends_nothing():
    plan = sync_plan.plan_push(VALUES, None, False, Prevented(outlook_create=True), "Odoo")
    assert plan.action == sync_plan.CREATE_PREVENTED


def test_update_sends_the_changed_fields_and_times_together():
    previous = {**VALUES, "categories": ["Odoo"]}
    moved = {**VALUES, "end": "2026-03-04"}
    plan = sync_plan.plan_push(moved, previous, True, Prevented(), "Odoo")
    assert plan.action == sync_plan.UPDATE
    assert plan.values == {"all_day": True, "start": "2026-03-02", "end": "2026-03-04"}
    assert plan.snapshot == {**previous, "end": "2026-03-04"}


def test_attendee_names_go_with_attendees_only():
    previous = {"attendees": ["a@x.com"], "attendee_names": {"a@x.com": "A"}}
    renamed = {"attendees": ["a@x.com"], "attendee_names": {"a@x.com": "Ann"}}
    assert sync_plan.plan_push(renamed, previous, True, Prevented(), "Odoo").action == (
        sync_plan.UNCHANGED
    )
    invited = {"attendees": ["a@x.com", "b@x.com"], "attendee_names": {"b@x.com": "B"}}
    plan = sync_plan.plan_push(invited, previous, True, Prevented(), "Odoo")
    assert plan.values == invited


def test_unchanged_or_prevented_update_sends_nothing():
    assert sync_plan.plan_push(VALUES, VALUES, True, Prevented(), "Odoo").action == (
        sync_plan.UNCHANGED
    )
    changed = {**VALUES, "subject": "Call: Bob"}
    plan = sync_plan.plan_push(changed, VALUES, True, Prevented(outlook_update=True), "Odoo")
    assert plan.action == sync_plan.UPDATE_PREVENTED


def test_series_time_change_sends_zone_and_rule_with_the_times():
    """Graph checks a series' range against its start: they go together."""
    prevented = Prevented()
    previous = {
        "start": "2027-03-15T09:00:00",
        "end": "2027-03-15T10:00:00",
        "all_day": False,
        "time_zone": "Europe/Brussels",
        "recurrence": {"r": 1},
        "subject": "S",
    }
    values = {**previous, "start": "2027-03-15T12:00:00", "end": "2027-03-15T13:00:00"}
    plan = sync_plan.plan_push(values, previous, True, prevented, "Odoo")
    assert plan.action == sync_plan.UPDATE
    assert set(plan.values) == {"start", "end", "all_day", "time_zone", "recurrence"}
