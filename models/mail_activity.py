# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MailActivity(models.Model):
    _name = "mail.activity"
    _inherit = ["mail.activity", "office365.sync.mixin"]

    _o365_kind = "activity"

    # Set on Meeting activities logged from an Outlook event ("Sync Office 365 events"): such
    # activities are never pushed back as new events by "Sync ERP activities".
    o365_inbound_event_id = fields.Many2one(
        "office365.inbound.event", index=True, ondelete="set null", copy=False
    )

    def _o365_targets(self):
        # Filled by "Sync ERP activities"; until then nothing is pushed.
        return dict.fromkeys(self.ids, False)
