"""Counters and item errors gathered during one sync run, written to the sync log at the end."""

from collections import defaultdict
from dataclasses import dataclass, field

COUNTERS = ("created", "updated", "deleted", "skipped", "failed")


@dataclass
class ItemError:
    option: str
    message: str
    res_model: str = ""
    res_id: int = 0
    event_id: str = ""
    level: str = "error"


@dataclass
class RunStats:
    """What one run did, per option ("activities", "events", "holidays")."""

    counts: dict = field(default_factory=lambda: defaultdict(lambda: dict.fromkeys(COUNTERS, 0)))
    items: list = field(default_factory=list)
    fatal: str = ""

    def count(self, option, what, n=1):
        if what not in COUNTERS:
            raise ValueError(f"Unknown counter {what!r}")
        self.counts[option][what] += n

    def error(self, option, message, res_model="", res_id=0, event_id="", level="error"):
        """Record an item-level problem; an "error" also counts the item as failed."""
        self.items.append(ItemError(option, message, res_model, res_id or 0, event_id, level))
        if level == "error":
            self.count(option, "failed")

    def touch(self, option):
        """Make the option appear in the log even when the run changed nothing."""
        return self.counts[option]

    def total(self, option):
        counts = self.counts.get(option) or {}
        return sum(counts.get(key, 0) for key in ("created", "updated", "deleted"))
