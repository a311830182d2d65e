# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sync holidays: the subject of a leave's event starts with its leave type's name; renaming the
type queues its leaves in Outlook, and the next run updates their subjects ($batch)."""

from odoo import models


class HrLeaveType(models.Model):
    _inherit = "hr.leave.type"

    def write(self, vals):
        result = super().write(vals)
        if "name" in vals:
            self._o365_renamed()
        return result

    def _o365_renamed(self):
        leaves = (
            self.env["hr.leave"]
            .sudo()
            .with_context(active_test=False)
            .search([("holiday_status_id", "in", self.ids)])
        )
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
        leaves.browse(set(linked.mapped("res_id")))._o365_touch()
