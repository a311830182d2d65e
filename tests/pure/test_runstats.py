"""RunStats: items listed up to a cap, counted beyond it."""

import pytest

from services import runstats
from services.runstats import TO_ODOO, TO_OUTLOOK, RunStats


def test_items_are_counted_and_listed_with_their_reason():
    stats = RunStats()
    stats.item("activities", "created", TO_OUTLOOK, res_model="mail.activity", res_id=4)
    stats.item("events", "skipped", TO_ODOO, event_id="E1", subject="Stand-up", reason="internal")
    assert stats.counts["activities"]["created"] == 1
    assert stats.counts["events"]["skipped"] == 1
    assert [(i.option, i.operation, i.direction, i.reason) for i in stats.done] == [
        ("activities", "created", TO_OUTLOOK, ""),
        ("events", "skipped", TO_ODOO, "internal"),
    ]
    with pytest.raises(ValueError):
        stats.item("activities", "failed", TO_OUTLOOK)  # a failure is an error, with its message


def test_items_beyond_the_cap_are_only_counted(monkeypatch):
    monkeypatch.setattr(runstats, "MAX_LISTED", 3)
    stats = RunStats()
    for res_id in range(5):
        stats.item("activities", "created", TO_OUTLOOK, res_id=res_id)
    stats.item("events", "created", TO_ODOO, event_id="E1")
    assert stats.counts["activities"]["created"] == 5
    assert [item.res_id for item in stats.done if item.option == "activities"] == [0, 1, 2]
    assert stats.unlisted == {"activities": 2}
    assert len([item for item in stats.done if item.option == "events"]) == 1


def test_withdraw_takes_back_a_listed_item():
    stats = RunStats()
    stats.item("events", "created", TO_ODOO, event_id="E1")
    stats.item("events", "created", TO_ODOO, event_id="E2")
    stats.withdraw("events", "created", "E1")
    assert stats.counts["events"]["created"] == 1
    assert [item.event_id for item in stats.done] == ["E2"]


def test_outlook_nul_characters_are_dropped_from_the_listed_texts():
    """PostgreSQL refuses NUL in text; Outlook's subjects may hold it."""
    stats = RunStats()
    stats.item("events", "skipped", TO_ODOO, subject="Stand\x00-up", reason="in\x00ternal")
    stats.error("events", "not logged", subject="Re\x00view")
    assert (stats.done[0].subject, stats.done[0].reason) == ("Stand-up", "internal")
    assert stats.items[0].subject == "Review"
