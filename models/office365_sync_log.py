# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.tools import SQL

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
    # Runs that changed nothing share one line per user and option (the latest such line,
    # while no run with changes came after it): the log grows with the changes, not with
    # the clock (one run a minute would be 1,440 lines a day per user and option).
    changed = fields.Boolean(
        "With changes or problems",
        compute="_compute_changed",
        store=True,
        index=True,
        help="The run created, updated, deleted or failed something, or stopped on an error. "
        "Runs without any change share one line: see Runs.",
    )
    run_count = fields.Integer(
        "Runs", default=1, help="How many runs this line stands for (runs without changes)."
    )
    first_start = fields.Datetime(
        "First run", help="Start of the first run this line stands for; Start is the last one's."
    )
    line_ids = fields.One2many("office365.sync.log.line", "log_id", string="Failed items")

    @api.depends("created", "updated", "deleted", "failed", "message", "line_ids")
    def _compute_changed(self):
        for log in self:
            log.changed = bool(
                log.created or log.updated or log.deleted or log.failed or log.message
            ) or bool(log.line_ids)

    @api.model
    def _o365_record(self, user, stats, start, duration):
        """Write the run's log: per option touched, one line (a run without changes updates
        the option's latest line when that one had none either), and one line per item
        problem (batched)."""
        vals_list = []
        for item in stats.items:
            stats.touch(item.option)  # a run with only warnings still gets its log and lines
        with_items = {item.option for item in stats.items}
        quiet = {
            option
            for option, counts in stats.counts.items()
            if not stats.fatal
            and option not in with_items
            and not any(counts[key] for key in ("created", "updated", "deleted", "failed"))
        }
        folded = self._o365_fold_quiet(user, quiet, stats, start, duration)
        for option, counts in stats.counts.items():
            if option in folded:
                continue
            vals_list.append(
                {
                    "user_id": user.id,
                    "option": option,
                    "start": start,
                    "first_start": start,
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

    @api.model
    def _o365_fold_quiet(self, user, options, stats, start, duration):
        """Add this run to the latest line of each option in ``options`` when that line is one
        of runs without changes; returns the options folded so."""
        if not options:
            return set()
        # The latest line of each option, found and read in one query (every run does this).
        latest = SQL(
            """(SELECT max(id) FROM office365_sync_log
                 WHERE user_id = %s AND option = ANY(%s) GROUP BY option)""",
            user.id,
            sorted(options),
        )
        self.flush_model(["user_id", "option"])
        lines = self.sudo().search_fetch(
            [("id", "in", latest)], ["option", "changed", "message", "run_count", "skipped"]
        )
        folded = set()
        for line in lines.filtered(lambda ln: not ln.changed and not ln.message):
            counts = stats.counts[line.option]
            line.write(
                {
                    "start": start,
                    "duration": duration,
                    "run_count": line.run_count + 1,
                    "skipped": line.skipped + counts["skipped"],
                }
            )
            folded.add(line.option)
        return folded
