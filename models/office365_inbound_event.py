# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class Office365InboundEvent(models.Model):
    """An Outlook meeting logged in Odoo (one per iCalUId and occurrence)."""

    _name = "office365.inbound.event"
    _description = "Outlook meeting logged in Odoo"

    ical_uid = fields.Char("iCalUId", index=True)

    @api.model
    def _o365_process(self, account, events, removed_ids, stats):
        """Log the Outlook events of ``account`` on the contacts who attend."""
        return False
