# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What every record pushed to Outlook shares: change tracking and the inbound merge.

A concrete model (activity, meeting, leave) inherits this mixin and provides only its mapping:

- ``_o365_kind`` and ``_o365_watched_fields`` (a write to one of them re-pushes the record);
- ``_o365_targets()``: record id -> user id whose mailbox gets the event (False: none);
- ``_o365_values_batch(account, links)``: the records as normalized values
  (``services/mapping.py``), ``{link id: (values, notes)}`` with the sync log's
  :class:`~..services.sync_plan.Note` list; ``values`` is the ``MappingError`` of a record
  Outlook cannot show. One call per push (and per page read), so a kind reads what its values
  need in a few queries;
- ``_o365_inbound_fields`` and ``_o365_write_inbound()``: what Outlook may change in Odoo;
- ``_o365_restore_outlook``: whether other Outlook-side edits are put back at once.

Every kind has the ``o365_do_not_sync`` box ("Do Not Sync"): its ``_o365_targets()`` maps a
ticked record to False, so the event leaves Outlook through the normal push.

``office365.link`` pushes (see its module); this mixin records changes and takes Outlook's.
"""

import logging

from odoo import api, fields, models

from ..services import decisions, mapping
from ..services.constants import CTX_INBOUND, KIND_OPTION
from ..services.runstats import TO_ODOO

_logger = logging.getLogger(__name__)


class Office365SyncMixin(models.AbstractModel):
    _name = "office365.sync.mixin"
    _description = "Record pushed to Office 365 calendars"

    _o365_kind = None
    _o365_watched_fields = ()
    _o365_inbound_fields = frozenset()
    _o365_restore_outlook = False
    # Remember Outlook's value of the fields it may not change (subject, body...), so that the
    # next push from Odoo overwrites an Outlook-side edit (without restoring it at once).
    _o365_snapshot_outlook = False

    o365_do_not_sync = fields.Boolean(
        "Do not sync to Outlook",
        help="Keep this record out of Office 365 calendars: its Outlook event, if any, is "
        "removed on the next sync; untick to show it there again.",
    )

    # ------------------------------------------------------------------
    # Change tracking
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not self.env.context.get(CTX_INBOUND):
            records._o365_touch()
        return records

    def write(self, vals):
        result = super().write(vals)
        watched = {*self._o365_watched_fields, "o365_do_not_sync"}
        if not self.env.context.get(CTX_INBOUND) and set(vals) & watched:
            self._o365_touch()
        return result

    def unlink(self):
        if self.ids:
            self.env["office365.link"]._o365_mark(
                self._o365_kind, self._name, dict.fromkeys(self.ids, False)
            )
        return super().unlink()

    def _o365_touch(self):
        """Queue these records for the sync job (or for removal from Outlook)."""
        if not self or not self._o365_kind:
            return
        if not self.env["res.users.settings"]._o365_any_enabled():
            if (
                not self.env["office365.link"]
                .sudo()
                .search_count([("res_model", "=", self._name), ("res_id", "in", self.ids)], limit=1)
            ):
                return
        self.env["office365.link"]._o365_mark(self._o365_kind, self._name, self._o365_targets())

    def _o365_keep_while_stopped(self, records):
        """Records of users who stopped the option keep their link (nothing is sent meanwhile).

        An edit made while stopped is then pushed when the user starts again, and the event
        stays in Outlook instead of being queued for removal.
        """
        if not records:
            return {}
        links = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("res_model", "=", records._name),
                    ("res_id", "in", records.ids),
                    ("state", "!=", "detached"),
                    # Stop Syncing with removal: an edit does not keep the event in Outlook.
                    ("removing", "=", False),
                ]
            )
        )
        owner = {link.res_id: link.user_id.id for link in links}
        return {
            record.id: record.user_id.id
            for record in records
            if owner.get(record.id) == record.user_id.id
        }

    def _o365_targets(self):
        raise NotImplementedError

    def _o365_values_batch(self, account, links):
        raise NotImplementedError

    def _o365_write_inbound(self, link, changes, theirs, stats):
        """Apply Outlook's ``changes`` (normalized keys) to this record."""
        raise NotImplementedError

    def _o365_pushed(self, pairs):
        """Graph's answers to this kind's writes, ``[(record, event)]``: nothing to read back by
        default (meetings read their Teams join link)."""

    def _o365_option(self):
        return KIND_OPTION[self._o365_kind]

    # ------------------------------------------------------------------
    # Inbound: Outlook changed (or deleted) one of our events
    # ------------------------------------------------------------------
    @api.model
    def _o365_apply_remote(self, links, events, account, stats):
        """Merge Outlook's version of our events into Odoo (field-level, per the user's rules)."""
        records = self.sudo().with_context(active_test=False).browse(links.mapped("res_id"))
        by_id = {rec.id: rec for rec in records.exists()}
        # Our own write coming back (the changeKey we stored) changes nothing.
        changed = links.filtered(
            lambda ln: (
                not events[ln.id].get("changeKey")
                or events[ln.id].get("changeKey") != ln.change_key
            )
        )
        for link in changed.filtered(lambda ln: ln.res_id not in by_id):
            if link.state == "to_delete":  # deleted in Odoo meanwhile: the user's delete rule
                self._o365_deleted_here_updated_there(link, account, stats)
        changed = changed.filtered(lambda ln: ln.res_id in by_id)
        if not changed:
            return
        mine = records.browse([link.res_id for link in changed])
        ours = mine._o365_values_batch(account, changed)
        rules = decisions.KindRules(
            self._o365_inbound_fields, self._o365_restore_outlook, self._o365_snapshot_outlook
        )
        prevented = account._o365_prevented()
        same_field_rule = account._o365_setting("o365_same_field_rule") or decisions.NEWEST_WINS
        for link in changed:
            event, record = events[link.id], by_id[link.res_id]
            values, _notes = ours[link.id]
            try:
                theirs = mapping.graph_to_values(event)
            except ValueError as exc:
                values = exc
            if isinstance(values, ValueError):
                self._o365_not_applied(link, event, values, stats)
                continue
            odoo_is_newer = decisions.odoo_is_newer(
                record.write_date, link.last_sync, event.get("lastModifiedDateTime")
            )
            plan = decisions.plan_inbound(
                link.synced_values, values, theirs, rules, same_field_rule, odoo_is_newer
            )
            vals = {
                "change_key": event.get("changeKey") or link.change_key,
                "synced_values": plan.snapshot,
                "last_sync": fields.Datetime.now(),
            }
            if plan.push_back and link.state != "to_delete":
                # (an event queued for deletion is not put back: it leaves Outlook anyway)
                vals["state"] = "pending"
            if plan.to_odoo:
                if prevented.allows("odoo", "update"):
                    record.with_context(**{CTX_INBOUND: True})._o365_write_inbound(
                        link, plan.to_odoo, theirs, stats
                    )
                    stats.item(
                        self._o365_option(),
                        "updated",
                        TO_ODOO,
                        res_model=self._name,
                        res_id=record.id,
                        event_id=link.event_id,
                        subject=event.get("subject"),
                        reason="Changed in Outlook: " + ", ".join(sorted(plan.to_odoo)),
                    )
                else:
                    stats.item(
                        self._o365_option(),
                        "skipped",
                        TO_ODOO,
                        res_model=self._name,
                        res_id=record.id,
                        event_id=link.event_id,
                        subject=event.get("subject"),
                        reason="Changed in Outlook; updating Odoo is prevented by the one-way "
                        "settings",
                    )
            if plan.restored:
                stats.error(
                    self._o365_option(),
                    "Edited in Outlook; restored from Odoo: " + ", ".join(plan.restored),
                    self._name,
                    record.id,
                    link.event_id,
                    level="info",
                )
            link.write(vals)

    def _o365_not_applied(self, link, event, error, stats):
        """Outlook's version cannot be read (or Odoo's cannot be built): Odoo's is sent back."""
        stats.error(
            self._o365_option(),
            f"Outlook event not applied: {error}; Odoo's version is sent back.",
            self._name,
            link.res_id,
            link.event_id,
        )
        # Put Outlook back: forget the snapshot's times so the next push rewrites them (an
        # event queued for deletion is deleted instead).
        link.write(
            {
                "state": "to_delete" if link.state == "to_delete" else "pending",
                "change_key": event.get("changeKey") or link.change_key,
                "synced_values": {**(link.synced_values or {}), "start": None, "end": None},
            }
        )

    def _o365_deleted_here_updated_there(self, link, account, stats):
        """Deleted in Odoo, updated in Outlook since the last sync: the user's delete rule.

        Delete wins: the push removes the Outlook event as planned. Update wins: the Outlook
        event stays (the link is dropped so nothing deletes it).
        """
        if account._o365_setting("o365_delete_rule") != decisions.UPDATE_WINS:
            return
        stats.error(
            self._o365_option(),
            "Deleted in Odoo but changed in Outlook since the last sync: the Outlook event is "
            "kept (update wins).",
            link.res_model,
            link.res_id,
            link.event_id,
            level="info",
        )
        link._o365_detach()

    def _o365_update_wins_over_remote_delete(self, links, account, stats):
        """Deleted in Outlook, updated in Odoo since the last sync (the link still waits to be
        pushed): with "update wins" the event is created again; returns the links so handled."""
        if account._o365_setting("o365_delete_rule") != decisions.UPDATE_WINS:
            return links.browse()
        if not account._o365_prevented().allows("outlook", "create"):
            return links.browse()
        updated = links.filtered(lambda ln: ln.state in ("pending", "error"))
        for link in updated:
            stats.error(
                self._o365_option(),
                "Deleted in Outlook but changed in Odoo since the last sync: the event is created "
                "again (update wins).",
                link.res_model,
                link.res_id,
                link.event_id,
                level="info",
            )
        updated._o365_recreate()
        return updated

    @api.model
    def _o365_remote_deleted(self, links, account, stats):
        """Outlook deleted our event: the Odoo record stays, the link is dropped, the log says so.

        An Odoo-side update not yet pushed follows the user's delete rule first.
        """
        links -= self._o365_update_wins_over_remote_delete(links, account, stats)
        for link in links:
            stats.error(
                self._o365_option(),
                "The event was deleted in Outlook; the Odoo record is kept and no longer synced.",
                link.res_model,
                link.res_id,
                link.event_id,
                level="warning",
            )
        links._o365_detach()
