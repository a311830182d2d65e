# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import api, fields, models


class Office365SyncLogLine(models.Model):
    _name = "office365.sync.log.line"
    _description = "Office 365 calendar sync item problem"
    _order = "id desc"

    log_id = fields.Many2one("office365.sync.log", required=True, index=True, ondelete="cascade")
    user_id = fields.Many2one(related="log_id.user_id", store=True, index=True)
    option = fields.Selection(related="log_id.option", store=True)
    level = fields.Selection(
        [("error", "Error"), ("warning", "Warning"), ("info", "Info")], default="error"
    )
    message = fields.Text(required=True)
    res_model = fields.Char("Model")
    res_id = fields.Many2oneReference("Record ID", model_field="res_model")
    record_ref = fields.Reference(
        selection="_selection_record_ref", compute="_compute_record_ref", string="Record"
    )
    event_id = fields.Char("Outlook event")
    retried = fields.Boolean()

    @api.model
    def _selection_record_ref(self):
        return [(model.model, model.name) for model in self.env["ir.model"].sudo().search([])]

    @api.depends("res_model", "res_id")
    def _compute_record_ref(self):
        for line in self:
            valid = line.res_model in self.env and line.res_id
            line.record_ref = f"{line.res_model},{line.res_id}" if valid else False

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
