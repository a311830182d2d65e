# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class Office365InboundEventMailbox(models.Model):
    """One syncing user's copy of a logged Outlook meeting (its event id in that mailbox)."""

    _name = "office365.inbound.event.mailbox"
    _description = "Outlook meeting seen in a mailbox"
    _order = "id"

    inbound_event_id = fields.Many2one(
        "office365.inbound.event", required=True, index=True, ondelete="cascade"
    )
    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    outlook_event_id = fields.Char("Outlook event id", required=True, index=True)
    change_key = fields.Char()
    is_organizer = fields.Boolean(help="This mailbox holds the organizer's copy.")

    _sql_constraints = [
        (
            "meeting_user_unique",
            "unique(inbound_event_id, user_id)",
            "A meeting is seen at most once per mailbox.",
        ),
    ]
