# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models

# Contact details shown in the Outlook events of activities ("Sync ERP activities").
O365_CONTACT_FIELDS = ("name", "phone", "mobile", "email", "parent_id", "company_name")


class ResPartner(models.Model):
    _inherit = "res.partner"

    def write(self, vals):
        result = super().write(vals)
        if set(vals) & set(O365_CONTACT_FIELDS):
            contacts = self | self.child_ids if "name" in vals else self
            self.env["mail.activity"]._o365_contacts_changed(contacts)
        return result
