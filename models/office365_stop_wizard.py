# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Stop Syncing: leave the option's events in Outlook, or remove them.

Removal goes through the outbox: the links are queued for deletion and the sync job deletes the
events in $batch requests, even though the option is stopped, logging after each run how many
were removed and how many are left.
"""

from odoo import api, fields, models

from ..services.constants import KIND_OPTION
from .res_users_settings import SYNC_OPTIONS


class Office365StopWizard(models.TransientModel):
    _name = "office365.stop.wizard"
    _description = "Stop an Office 365 sync option"

    user_id = fields.Many2one("res.users", required=True, ondelete="cascade")
    option = fields.Selection(SYNC_OPTIONS, required=True)
    event_count = fields.Integer("Events in Outlook", readonly=True)
    question = fields.Text(compute="_compute_question")

    @api.depends("option", "event_count")
    def _compute_question(self):
        labels = dict(self._fields["option"]._description_selection(self.env))
        for wizard in self:
            option = labels.get(wizard.option, "")
            if wizard.event_count == 1:
                put = self.env._("%(option)s put 1 event in your Outlook calendar.", option=option)
            else:
                put = self.env._(
                    "%(option)s put %(count)s events in your Outlook calendar.",
                    option=option,
                    count=wizard.event_count,
                )
            wizard.question = self.env._(
                "%(put)s Once stopped, they are no longer updated from Odoo.\n"
                "Leave them in Outlook, or remove them? Removal runs in the background; the "
                "sync log shows how many were removed and how many are left.",
                put=put,
            )

    @api.model
    def _o365_event_count(self, user, option):
        """How many events ``option`` put in ``user``'s Outlook calendar (and still owns)."""
        kinds = [kind for kind, opt in KIND_OPTION.items() if opt == option]
        if not kinds:
            return 0
        return (
            self.env["office365.link"]
            .sudo()
            .search_count(
                [
                    ("user_id", "=", user.id),
                    ("kind", "in", kinds),
                    ("event_id", "!=", False),
                    ("state", "!=", "detached"),
                ]
            )
        )

    @api.model
    def _o365_ask(self, user, option):
        """The question to show before stopping ``option`` (False: nothing to ask)."""
        count = self._o365_event_count(user, option)
        if not count:
            return False
        wizard = self.create({"user_id": user.id, "option": option, "event_count": count})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Stop Syncing"),
            "res_model": self._name,
            "res_id": wizard.id,
            "views": [(False, "form")],
            "target": "new",
        }

    def action_keep(self):
        """Stop; the events stay in Outlook (no longer updated)."""
        self.ensure_one()
        self.user_id._o365_check_self()
        self.user_id._o365_stop(self.option)
        # The preferences buttons (static/src/preferences/o365_button.js) ask this question in a
        # dialog of their own and reload the form in place once it is answered.
        return {"type": "ir.actions.act_window_close"}

    def action_remove(self):
        """Stop and delete the option's events from Outlook (by the sync job, in batches)."""
        self.ensure_one()
        self.user_id._o365_check_self()
        self.user_id._o365_stop(self.option, remove=True)
        return {"type": "ir.actions.act_window_close"}
