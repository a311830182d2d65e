# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The organizer's edits of a logged meeting made in Odoo (time, location, description), sent to
their Outlook event.

An edit is applied in Odoo at once and queued on the meeting (``push_values``): no HTTP in the
user's transaction. The organizer's next sync run sends the queue as ``$batch`` PATCHes.
"""

from datetime import datetime

from odoo import api, models

from ..services import inbound, mapping
from ..services.constants import CTX_INBOUND
from ..services.graph_client import WriteOp
from ..services.runstats import TO_OUTLOOK
from .office365_inbound_event import OPTION

# Fields of a logged meeting whose edits by the organizer go back to Outlook.
PUSHABLE_FIELDS = ("start", "stop", "location", "description")


class Office365InboundEventPush(models.Model):
    _inherit = "office365.inbound.event"

    def write(self, vals):
        """The organizer's edits of time, location or description also go to Outlook."""
        pushable = {key: vals[key] for key in PUSHABLE_FIELDS if key in vals}
        if not pushable or self.env.context.get(CTX_INBOUND):
            return super().write(vals)
        organizer_of = self.filtered(
            lambda m: (
                m.state == inbound.LOGGED
                and m.mailbox_ids.filtered("is_organizer")[:1].user_id == self.env.user
            )
        )
        result = super().write(vals)
        for meeting in organizer_of:
            meeting._o365_queue_push(pushable)
        (self - organizer_of).filtered(lambda m: m.state == inbound.LOGGED).with_context(
            **{CTX_INBOUND: True}
        )._o365_reconcile_activities()
        return result

    def _o365_queue_push(self, changes):
        """Apply ``changes`` in Odoo now, and queue them for the organizer's next sync run."""
        self.ensure_one()
        pending = dict(self.push_values or {})
        for key, value in changes.items():
            if isinstance(value, datetime):
                value = mapping.utc_iso(value)
            pending[key] = value
        meeting = self.with_context(**{CTX_INBOUND: True})
        local = dict(changes)
        if "description" in local:
            local["description"] = local["description"] or False
        meeting.write({**local, "push_values": pending})
        meeting._o365_reconcile_activities()
        organizer = self.mailbox_ids.filtered("is_organizer")[:1].user_id
        if organizer:
            organizer._o365_account()._o365_request_sync()

    @api.model
    def _o365_push(self, account, client, stats):
        """Send the queued organizer edits of ``account``'s user ($batch PATCHes)."""
        rows = (
            self.env["office365.inbound.event.mailbox"]
            .sudo()
            .search(
                [
                    ("user_id", "=", account.user_id.id),
                    ("is_organizer", "=", True),
                    ("inbound_event_id.push_values", "!=", False),
                ]
            )
        )
        if not rows:
            return False
        ops, planned = [], []
        time_zone = account._o365_time_zone()
        for row in rows:
            meeting = row.inbound_event_id
            pending = meeting.push_values or {}
            payload = mapping.values_to_graph(
                meeting._o365_push_values(pending), time_zone=time_zone
            )
            ops.append(WriteOp(str(row.id), "update", row.outlook_event_id, payload))
            planned.append((row, meeting, pending))
        results = client.batch_write(ops)
        for (row, meeting, pending), result in zip(planned, results, strict=True):
            if result.ok:
                row.change_key = (result.event or {}).get("changeKey") or row.change_key
                if meeting.push_values == pending:
                    meeting.with_context(**{CTX_INBOUND: True}).push_values = False
                stats.item(
                    OPTION,
                    "updated",
                    TO_OUTLOOK,
                    res_model=self._name,
                    res_id=meeting.id,
                    event_id=row.outlook_event_id,
                    subject=meeting.name,
                    reason="The organizer's edit in Odoo: " + ", ".join(sorted(pending)),
                )
            else:
                message = "Outlook refused the meeting change (%s %s): %s" % (
                    result.status,
                    result.error_code or "",
                    result.error_message or "no details",
                )
                if result.not_found:
                    meeting.with_context(**{CTX_INBOUND: True}).push_values = False
                stats.error(
                    OPTION,
                    message,
                    self._name,
                    meeting.id,
                    row.outlook_event_id,
                    direction=TO_OUTLOOK,
                    subject=meeting.name,
                )
        return True

    def _o365_push_values(self, pending):
        """The normalized values (see ``services.mapping``) of the ``pending`` edits: the time
        as the meeting has it now, the location and body as queued."""
        self.ensure_one()
        values = {}
        if "start" in pending or "stop" in pending:
            values["all_day"] = self.allday
            if self.allday:
                values["start"] = self.start.date().isoformat()
                values["end"] = self.stop.date().isoformat()
            else:
                values["start"] = mapping.utc_iso(self.start)
                values["end"] = mapping.utc_iso(self.stop)
        if "location" in pending:
            values["location"] = pending["location"] or ""
        if "description" in pending:
            values["body"] = pending["description"] or ""
        return values
