# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Answers given in Odoo by internal attendees of meetings pushed to Outlook, waiting to be sent
from each attendee's own mailbox.

Answering in Odoo only queues a row (no HTTP in the user's transaction); the attendee's next
sync run finds their copy of the meeting by its iCalUId and sends ``accept``, ``decline`` or
``tentativelyAccept`` from it, in ``$batch`` requests.
"""

from odoo import api, fields, models

from ..services import answers
from ..services.errors import GraphError
from ..services.graph_client import WriteOp
from ..services.runstats import TO_OUTLOOK

OPTION = "activities"
BATCH = 500  # answers sent per user and run; the rest waits for the next run
MAX_ATTEMPTS = 5  # runs without the attendee's copy in their mailbox before giving up


class Office365MeetingAnswer(models.Model):
    _name = "office365.meeting.answer"
    _description = "Meeting answer to send from an attendee's mailbox"
    _order = "id"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    attendee_id = fields.Many2one("calendar.attendee", required=True, ondelete="cascade")
    event_id = fields.Many2one("calendar.event", required=True, ondelete="cascade")
    action = fields.Selection(
        [(action, action) for action in answers.GRAPH_ACTION.values()], required=True
    )
    attempts = fields.Integer(default=0)
    state = fields.Selection([("pending", "To send"), ("error", "Error")], default="pending")
    error = fields.Text()

    _sql_constraints = [
        ("attendee_unique", "unique(attendee_id)", "One answer to send per attendee."),
    ]

    @api.model
    def _o365_queue(self, attendees, state):
        """``attendees`` (the current user's own) answered ``state`` in Odoo: queue it for their
        mailbox when they sync and the meeting is in Outlook."""
        action = answers.GRAPH_ACTION.get(state)
        user = self.env.user
        own = attendees.filtered(
            lambda a: a.partner_id == user.partner_id and a.event_id.user_id != user
        )
        if not action or not own:
            return
        account = (
            self.env["office365.account"]
            .sudo()
            .search([("user_id", "=", user.id), ("state", "=", "connected")], limit=1)
        )
        if not account or OPTION not in account._o365_enabled_options():
            return
        linked = set(
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", "calendar.event"), ("res_id", "in", own.event_id.ids)])
            .mapped("res_id")
        )
        own = own.filtered(lambda a: a.event_id.id in linked)
        if not own:
            return
        rows = self.sudo().search([("attendee_id", "in", own.ids)])
        rows.write({"action": action, "state": "pending", "attempts": 0, "error": False})
        done = set(rows.attendee_id.ids)
        self.sudo().create(
            [
                {
                    "user_id": user.id,
                    "attendee_id": attendee.id,
                    "event_id": attendee.event_id.id,
                    "action": action,
                }
                for attendee in own
                if attendee.id not in done
            ]
        )
        account._o365_request_sync()

    @api.model
    def _o365_push(self, account, client, stats):
        """Send the user's queued answers from their mailbox (batched GETs, then $batch POSTs)."""
        rows = self.sudo().search(
            [("user_id", "=", account.user_id.id), ("state", "=", "pending")], limit=BATCH
        )
        if not rows:
            return False
        links = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "calendar.event"),
                    ("res_id", "in", rows.event_id.ids),
                    ("ical_uid", "!=", False),
                ]
            )
        )
        uid_of = {link.res_id: link.ical_uid for link in links}
        ready = rows.filtered(lambda r: r.event_id.id in uid_of)
        if not ready:
            return False  # the organizer's event is not in Outlook yet: next run
        try:
            copies = client.find_by_ical_uid([uid_of[r.event_id.id] for r in ready])
        except GraphError as exc:
            stats.error(OPTION, f"Meeting answers not sent: {exc}", level="warning")
            return False
        ops, planned, done = [], [], self.browse()
        for row in ready:
            copy = answers.pick_copy(copies.get(uid_of[row.event_id.id]) or [])
            if copy is None:
                row.attempts += 1
                if row.attempts >= MAX_ATTEMPTS:
                    self._o365_failed(
                        row,
                        "The invitation never reached this mailbox in Outlook: the answer "
                        "was not sent.",
                        stats,
                    )
                continue
            if answers.already_answered(copy, row.action):
                done |= row
                continue
            ops.append(WriteOp(f"answer-{row.id}", row.action, copy["id"], {}))
            planned.append(row)
        results = client.batch_write(ops) if ops else []
        for row, op, result in zip(planned, ops, results, strict=True):
            if result.ok:
                done |= row
                stats.item(
                    OPTION,
                    "updated",
                    TO_OUTLOOK,
                    res_model="calendar.event",
                    res_id=row.event_id.id,
                    event_id=op.event_id,
                    subject=row.event_id.name,
                    reason=f"Answer sent: {row.action}",
                )
            elif result.not_found:
                done |= row  # the copy left the calendar meanwhile (declined in Outlook)
            else:
                self._o365_failed(
                    row,
                    "Outlook refused the answer (%s %s): %s"
                    % (result.status, result.error_code or "", result.error_message or ""),
                    stats,
                )
        done.unlink()
        return True

    def _o365_failed(self, row, message, stats):
        row.write({"state": "error", "error": message})
        stats.error(
            OPTION,
            message,
            "calendar.event",
            row.event_id.id,
            direction=TO_OUTLOOK,
            subject=row.event_id.name,
        )
