# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The daily close: the activities of ended meetings become "Meeting done" on the timeline that
holds them, and the meeting's other contacts get a done entry."""

import time

from odoo import api, fields, models, modules
from odoo.tools import SQL

from ..services.constants import CTX_INBOUND

CLOSE_BATCH = 2000


class Office365InboundEventClose(models.Model):
    _inherit = "office365.inbound.event"

    @api.model
    def _cron_close_ended(self, batch_size=CLOSE_BATCH, max_seconds=600):
        """Mark the logged activities of ended meetings as done (idempotent, batched)."""
        started = time.monotonic()
        testing = modules.module.current_test
        total = 0
        while time.monotonic() - started < max_seconds:
            self.env.cr.execute(
                SQL(
                    """
                    SELECT a.id FROM mail_activity a
                      JOIN office365_inbound_event e ON e.id = a.o365_inbound_event_id
                     WHERE a.active AND e.stop <= %(now)s
                     ORDER BY a.id LIMIT %(limit)s
                    """,
                    now=fields.Datetime.now(),
                    limit=batch_size,
                )
            )
            ids = [row[0] for row in self.env.cr.fetchall()]
            if not ids:
                break
            activities = self.env["mail.activity"].sudo().browse(ids)
            meetings = activities.o365_inbound_event_id
            self._o365_mark_done(activities)
            meetings._o365_post_done_entries()
            total += len(ids)
            if not testing:
                # Commit per batch: a crash later keeps the activities already closed, and
                # the next run carries on from there (closed activities are gone).
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return total

    @api.model
    def _o365_mark_done(self, activities):
        """``mail.activity._action_done`` for many activities at once: one "done" message per
        activity on its record, then the activities are removed (or archived when their type
        keeps done ones).

        Not ``_action_done`` itself: it posts through ``message_post`` one activity at a time
        (followers, notifications, attachments: about four queries per activity, against a
        few per batch here), too slow for the thousands one close can hold. The messages are
        created in one batch instead, as notifications nobody is sent, authored by OdooBot.

        The body is core's ``mail.message_activity_done`` template, rendered as core renders
        it when someone other than the assignee closes an activity: the timeline reads the
        same as for an activity marked done by hand, and follows core if it changes.
        """
        activities = activities.with_context(**{CTX_INBOUND: True})
        subtype = self.env.ref("mail.mt_activities")
        activities.fetch(["res_model", "res_id", "summary", "note", "user_id", "activity_type_id"])
        self._o365_bot_messages(
            [
                (
                    activity.res_model,
                    activity.res_id,
                    self._o365_done_body(activity),
                    activity.activity_type_id,
                )
                for activity in activities
            ],
            subtype,
        )
        to_keep = activities.filtered("activity_type_id.keep_done")
        to_keep.write({"active": False})
        (activities - to_keep).unlink()

    def _o365_post_done_entries(self):
        """A done entry on the other contacts' timelines of those of these meetings that have
        no open activity left (their last ones were just closed): once per meeting, even when
        its activities fall in two batches of the close."""
        if not self:
            return
        still_open = (
            self.env["mail.activity"]
            .sudo()
            .search([("o365_inbound_event_id", "in", self.ids)])
            .o365_inbound_event_id
        )
        entries = []
        for meeting in self - still_open:
            told = meeting.noted_partner_ids & meeting.partner_ids
            told -= meeting.activity_partner_id
            if told:
                entries.append((meeting, told.ids))
        self._o365_timeline_messages(entries, done=True)

    @api.model
    def _o365_done_body(self, activity):
        """The "done" message of ``activity`` (see ``_o365_mark_done``)."""
        return self.env["ir.qweb"]._render(
            "mail.message_activity_done",
            {"activity": activity, "feedback": False, "display_assignee": bool(activity.user_id)},
            minimal_qcontext=True,
        )
