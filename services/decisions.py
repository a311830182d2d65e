"""Decision logic shared by every synced kind: field-level merge and conflict rules.

Every synced record is compared through a *normalized values* dict (see ``services.mapping``):
the same keys on both sides (``subject``, ``body``, ``start``, ``end``, ``all_day``, ``location``,
``attendees``, ...), so one merge serves activities, meetings and leaves. :func:`merge` is the
three-way merge; :func:`plan_inbound` says what follows from it when Outlook changed one of our
events (what Odoo takes, what the link remembers, what goes back to Outlook).
"""

from dataclasses import dataclass, field

ODOO_WINS = "odoo"
OUTLOOK_WINS = "outlook"
NEWEST_WINS = "newest"
SAME_FIELD_RULES = (ODOO_WINS, OUTLOOK_WINS, NEWEST_WINS)

DELETE_WINS = "delete"
UPDATE_WINS = "update"


@dataclass
class MergeResult:
    """Outcome of merging an item changed on one or both sides since the last sync."""

    values: dict = field(default_factory=dict)  # the new common state (next snapshot)
    to_odoo: dict = field(default_factory=dict)  # fields Odoo must take from Outlook
    to_outlook: dict = field(default_factory=dict)  # fields Outlook must take from Odoo
    conflicts: list = field(default_factory=list)  # (field, winner) for fields changed on both


def merge(
    base,
    ours,
    theirs,
    inbound_fields,
    same_field_rule=NEWEST_WINS,
    odoo_is_newer=False,
    restore_outlook=True,
):
    """Three-way merge of ``ours`` (Odoo) and ``theirs`` (Outlook) against ``base``.

    - A field changed on one side only takes that side's value (edits to different fields both
      survive).
    - A field changed on both sides to different values follows ``same_field_rule``.
    - Fields outside ``inbound_fields`` never flow from Outlook to Odoo: Odoo's value stays and,
      when ``restore_outlook`` is set, Outlook is put back to it.
    ``base`` may be empty (never synced): then Odoo's values win, as for a first push.
    """
    if same_field_rule not in SAME_FIELD_RULES:
        raise ValueError(f"Unknown conflict rule {same_field_rule!r}")
    base = base or {}
    result = MergeResult()
    for name in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(name), theirs.get(name)
        if name not in theirs:
            result.values[name] = mine
            continue
        if name not in ours:
            result.values[name] = other
            continue
        if mine == other:
            result.values[name] = mine
            continue
        if name not in inbound_fields:
            result.values[name] = mine
            if restore_outlook:
                result.to_outlook[name] = mine
            continue
        if not base:
            winner = ODOO_WINS
        else:
            odoo_changed = mine != base.get(name)
            outlook_changed = other != base.get(name)
            if outlook_changed and not odoo_changed:
                winner = OUTLOOK_WINS
            elif odoo_changed and not outlook_changed:
                winner = ODOO_WINS
            else:
                winner = _same_field_winner(same_field_rule, odoo_is_newer)
                result.conflicts.append((name, winner))
        if winner == ODOO_WINS:
            result.values[name] = mine
            result.to_outlook[name] = mine
        else:
            result.values[name] = other
            result.to_odoo[name] = other
    return result


def odoo_is_newer(write_date, last_sync, outlook_modified):
    """Whether Odoo's edit is the newer one, for the "newest wins" rule: the record was written
    after the last sync (naive UTC datetimes) and after Outlook's ``lastModifiedDateTime``
    (ISO text, compared to the second)."""
    return bool(
        write_date
        and last_sync
        and write_date > last_sync
        and (outlook_modified or "")[:19] < write_date.isoformat()
    )


def _same_field_winner(rule, odoo_is_newer):
    if rule == NEWEST_WINS:
        return ODOO_WINS if odoo_is_newer else OUTLOOK_WINS
    return rule


@dataclass(frozen=True)
class KindRules:
    """How Outlook-side edits of one kind of record are taken (see ``office365.sync.mixin``)."""

    inbound_fields: frozenset = frozenset()  # what Outlook may change in Odoo
    restore_outlook: bool = False  # other Outlook edits are put back at once
    snapshot_outlook: bool = False  # ... or remembered, and overwritten by the next push


@dataclass
class InboundPlan:
    """What follows from Outlook's version of one of our events."""

    to_odoo: dict  # fields the Odoo record takes from Outlook
    snapshot: dict  # the link's synced values after this read
    push_back: bool = False  # Odoo's value must go (back) to Outlook: the link is queued
    restored: list = field(default_factory=list)  # fields put back in Outlook (for the log)


def plan_inbound(base, ours, theirs, rules, same_field_rule, odoo_is_newer):
    """Merge Outlook's values ``theirs`` with Odoo's ``ours`` against the snapshot ``base``.

    ``rules`` is the kind's :class:`KindRules`. The snapshot after the merge is what Outlook
    shows now, so that the next push sends exactly what Odoo must still change there: the
    fields Odoo won keep Outlook's value in it, and so do the fields Outlook may not change
    (kinds with ``snapshot_outlook``) when they are not put back at once.
    """
    result = merge(
        base,
        ours,
        theirs,
        rules.inbound_fields,
        same_field_rule,
        odoo_is_newer,
        rules.restore_outlook,
    )
    snapshot = result.values
    if rules.snapshot_outlook and not rules.restore_outlook:
        snapshot = {
            **result.values,
            **{
                key: theirs[key]
                for key in set(ours) & set(theirs)
                if key not in rules.inbound_fields
            },
        }
    plan = InboundPlan(result.to_odoo, snapshot)
    odoo_won = [key for key in result.to_outlook if key in rules.inbound_fields]
    if odoo_won:
        # Changed in Odoo only, or Odoo won the same-field rule: the push sends Odoo's value.
        plan.snapshot = {**snapshot, **{key: theirs.get(key) for key in odoo_won}}
        plan.push_back = True
    if result.to_outlook and rules.restore_outlook:
        plan.snapshot = {
            **result.values,
            **{key: theirs.get(key) for key in result.to_outlook},
        }
        plan.push_back = True
        plan.restored = sorted(result.to_outlook)
    return plan


def split_categories(text):
    """Parse a comma-separated category list, case-insensitively, ignoring blanks."""
    return {part.strip().casefold() for part in (text or "").split(",") if part.strip()}


@dataclass(frozen=True)
class Prevented:
    """Operations the user (or the admin, for everyone) forbids, per side."""

    odoo_create: bool = False
    odoo_update: bool = False
    odoo_delete: bool = False
    outlook_create: bool = False
    outlook_update: bool = False
    outlook_delete: bool = False

    def allows(self, side, operation):
        return not getattr(self, f"{side}_{operation}")
