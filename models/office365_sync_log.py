# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from .res_users_settings import SYNC_OPTIONS


class Office365SyncLog(models.Model):
    _name = "office365.sync.log"
    _description = "Office 365 calendar sync run"
    _order = "start desc, id desc"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    option = fields.Selection(SYNC_OPTIONS, required=True)
    start = fields.Datetime(required=True, default=fields.Datetime.now)
    duration = fields.Float(help="Seconds")
    created = fields.Integer()
    updated = fields.Integer()
    deleted = fields.Integer()
    skipped = fields.Integer()
    failed = fields.Integer()
    message = fields.Char(help="Error that stopped the whole run, if any.")
    line_ids = fields.One2many("office365.sync.log.line", "log_id", string="Failed items")

    @api.model
    def _o365_record(self, user, stats, start, duration):
        """Write one log line per option touched by the run and one per failed item (batched)."""
        vals_list = []
        for item in stats.items:
            stats.touch(item.option)  # a run with only warnings still gets its log and lines
        for option, counts in stats.counts.items():
            vals_list.append(
                {
                    "user_id": user.id,
                    "option": option,
                    "start": start,
                    "duration": duration,
                    "message": stats.fatal or False,
                    **counts,
                }
            )
        logs = self.sudo().create(vals_list)
        by_option = {log.option: log for log in logs}
        line_vals = [
            {
                "log_id": by_option[item.option].id,
                "message": item.message,
                "level": item.level,
                "res_model": item.res_model or False,
                "res_id": item.res_id or False,
                "event_id": item.event_id or False,
            }
            for item in stats.items
            if item.option in by_option
        ]
        lines = self.env["office365.sync.log.line"].sudo().create(line_vals)
        lines._o365_post_on_records()
        return logs
