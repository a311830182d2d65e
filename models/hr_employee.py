# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sync holidays: a leave's event follows its employee's user.

A leave is shown in the mailbox of its employee's user (``hr.leave.user_id``, a stored related
field that Odoo recomputes without writing the leave): when the employee gets another user, the
leaves in Outlook move to the new user's calendar (deleted from the old mailbox, created in the
new one), or leave Outlook when the new user does not sync holidays.
"""

from odoo import fields, models


class HrEmployee(models.Model):
    _inherit = "hr.employee"

    def write(self, vals):
        result = super().write(vals)
        if "user_id" in vals:
            self._o365_user_changed()
        return result

    def _o365_user_changed(self):
        """Queue the leaves of these employees that are in Outlook or still to come (the
        leave's targets then say where each belongs now)."""
        leaves_model = self.env["hr.leave"].sudo().with_context(active_test=False)
        leaves_model.flush_model(["user_id"])
        leaves = leaves_model.search([("employee_id", "in", self.ids)])
        if not leaves:
            return
        linked = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "hr.leave"),
                    ("res_id", "in", leaves.ids),
                    ("state", "!=", "detached"),
                ]
            )
        )
        now = fields.Datetime.now()
        upcoming = leaves.filtered(
            lambda lv: lv.state == "validate" and lv.date_to and lv.date_to >= now
        )
        (upcoming | leaves.browse(linked.mapped("res_id")))._o365_touch()
