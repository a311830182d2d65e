# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Outlook calendars of a user's mailbox, read on demand so the user can pick one."""

from odoo import api, fields, models


class Office365Calendar(models.Model):
    _name = "office365.calendar"
    _description = "Outlook calendar of a user"
    _order = "is_default desc, name, id"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    calendar_id = fields.Char("Outlook calendar id", required=True)
    name = fields.Char(required=True)
    is_default = fields.Boolean("Default calendar")
    can_edit = fields.Boolean(default=True)

    _sql_constraints = [
        ("calendar_unique", "unique(user_id, calendar_id)", "Each calendar is listed once."),
    ]

    @api.depends("name", "is_default")
    def _compute_display_name(self):
        for calendar in self:
            suffix = self.env._(" (default)") if calendar.is_default else ""
            calendar.display_name = f"{calendar.name}{suffix}"

    @api.model
    def _o365_refresh(self, user, graph_calendars):
        """Replace ``user``'s list by the calendars Graph returned (writable ones only)."""
        rows = {
            cal["id"]: {
                "name": cal.get("name") or cal["id"],
                "is_default": bool(cal.get("isDefaultCalendar")),
                "can_edit": cal.get("canEdit", True) is not False,
            }
            for cal in graph_calendars
            if isinstance(cal, dict) and cal.get("id") and cal.get("canEdit", True) is not False
        }
        existing = self.sudo().search([("user_id", "=", user.id)])
        for calendar in existing:
            if calendar.calendar_id in rows:
                calendar.write(rows.pop(calendar.calendar_id))
            else:
                calendar.unlink()
        self.sudo().create(
            [{"user_id": user.id, "calendar_id": cid, **vals} for cid, vals in rows.items()]
        )
        return self.sudo().search([("user_id", "=", user.id)])
