"""Field-level merge and conflict rules (services.decisions)."""

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
