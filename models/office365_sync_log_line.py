# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models

from ..services.mapping_activity import ACTIVITY_PATH
from ..services.runstats import TO_ODOO, TO_OUTLOOK


class Office365SyncLogLine(models.Model):
    _name = "office365.sync.log.line"
    _description = "Office 365 calendar sync item"
    _order = "id desc"

    log_id = fields.Many2one("office365.sync.log", required=True, index=True, ondelete="cascade")
    # Precomputed: set by the insert of the line, not by an update after it.
    user_id = fields.Many2one(related="log_id.user_id", store=True, index=True, precompute=True)
    option = fields.Selection(related="log_id.option", store=True, precompute=True)
    # An item the run created, updated, deleted or skipped has an operation and no level; a
    # problem has a level (an error is a failed item: its operation is "failed").
    level = fields.Selection(
        [("error", "Error"), ("warning", "Warning"), ("info", "Info")], default="error"
    )
    operation = fields.Selection(
        [
            ("created", "Created"),
            ("updated", "Updated"),
            ("deleted", "Deleted"),
            ("skipped", "Skipped"),
            ("failed", "Failed"),
        ]
    )
    direction = fields.Selection([(TO_OUTLOOK, "Odoo → Outlook"), (TO_ODOO, "Outlook → Odoo")])
    message = fields.Text("Reason or message")
    res_model = fields.Char("Model")
    res_id = fields.Many2oneReference("Record ID", model_field="res_model")
    res_name = fields.Char("Record name", help="The record's name when the run synced it.")
    record_link = fields.Html(
        "Odoo record",
        compute="_compute_record_link",
        sanitize=False,
        help="Opens the record, for a reader allowed to read it.",
    )
    subject = fields.Char("Outlook event", help="The Outlook event's subject.")
    record_ref = fields.Reference(
        selection="_selection_record_ref", compute="_compute_record_ref", string="Record"
    )
    event_id = fields.Char("Outlook event id")
    retried = fields.Boolean()

    @api.model
    def _selection_record_ref(self):
        return [(model.model, model.name) for model in self.env["ir.model"].sudo().search([])]

    @api.depends("res_model", "res_id")
    def _compute_record_ref(self):
        for line in self:
            valid = line.res_model in self.env and line.res_id
            line.record_ref = f"{line.res_model},{line.res_id}" if valid else False

    @api.depends("res_model", "res_id", "res_name")
    @api.depends_context("uid")
    def _compute_record_link(self):
        """The record's name, as a link to it when the reader may read it (one access check
        per model, whatever the number of lines)."""
        readable = set()
        for model, lines in self.grouped("res_model").items():
            if model not in self.env or not lines.mapped("res_id"):
                continue
            records = self.env[model].with_context(active_test=False).browse(lines.mapped("res_id"))
            readable |= {(model, rid) for rid in records.exists()._filtered_access("read").ids}
        for line in self:
            name = line.res_name or ""
            if not name and line.res_model and line.res_id:
                # A record gone before the run could read its name (a done activity).
                model = self.env[line.res_model]._description if line.res_model in self.env else ""
                name = f"{model or line.res_model} #{line.res_id}"
            if (line.res_model, line.res_id) in readable:
                line.record_link = Markup('<a href="%s">%s</a>') % (line._o365_url(), name)
            else:
                line.record_link = name and Markup("%s") % name

    def _o365_url(self):
        """The web client's address of the line's record (an activity: its own page)."""
        self.ensure_one()
        if self.res_model == "mail.activity":
            return f"{ACTIVITY_PATH}/{self.res_id}"
        return f"/odoo/{self.res_model}/{self.res_id}"

    def _o365_post_on_records(self):
        """A failed record also gets a note in its chatter (one message per record)."""
        by_model = defaultdict(dict)
        for line in self.filtered(lambda ln: ln.level == "error" and ln.res_model and ln.res_id):
            by_model[line.res_model].setdefault(line.res_id, line.message)
        for model, messages in by_model.items():
            if model not in self.env or not hasattr(self.env[model], "message_post"):
                continue
            records = self.env[model].sudo().browse(list(messages)).exists()
            for record in records:
                record.message_post(
                    body=self.env._("Office 365 sync failed: %s", messages[record.id]),
                    message_type="notification",
                    subtype_xmlid="mail.mt_note",
                )

    def action_retry(self):
        """Put the failed items back in their user's queue and wake the sync job."""
        links = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("state", "=", "error"),
                    "|",
                    ("event_id", "in", [ev for ev in self.mapped("event_id") if ev]),
                    ("res_id", "in", [rid for rid in self.mapped("res_id") if rid]),
                ]
            )
        )
        targets = {(line.res_model, line.res_id) for line in self}
        links = links.filtered(lambda ln: (ln.res_model, ln.res_id) in targets)
        links.write({"state": "pending", "error": False})
        # Users may only read their own lines (record rules): marking them needs no write right.
        self.check_access("read")
        self.sudo().write({"retried": True})
        self.env["office365.account"]._o365_trigger_sync()
        return True
