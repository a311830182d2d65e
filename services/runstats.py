"""Counters, items and item errors gathered during one sync run, written to the sync log at
the end."""

from collections import defaultdict
from dataclasses import dataclass, field

COUNTERS = ("created", "updated", "deleted", "skipped", "failed")

# The way an item went (``office365.sync.log.line.direction``).
TO_OUTLOOK = "to_outlook"
TO_ODOO = "to_odoo"

# Items listed per run and option: a first push of 20,000 activities counts them all but lists
# only the first ones, so one run never writes 20,000 log rows (the run says how many more).
MAX_LISTED = 500


def _text(value):
    """A text for the log: Outlook's strings may hold NUL characters, which PostgreSQL refuses."""
    return str(value or "").replace("\x00", "")


@dataclass
class ItemError:
    option: str
    message: str
    res_model: str = ""
    res_id: int = 0
    event_id: str = ""
    level: str = "error"
    direction: str = ""
    subject: str = ""


@dataclass
class ItemDone:
    """One item a run created, updated, deleted or skipped (``operation``), and why."""

    option: str
    operation: str
    direction: str
    res_model: str = ""
    res_id: int = 0
    event_id: str = ""
    subject: str = ""
    reason: str = ""


@dataclass
class RunStats:
    """What one run did, per option ("activities", "events", "holidays")."""

    counts: dict = field(default_factory=lambda: defaultdict(lambda: dict.fromkeys(COUNTERS, 0)))
    items: list = field(default_factory=list)
    done: list = field(default_factory=list)
    unlisted: dict = field(default_factory=lambda: defaultdict(int))
    fatal: str = ""
    _listed: dict = field(default_factory=lambda: defaultdict(int), repr=False)

    def count(self, option, what, n=1):
        if what not in COUNTERS:
            raise ValueError(f"Unknown counter {what!r}")
        self.counts[option][what] += n

    def item(
        self,
        option,
        operation,
        direction,
        *,
        res_model="",
        res_id=0,
        event_id="",
        subject="",
        reason="",
    ):
        """Count one item ``operation`` ("created", "updated", "deleted", "skipped") and list
        it, up to ``MAX_LISTED`` items per option (the others are only counted)."""
        if operation == "failed":
            raise ValueError("A failed item is an error: use RunStats.error")
        self.count(option, operation)
        if self._listed[option] >= MAX_LISTED:
            self.unlisted[option] += 1
            return
        self._listed[option] += 1
        self.done.append(
            ItemDone(
                option,
                operation,
                direction,
                res_model or "",
                res_id or 0,
                event_id or "",
                _text(subject)[:200],
                _text(reason),
            )
        )

    def withdraw(self, option, operation, event_id):
        """Take back an item counted too early (a meeting whose creation then failed)."""
        self.count(option, operation, -1)
        for index, item in enumerate(self.done):
            if (item.option, item.operation, item.event_id) == (option, operation, event_id):
                del self.done[index]
                self._listed[option] -= 1
                return
        if self.unlisted[option]:
            self.unlisted[option] -= 1

    def error(
        self,
        option,
        message,
        res_model="",
        res_id=0,
        event_id="",
        level="error",
        direction="",
        subject="",
    ):
        """Record an item-level problem; an "error" also counts the item as failed."""
        self.items.append(
            ItemError(
                option,
                message,
                res_model,
                res_id or 0,
                event_id,
                level,
                direction,
                _text(subject)[:200],
            )
        )
        if level == "error":
            self.count(option, "failed")

    def touch(self, option):
        """Make the option appear in the log even when the run changed nothing."""
        return self.counts[option]

    def total(self, option):
        counts = self.counts.get(option) or {}
        return sum(counts.get(key, 0) for key in ("created", "updated", "deleted"))
