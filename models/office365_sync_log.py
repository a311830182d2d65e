# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json
from collections import defaultdict

from odoo import Command, api, fields, models
from odoo.tools import SQL
from odoo.tools.misc import format_datetime

from ..services.runstats import MAX_LISTED
from .res_users_settings import SYNC_OPTIONS

# Bus notification sent to the user at the end of each of their runs: the preferences page
# refreshes its status, and shows the result when the user pressed Sync Now.
RUN_DONE = "office365_calendar_sync/run_done"


class Office365SyncLog(models.Model):
    _name = "office365.sync.log"
    _description = "Office 365 calendar sync run"
    _order = "start desc, id desc"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    option = fields.Selection(SYNC_OPTIONS, required=True)
    start = fields.Datetime(required=True, default=fields.Datetime.now)
    duration = fields.Float(help="Seconds")
    created = fields.Integer(
        help="Items this run created: events put in Outlook, meetings logged in Odoo."
    )
    updated = fields.Integer(help="Items this run changed, in Outlook or in Odoo.")
    deleted = fields.Integer(help="Items this run removed, from Outlook or from Odoo.")
    skipped = fields.Integer(
        help="Changes this run looked at and left alone: already up to date, filtered out by "
        "the option's settings (categories, private events, meetings without a contact), or "
        "prevented by the one-way settings."
    )
    failed = fields.Integer(help="Items this run could not sync; each is listed below.")
    message = fields.Char(help="Error that stopped the whole run, if any.")
    # Runs that changed nothing share one line per user and option (the latest such line,
    # while no run with changes came after it): the log grows with the changes, not with
    # the clock (one run a minute would be 1,440 lines a day per user and option).
    changed = fields.Boolean(
        "With changes or problems",
        compute="_compute_changed",
        store=True,
        precompute=True,
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
    line_ids = fields.One2many("office365.sync.log.line", "log_id", string="Items")
    unlisted = fields.Integer(
        "Items not listed",
        help=f"Items this run synced beyond the first {MAX_LISTED} listed: counted above, not "
        "listed one by one.",
    )

    @api.depends("option", "start", "user_id")
    def _compute_display_name(self):
        labels = dict(self._fields["option"]._description_selection(self.env))
        for log in self:
            log.display_name = self.env._(
                "%(option)s, %(start)s (%(user)s)",
                option=labels.get(log.option, log.option or ""),
                # In the reader's time zone and date format, as Odoo shows datetimes.
                start=format_datetime(self.env, log.start, dt_format=False) if log.start else "",
                user=log.user_id.name or "",
            )

    @api.depends("created", "updated", "deleted", "failed", "message", "line_ids")
    def _compute_changed(self):
        for log in self:
            log.changed = bool(
                log.created or log.updated or log.deleted or log.failed or log.message
            ) or bool(log.line_ids)

    @api.model
    def _o365_record(self, user, stats, start, duration, requested=True):
        """Write the run's log: per option touched, one line (a run without changes updates
        the option's latest line when that one had none either), and one line per item it
        synced or could not sync (batched: one create for all of them).

        The user's open pages are told the run ended (RUN_DONE): always for a run the user
        ``requested`` (Sync Now and Start Syncing wait for its result); for any other run (a
        poll, a change in Odoo or in Outlook), only when it did something and the user has
        Odoo open (see :meth:`_o365_has_open_page`)."""
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
        logged = [option for option in stats.counts if option not in folded]
        problems = [item for item in stats.items if item.option in logged]
        # The items of a run with changes (a quiet run's skips are only counted: Outlook echoing
        # our own writes back would otherwise give each change a second line).
        done = [item for item in stats.done if item.option in logged and item.option not in quiet]
        names = self._o365_item_names(user, problems + done)

        def line(item, **vals):
            return {
                **vals,
                "direction": item.direction or False,
                "res_model": item.res_model or False,
                "res_id": item.res_id or False,
                "res_name": names.get((item.res_model, item.res_id)) or False,
                "event_id": item.event_id or False,
                "subject": item.subject or False,
            }

        # The items synced first, the problems after (the form lists the newest first).
        lines_of = defaultdict(list)
        for item in done:
            lines_of[item.option].append(
                line(item, level=False, operation=item.operation, message=item.reason or False)
            )
        for item in problems:
            operation = "failed" if item.level == "error" else False
            lines_of[item.option].append(
                line(item, level=item.level, operation=operation, message=item.message)
            )
        # One create for the logs and their lines: "changed" and the lines' user and option
        # are then set by the inserts (precomputed), not by updates after them.
        logs = self.sudo().create(
            [
                {
                    "user_id": user.id,
                    "option": option,
                    "start": start,
                    "first_start": start,
                    "duration": duration,
                    "message": stats.fatal or False,
                    "unlisted": stats.unlisted.get(option, 0),
                    **stats.counts[option],
                    "line_ids": [Command.create(vals) for vals in lines_of[option]],
                }
                for option in logged
            ]
        )
        logs.line_ids._o365_post_on_records()
        if requested or (set(stats.counts) - quiet and self._o365_has_open_page(user)):
            self._o365_notify_run(user, stats, start)
        return logs

    @api.model
    def _o365_has_open_page(self, user):
        """Whether ``user`` has an Odoo page open (their bus presence is not offline), in one
        query. Each bus message costs Odoo a new PostgreSQL connection when the transaction
        commits (``bus.bus`` notifies through the ``postgres`` database, whose connections the
        pool closes), the most expensive step of a small run in a tenant's cycle; a page that
        opens reads the current status itself."""
        self.env["bus.presence"].flush_model(["user_id", "status"])
        self.env.cr.execute(
            SQL(
                "SELECT 1 FROM bus_presence WHERE user_id = %s AND status != 'offline' LIMIT 1",
                user.id,
            )
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _o365_item_names(self, user, items):
        """``{(res_model, res_id): display name}`` of the records of ``items`` (one read per
        model); a logged meeting counted before it was created gets its id here."""
        if not items:
            return {}
        unresolved = [
            item.event_id
            for item in items
            if item.res_model == "office365.inbound.event" and not item.res_id and item.event_id
        ]
        if unresolved:
            rows = (
                self.env["office365.inbound.event.mailbox"]
                .sudo()
                .search([("user_id", "=", user.id), ("outlook_event_id", "in", unresolved)])
            )
            meeting_of = {row.outlook_event_id: row.inbound_event_id.id for row in rows}
            for item in items:
                if item.res_model == "office365.inbound.event" and not item.res_id:
                    item.res_id = meeting_of.get(item.event_id, 0)
        refs = defaultdict(set)
        for item in items:
            if item.res_model in self.env and item.res_id:
                refs[item.res_model].add(item.res_id)
        names = {}
        for model, ids in refs.items():
            records = self.env[model].sudo().with_context(active_test=False).browse(list(ids))
            names.update({(model, rec.id): rec.display_name for rec in records.exists()})
        return names

    @api.model
    def _o365_fold_quiet(self, user, options, stats, start, duration):
        """Add this run to the latest line of each option in ``options`` when that line is one
        of runs without changes; returns the options folded so."""
        if not options:
            return set()
        # Every run of every user comes here: the latest line of each option is found and
        # updated in one statement (a line of a run with changes or an error is left alone).
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
                UPDATE office365_sync_log l
                   SET start = %(start)s, duration = %(duration)s,
                       run_count = l.run_count + 1,
                       skipped = l.skipped + (%(skipped)s::jsonb ->> l.option)::int,
                       write_uid = %(uid)s, write_date = (now() AT TIME ZONE 'UTC')
                 WHERE l.id IN (SELECT max(id) FROM office365_sync_log
                                 WHERE user_id = %(user)s AND option = ANY(%(options)s)
                                 GROUP BY option)
                   AND NOT l.changed AND COALESCE(l.message, '') = ''
                RETURNING l.id, l.option
                """,
                start=start,
                duration=duration,
                skipped=json.dumps({option: stats.counts[option]["skipped"] for option in options}),
                uid=self.env.uid,
                user=user.id,
                options=sorted(options),
            )
        )
        rows = self.env.cr.fetchall()
        self.browse([row[0] for row in rows]).invalidate_recordset(
            ["start", "duration", "run_count", "skipped", "write_uid", "write_date"]
        )
        return {row[1] for row in rows}

    @api.model
    def _o365_notify_run(self, user, stats, start):
        """Tell the user's open pages that a run ended (one bus message, sent on commit)."""
        summary, level = self._o365_run_summary(user.sudo(), stats)
        user.sudo()._bus_send(
            RUN_DONE,
            {
                "start": fields.Datetime.to_string(start),
                "message": summary,
                "type": level,
            },
        )

    @api.model
    def _o365_run_summary(self, user, stats):
        """(text, notification type) saying what one run did, in the user's language."""
        env = self.with_context(lang=user.lang).env
        if stats.fatal:
            return env._("The sync failed: %s", stats.fatal), "danger"
        settings = user.res_users_settings_ids[:1]
        started = [
            option
            for option, _label in SYNC_OPTIONS
            if settings and settings[f"o365_{option}_enabled"]
        ]
        options = [option for option, _label in SYNC_OPTIONS if option in stats.counts]
        options += [option for option in started if option not in options]
        if not options:
            return env._("No option is started: nothing was synced."), "warning"
        labels = dict(self._fields["option"]._description_selection(env))
        words = {
            "created": env._("%s created"),
            "updated": env._("%s updated"),
            "deleted": env._("%s deleted"),
            "skipped": env._("%s skipped"),
            "failed": env._("%s failed"),
        }
        parts = []
        failed = 0
        for option in options:
            counts = stats.counts.get(option) or {}
            done = [words[key] % counts[key] for key in words if counts.get(key)]
            failed += counts.get("failed", 0)
            parts.append(
                env._(
                    "%(option)s: %(result)s.",
                    option=labels[option],
                    result=", ".join(done) if done else env._("nothing to change"),
                )
            )
        return " ".join(parts), "warning" if failed else "success"
