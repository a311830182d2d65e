# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError

from .res_users_settings import O365_USER_FIELDS, SYNC_OPTIONS

CTX_OPTION = "office365_calendar_sync_option"
# Models whose existing records are pushed when an option starts.
OPTION_MODELS = {
    "activities": ("mail.activity", "calendar.event"),
    "events": (),
    "holidays": ("hr.leave",),
}


class ResUsers(models.Model):
    _inherit = "res.users"

    o365_account_email = fields.Char(
        "Office 365 account", compute="_compute_o365_account", compute_sudo=True
    )
    o365_account_state = fields.Selection(
        [
            ("disconnected", "Not connected"),
            ("connected", "Connected"),
            ("reconnect", "Reconnect needed"),
        ],
        "Office 365 connection",
        compute="_compute_o365_account",
        compute_sudo=True,
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return (
            super().SELF_READABLE_FIELDS
            + ["o365_account_email", "o365_account_state"]
            + O365_USER_FIELDS
        )

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + [
            name for name in O365_USER_FIELDS if not name.endswith("_enabled")
        ]

    def _compute_o365_account(self):
        accounts = self.env["office365.account"].sudo().search([("user_id", "in", self.ids)])
        by_user = {account.user_id.id: account for account in accounts}
        for user in self:
            account = by_user.get(user.id)
            user.o365_account_email = account.email if account else False
            user.o365_account_state = account.state if account else "disconnected"

    def _o365_account(self):
        """This user's connection record (created on demand, system-only model)."""
        self.ensure_one()
        account_model = self.env["office365.account"].sudo()
        return account_model.search([("user_id", "=", self.id)], limit=1) or account_model.create(
            {"user_id": self.id}
        )

    def _o365_settings(self):
        self.ensure_one()
        return self.env["res.users.settings"].sudo()._find_or_create_for_user(self)

    # ------------------------------------------------------------------
    # Buttons of Preferences -> Office 365 Calendar
    # ------------------------------------------------------------------
    def _o365_button_option(self):
        option = self.env.context.get(CTX_OPTION)
        if option not in dict(SYNC_OPTIONS):
            raise UserError(self.env._("Unknown Office 365 sync option."))
        return option

    def action_o365_start(self):
        self.ensure_one()
        self._o365_check_self()
        self._o365_start(self._o365_button_option())
        return True

    def action_o365_stop(self):
        self.ensure_one()
        self._o365_check_self()
        self._o365_stop(self._o365_button_option())
        return True

    def action_o365_sync_now(self):
        self.ensure_one()
        self._o365_check_self()
        account = self._o365_account()
        account.sync_requested_at = fields.Datetime.now()
        account._o365_trigger_sync()
        return True

    def _o365_check_self(self):
        if self != self.env.user and not self.env.user.has_group("base.group_system"):
            raise UserError(self.env._("You can only change your own Office 365 sync."))

    def _o365_start(self, option):
        self.ensure_one()
        account = self._o365_account()
        if account.state != "connected":
            raise UserError(self.env._("Connect your Office 365 account first."))
        settings = self._o365_settings()
        settings.write({f"o365_{option}_enabled": True})
        if option != "events" and (option != "activities" or settings.o365_push_existing):
            for model in OPTION_MODELS[option]:
                self.env[model].sudo()._o365_backfill(self)
        account.sync_requested_at = fields.Datetime.now()
        account._o365_trigger_sync()

    def _o365_stop(self, option):
        """Stop all traffic for the option; events already in Outlook stay."""
        self.ensure_one()
        self._o365_settings().write({f"o365_{option}_enabled": False})

    @api.model
    def _o365_syncing(self, option):
        """Ids of users who started ``option`` and are connected."""
        enabled = self.env["res.users.settings"]._o365_enabled_user_ids()
        if not enabled:
            return set()
        settings = (
            self.env["res.users.settings"]
            .sudo()
            .search([("user_id", "in", list(enabled)), (f"o365_{option}_enabled", "=", True)])
        )
        return set(settings.user_id.ids)
