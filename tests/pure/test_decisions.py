"""Field-level merge and conflict rules (services.decisions)."""

from datetime import datetime

import pytest

from services import decisions

BASE = {"subject": "Call", "start": "2026-01-05", "location": "Office", "body": "<p>a</p>"}


def test_edits_to_different_fields_both_survive():
    ours = {**BASE, "subject": "Call back"}
    theirs = {**BASE, "start": "2026-01-07"}
    result = decisions.merge(BASE, ours, theirs, inbound_fields={"start", "subject"})
    assert result.values["subject"] == "Call back"
    assert result.values["start"] == "2026-01-07"
    assert result.to_odoo == {"start": "2026-01-07"}
    assert result.to_outlook == {"subject": "Call back"}
    assert result.conflicts == []


@pytest.mark.parametrize(
    ("rule", "odoo_is_newer", "winner"),
    [
        ("odoo", False, "Odoo title"),
        ("outlook", True, "Outlook title"),
        ("newest", True, "Odoo title"),
        ("newest", False, "Outlook title"),
    ],
)
def test_same_field_rules(rule, odoo_is_newer, winner):
    ours = {**BASE, "subject": "Odoo title"}
    theirs = {**BASE, "subject": "Outlook title"}
    result = decisions.merge(BASE, ours, theirs, {"subject"}, rule, odoo_is_newer)
    assert result.values["subject"] == winner
    assert result.conflicts == [("subject", "odoo" if winner == "Odoo title" else "outlook")]
    if winner == "Odoo title":
        assert result.to_outlook == {"subject": "Odoo title"} and not result.to_odoo
    else:
        assert result.to_odoo == {"subject": "Outlook title"} and not result.to_outlook


def test_non_inbound_field_never_reaches_odoo_and_is_restored_when_asked():
    theirs = {**BASE, "subject": "renamed in Outlook"}
    kept = decisions.merge(BASE, BASE, theirs, {"start"}, restore_outlook=False)
    assert kept.values["subject"] == "Call" and not kept.to_odoo and not kept.to_outlook
    restored = decisions.merge(BASE, BASE, theirs, {"start"}, restore_outlook=True)
    assert restored.to_outlook == {"subject": "Call"} and not restored.to_odoo


def test_without_snapshot_odoo_wins():
    theirs = {**BASE, "start": "2026-02-01"}
    result = decisions.merge({}, BASE, theirs, {"start"})
    assert result.to_outlook == {"start": "2026-01-05"} and not result.to_odoo


def test_equal_values_change_nothing():
    result = decisions.merge(BASE, dict(BASE), dict(BASE), {"start", "subject"})
    assert result.values == BASE and not result.to_odoo and not result.to_outlook


def test_unknown_rule_rejected():
    with pytest.raises(ValueError, match="conflict rule"):
        decisions.merge(BASE, BASE, BASE, set(), "coin-toss")


def test_split_categories_is_case_insensitive_and_ignores_blanks():
    assert decisions.split_categories(" Red category, ,blue ,RED CATEGORY") == {
        "red category",
        "blue",
    }
    assert decisions.split_categories(None) == set()


def test_prevented_operations():
    prevented = decisions.Prevented(outlook_delete=True)
    assert not prevented.allows("outlook", "delete")
    assert prevented.allows("odoo", "delete")
    assert prevented.allows("outlook", "create")


# What follows from a merge when Outlook changed one of our events (plan_inbound).
DAY = {"all_day": True, "start": "2026-03-02", "end": "2026-03-03"}
VALUES = {"subject": "Call: Ann", "body": "<p>x</p>", **DAY}
ACTIVITY = decisions.KindRules(frozenset({"start", "end", "all_day"}), False, True)
LEAVE = decisions.KindRules(frozenset(), True, False)


def test_outlook_move_comes_to_odoo_and_other_edits_are_remembered():
    theirs = {**VALUES, "start": "2026-03-09", "end": "2026-03-10", "subject": "Renamed"}
    plan = decisions.plan_inbound(VALUES, VALUES, theirs, ACTIVITY, "newest", False)
    assert plan.to_odoo == {"start": "2026-03-09", "end": "2026-03-10"}
    # Outlook's subject is in the snapshot: the next Odoo change overwrites it, not at once.
    assert plan.snapshot == theirs
    assert not plan.push_back and not plan.restored


def test_odoo_winning_a_field_outlook_may_change_is_pushed_back():
    ours = {**VALUES, "start": "2026-03-03", "end": "2026-03-04"}
    theirs = {**VALUES, "start": "2026-03-09", "end": "2026-03-10"}
    plan = decisions.plan_inbound(VALUES, ours, theirs, ACTIVITY, "odoo", False)
    assert plan.to_odoo == {}
    assert plan.push_back
    # The snapshot keeps Outlook's times, so the push sends Odoo's.
    assert (plan.snapshot["start"], plan.snapshot["end"]) == ("2026-03-09", "2026-03-10")


def test_a_kind_outlook_never_changes_is_restored():
    theirs = {**VALUES, "subject": "Renamed", "start": "2026-03-09", "end": "2026-03-10"}
    plan = decisions.plan_inbound(VALUES, VALUES, theirs, LEAVE, "newest", False)
    assert plan.to_odoo == {}
    assert plan.push_back
    assert plan.restored == ["end", "start", "subject"]
    assert plan.snapshot["subject"] == "Renamed", "Outlook's value, so the push restores it"


def test_odoo_is_newer_only_after_the_last_sync_and_outlooks_edit():
    synced, written = datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10)
    assert decisions.odoo_is_newer(written, synced, "2026-03-02T09:30:00.1234567Z")
    assert not decisions.odoo_is_newer(written, synced, "2026-03-02T10:30:00Z")
    assert not decisions.odoo_is_newer(synced, written, None), "not written since the sync"
    assert not decisions.odoo_is_newer(written, None, None), "never synced"
