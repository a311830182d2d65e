# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What every record pushed to Outlook shares: change tracking, write planning, inbound merge.

A concrete model (activity, meeting, leave) inherits this mixin and provides only its mapping:

- ``_o365_kind`` and ``_o365_watched_fields`` (a write to one of them re-pushes the record);
- ``_o365_targets()``: record id -> user id whose mailbox gets the event (False: none);
- ``_o365_values(account, link)``: the record as normalized values (``services.mapping``);
- ``_o365_inbound_fields`` and ``_o365_write_inbound()``: what Outlook may change in Odoo;
- ``_o365_restore_outlook``: whether other Outlook-side edits are put back at once.
"""

import logging

from odoo import api, fields, models

from ..services import decisions, mapping
from ..services.graph_client import EXTENDED_PROPERTY_ID

_logger = logging.getLogger(__name__)

CTX_INBOUND = "office365_calendar_sync_inbound"
CATEGORY_NAME = "Odoo"


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
        if not self.env.context.get(CTX_INBOUND) and set(vals) & set(self._o365_watched_fields):
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

    def _o365_targets(self):
        raise NotImplementedError

    def _o365_values(self, account, link):
        raise NotImplementedError

    def _o365_write_inbound(self, link, changes, theirs, stats):
        """Apply Outlook's ``changes`` (normalized keys) to this record."""
        raise NotImplementedError

    def _o365_option(self):
        return "holidays" if self._o365_kind == "leave" else "activities"

    # ------------------------------------------------------------------
    # Outbound planning
    # ------------------------------------------------------------------
    def _o365_plan_writes(self, links, account, stats, prevented):
        """Yield (link, WriteOp, values) for the pending ``links`` of these records."""
        by_id = {rec.id: rec for rec in self}
        option = self._o365_option()
        time_zone = account._o365_time_zone()
        for link in links:
            record = by_id.get(link.res_id)
            if record is None:
                continue
            try:
                values = record._o365_values(account, link)
            except (mapping.MappingError, ValueError) as exc:
                message = f"Cannot build the Outlook event: {exc}"
                link.write({"state": "error", "error": message})
                stats.error(option, message, link.res_model, link.res_id, link.event_id or "")
                continue
            if not link.event_id:
                if not prevented.allows("outlook", "create"):
                    stats.count(option, "skipped")
                    continue
                values.setdefault("categories", [account._o365_category_name()])
                payload = mapping.values_to_graph(
                    values, link._o365_ref(), EXTENDED_PROPERTY_ID, time_zone
                )
                yield link, link._o365_create_op(payload), values
                continue
            previous = link.synced_values or {}
            changed = {
                key: val
                for key, val in values.items()
                if key != "attendee_names" and previous.get(key) != val
            }
            if not changed:
                link.write({"state": "synced", "error": False})
                stats.count(option, "skipped")
                continue
            if not prevented.allows("outlook", "update"):
                stats.count(option, "skipped")
                link.write({"state": "synced"})
                continue
            if {"start", "end", "all_day"} & set(changed):
                changed.update({k: values[k] for k in ("start", "end", "all_day") if k in values})
            if "attendees" in changed and "attendee_names" in values:
                changed["attendee_names"] = values["attendee_names"]
            payload = mapping.values_to_graph(changed, time_zone=time_zone)
            yield link, link._o365_update_op(payload), {**previous, **values}

    def _o365_log_warnings(self, planned, warnings, stats):
        """Yield the ``planned`` writes, logging each record's mapping ``warnings`` (field, text)
        when the write sends that field (or creates the event)."""
        option = self._o365_option()
        for link, op, values in planned:
            for key, message in warnings.pop(link.res_id, ()):
                if op.action == "create" or key in (op.payload or {}):
                    stats.error(
                        option, message, self._name, link.res_id, link.event_id or "", "warning"
                    )
            yield link, op, values

    # ------------------------------------------------------------------
    # Inbound: Outlook changed (or deleted) one of our events
    # ------------------------------------------------------------------
    @api.model
    def _o365_apply_remote(self, links, events, account, stats):
        """Merge Outlook's version of our events into Odoo (field-level, per the user's rules)."""
        option = self._o365_option()
        records = self.sudo().with_context(active_test=False).browse(links.mapped("res_id"))
        by_id = {rec.id: rec for rec in records.exists()}
        prevented = account._o365_prevented()
        rule = account._o365_setting("o365_same_field_rule") or decisions.NEWEST_WINS
        for link in links:
            event = events[link.id]
            if event.get("changeKey") and event.get("changeKey") == link.change_key:
                continue  # our own write coming back
            record = by_id.get(link.res_id)
            if record is None:
                if link.state == "to_delete":
                    self._o365_deleted_here_updated_there(link, account, stats)
                continue
            try:
                theirs = mapping.graph_to_values(event)
                ours = record._o365_values(account, link)
            except (mapping.MappingError, ValueError) as exc:
                stats.error(
                    option,
                    f"Outlook event not applied: {exc}; Odoo's version is sent back.",
                    self._name,
                    record.id,
                    link.event_id,
                )
                # Put Outlook back: forget the snapshot's times so the next push rewrites them.
                link.write(
                    {
                        "state": "pending",
                        "change_key": event.get("changeKey") or link.change_key,
                        "synced_values": {
                            **(link.synced_values or {}),
                            "start": None,
                            "end": None,
                        },
                    }
                )
                continue
            odoo_is_newer = bool(
                record.write_date
                and link.last_sync
                and record.write_date > link.last_sync
                and (event.get("lastModifiedDateTime") or "")[:19] < record.write_date.isoformat()
            )
            result = decisions.merge(
                link.synced_values,
                ours,
                theirs,
                self._o365_inbound_fields,
                rule,
                odoo_is_newer,
                self._o365_restore_outlook,
            )
            snapshot = result.values
            if self._o365_snapshot_outlook and not self._o365_restore_outlook:
                snapshot = {
                    **result.values,
                    **{
                        key: theirs[key]
                        for key in set(ours) & set(theirs)
                        if key not in self._o365_inbound_fields
                    },
                }
            vals = {
                "change_key": event.get("changeKey") or link.change_key,
                "synced_values": snapshot,
                "last_sync": fields.Datetime.now(),
            }
            odoo_won = {
                key: value
                for key, value in result.to_outlook.items()
                if key in self._o365_inbound_fields
            }
            if odoo_won:
                # Odoo's value of a field Outlook may also change won (changed in Odoo only, or
                # the same-field rule): keep Outlook's value in the snapshot so the push sends it.
                vals["synced_values"] = {
                    **snapshot,
                    **{key: theirs.get(key) for key in odoo_won},
                }
                vals["state"] = "pending"
            if result.to_odoo:
                if prevented.allows("odoo", "update"):
                    record.with_context(**{CTX_INBOUND: True})._o365_write_inbound(
                        link, result.to_odoo, theirs, stats
                    )
                    stats.count(option, "updated")
                else:
                    stats.count(option, "skipped")
            if result.to_outlook and self._o365_restore_outlook:
                vals["state"] = "pending"
                vals["synced_values"] = {
                    **result.values,
                    **{key: theirs.get(key) for key in result.to_outlook},
                }
                stats.error(
                    option,
                    "Edited in Outlook; restored from Odoo: "
                    + ", ".join(sorted(result.to_outlook)),
                    self._name,
                    record.id,
                    link.event_id,
                    level="info",
                )
            link.write(vals)

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
        link.write({"state": "detached", "event_id": False, "change_key": False})

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
        option = self._o365_option()
        links -= self._o365_update_wins_over_remote_delete(links, account, stats)
        for link in links:
            stats.error(
                option,
                "The event was deleted in Outlook; the Odoo record is kept and no longer synced.",
                link.res_model,
                link.res_id,
                link.event_id,
                level="warning",
            )
        links.write({"state": "detached", "event_id": False, "change_key": False})
