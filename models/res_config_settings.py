# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Settings -> Office 365 Calendar: the Azure application, the endpoints and the user defaults.

Everything is stored in ``ir.config_parameter`` under ``office365_calendar_sync.``:

- ``client_id``, ``client_secret`` (write-only here: never sent back to the browser; not
  stored at all when the server configuration provides ``office365_client_secret``), ``tenant``
  (a tenant id or ``organizations``), ``mode`` (``user``: each user signs in; ``app``: tenant-wide
  application permission consented once by an administrator), ``graph_url``, ``login_url``,
  ``ca_bundle`` (a CA file to trust, e.g. the local Graph emulator's), ``internal_domains``,
  ``public_base_url`` (change notifications), ``sync_interval_minutes`` (also the cron's interval),
  ``max_past_days`` / ``max_future_days`` (the admin maximum of the sync window);
- ``default.<setting>``: the default of every user setting (applied to new users' settings and,
  while locked, to everyone); ``lock.<setting>`` = ``True``: the setting is locked.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..controllers.main import CALLBACK_PATH, redirect_uri
from ..services.auth import check_application
from ..services.constants import PARAM
from ..services.errors import ApplicationRefused, GraphError
from .office365_account import server_option
from .res_users_settings import LOCKABLE_FIELDS, setting_field

CRON_XMLID = "office365_calendar_sync.ir_cron_office365_sync"
# The settings the identity platform checks: a change resumes the paused accounts.
APPLICATION_KEYS = ("client_id", "client_secret", "tenant", "login_url", "mode", "verify")


def _default_fields():
    """``o365_default_<setting>`` and ``o365_lock_<setting>`` for every lockable user setting."""
    result = {}
    for name in LOCKABLE_FIELDS:
        short = name.removeprefix("o365_")
        default = result[f"o365_default_{short}"] = setting_field(name)
        result[f"o365_lock_{short}"] = fields.Boolean(f"Lock {default.args.get('string') or short}")
    return result


DEFAULT_FIELDS = _default_fields()


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    o365_client_id = fields.Char(
        "Application (client) ID", config_parameter="office365_calendar_sync.client_id"
    )
    o365_client_secret = fields.Char(
        "Client secret",
        groups="base.group_system",
        help="Write-only: the stored secret is never shown; leave empty to keep it.",
    )
    o365_client_secret_set = fields.Boolean("A client secret is stored", readonly=True)
    o365_client_secret_from_server = fields.Boolean(
        "Client secret provided by the server",
        readonly=True,
        help="The server configuration (office365_client_secret in odoo.conf, or the "
        "O365_CLIENT_SECRET environment variable) provides the secret: it is not stored in the "
        "database.",
    )
    o365_tenant = fields.Char(
        "Tenant",
        config_parameter="office365_calendar_sync.tenant",
        default="organizations",
        help="Directory (tenant) id or domain, or 'organizations' for any work account.",
    )
    o365_mode = fields.Selection(
        [
            ("user", "Each user connects their own mailbox"),
            ("app", "Tenant-wide application permission (admin consents once)"),
        ],
        "Access mode",
        config_parameter="office365_calendar_sync.mode",
        default="user",
    )
    o365_admin_consent = fields.Boolean(
        "Administrator consent given", config_parameter="office365_calendar_sync.admin_consent"
    )
    o365_graph_url = fields.Char(
        "Microsoft Graph endpoint",
        config_parameter="office365_calendar_sync.graph_url",
        default="https://graph.microsoft.com/v1.0",
    )
    o365_login_url = fields.Char(
        "Sign-in endpoint",
        config_parameter="office365_calendar_sync.login_url",
        default="https://login.microsoftonline.com",
    )
    o365_ca_bundle = fields.Char(
        "CA bundle",
        config_parameter="office365_calendar_sync.ca_bundle",
        help="Path of a CA certificate file to trust (for a local Graph emulator); empty: the "
        "system's.",
    )
    o365_redirect_uri = fields.Char(
        "Redirect URI",
        compute="_compute_o365_redirect_uri",
        help="Register this address as a Web redirect URI of the application in Microsoft "
        "Entra ID.",
    )
    o365_internal_domains = fields.Char(
        "Internal e-mail domains",
        config_parameter="office365_calendar_sync.internal_domains",
        help="Comma-separated domains of the company's own addresses, e.g. example.com.",
    )
    o365_public_base_url = fields.Char(
        "Public base URL",
        config_parameter="office365_calendar_sync.public_base_url",
        help="The https address Microsoft Graph posts change notifications to; empty: polling.",
    )
    o365_sync_interval = fields.Integer(
        "Sync frequency (minutes)",
        config_parameter="office365_calendar_sync.sync_interval_minutes",
        default=15,
    )
    o365_max_past_days = fields.Integer(
        "Maximum days in the past",
        config_parameter="office365_calendar_sync.max_past_days",
        help="Upper limit of every user's sync window in the past (0: no limit).",
    )
    o365_max_future_days = fields.Integer(
        "Maximum days in the future",
        config_parameter="office365_calendar_sync.max_future_days",
        help="Upper limit of every user's sync window in the future (0: no limit).",
    )
    o365_paused_count = fields.Integer("Accounts paused", compute="_compute_o365_paused")
    o365_paused_reason = fields.Char("Why they are paused", compute="_compute_o365_paused")
    locals().update(DEFAULT_FIELDS)

    # As base_setup's counters: a compute of a settings form needs a dependency, or the form's
    # first onchange leaves it empty.
    @api.depends("company_id")
    def _compute_o365_paused(self):
        paused = self.env["office365.account"].sudo().search([("paused_reason", "!=", False)])
        for record in self:
            record.o365_paused_count = len(paused)
            record.o365_paused_reason = paused[:1].paused_reason or False

    @api.depends("o365_public_base_url")
    def _compute_o365_redirect_uri(self):
        # The address the sign-in sends (controllers/main.py): the public base URL, else
        # web.base.url.
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        for record in self:
            base = record.o365_public_base_url or base_url
            record.o365_redirect_uri = base.rstrip("/") + CALLBACK_PATH

    @api.model
    def get_values(self):
        res = super().get_values()
        get = self.env["ir.config_parameter"].sudo().get_param
        res["o365_client_secret"] = False
        res["o365_client_secret_set"] = bool(get(PARAM + "client_secret"))
        res["o365_client_secret_from_server"] = bool(server_option("office365_client_secret"))
        settings_model = self.env["res.users.settings"]
        defaults = settings_model._o365_admin_defaults()
        field_defaults = settings_model.default_get(LOCKABLE_FIELDS)
        locked = settings_model._o365_locked_fields()
        for name in LOCKABLE_FIELDS:
            short = name.removeprefix("o365_")
            res[f"o365_default_{short}"] = defaults.get(name, field_defaults.get(name, False))
            res[f"o365_lock_{short}"] = name in locked
        return res

    def set_values(self):
        for record in self:
            for name in ("o365_sync_interval", "o365_max_past_days", "o365_max_future_days"):
                if (record[name] or 0) < 0:
                    raise UserError(
                        self.env._("%s cannot be negative.", record._fields[name].string)
                    )
            if record.o365_mode == "app" and (record.o365_tenant or "").lower() in (
                "",
                "common",
                "organizations",
                "consumers",
            ):
                raise UserError(
                    self.env._(
                        "Tenant-wide application permission needs your tenant's id or domain "
                        "(not 'organizations')."
                    )
                )
            if record.o365_sync_interval < 1:
                raise UserError(self.env._("The sync frequency is at least one minute."))
        accounts = self.env["office365.account"]
        before = {key: accounts._o365_config()[key] for key in APPLICATION_KEYS}
        result = super().set_values()
        params = self.env["ir.config_parameter"].sudo()
        from_server = bool(server_option("office365_client_secret"))
        for record in self:
            if from_server:
                # The server's secret is the one used: no copy stays in the database.
                if params.get_param(PARAM + "client_secret"):
                    params.set_param(PARAM + "client_secret", False)
            elif record.o365_client_secret:
                params.set_param(PARAM + "client_secret", record.o365_client_secret)
            for name in LOCKABLE_FIELDS:
                short = name.removeprefix("o365_")
                value = record[f"o365_default_{short}"]
                field = self.env["res.users.settings"]._fields[name]
                if name == "o365_past_days" and record.o365_max_past_days:
                    value = min(value, record.o365_max_past_days)
                if name == "o365_future_days" and record.o365_max_future_days:
                    value = min(value, record.o365_max_future_days)
                if field.type == "boolean":
                    stored = "True" if value else "False"
                else:
                    stored = False if value in (False, None, "") else str(value)
                params.set_param(f"{PARAM}default.{name}", stored)
                locked = "True" if record[f"o365_lock_{short}"] else False
                params.set_param(f"{PARAM}lock.{name}", locked)
            record._o365_apply_locks()
            record._o365_update_cron()
        if before != {key: accounts._o365_config()[key] for key in APPLICATION_KEYS}:
            # Fixed (or not): the next run tries the new settings with the stored tokens.
            accounts._o365_resume_paused()
        return result

    def action_o365_test_connection(self):
        """Save, then prove the application's settings against the identity platform: the
        tenant's OpenID configuration, and with a secret a client-credentials token (client id
        and secret). The answer names the setting that is wrong."""
        self.ensure_one()
        accounts = self.env["office365.account"]
        paused = accounts.sudo().search_count([("paused_reason", "!=", False)])
        self.execute()  # saving changed settings resumes the paused accounts already
        config = accounts._o365_config()
        authority = f"{config['login_url']}/{config['tenant']}"
        try:
            checked = check_application(
                config["client_id"],
                config["client_secret"],
                authority,
                verify=config["verify"],
                # Users sign in (delegated mode): their sign-in page is checked too.
                redirect_uri=redirect_uri(self.env) if config["mode"] != "app" else None,
            )
        except ApplicationRefused as exc:
            return self._o365_notify(
                self.env._("%s is wrong", self._o365_setting_label(exc.setting)),
                exc.message,
                "danger",
            )
        except GraphError as exc:
            return self._o365_notify(
                self.env._("The identity platform could not be reached"), str(exc), "warning"
            )
        accounts._o365_resume_paused()
        message = self.env._("Checked: %s.", "; ".join(checked))
        if paused:
            message += " " + self.env._("%s paused account(s) resume now.", paused)
        return self._o365_notify(self.env._("Connection works"), message, "success")

    def _o365_setting_label(self, setting):
        field = {
            "client_id": "o365_client_id",
            "client_secret": "o365_client_secret",
            "tenant": "o365_tenant",
            "login_url": "o365_login_url",
        }.get(setting)
        return self._fields[field].string if field else setting

    def _o365_notify(self, title, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": kind != "success",
                # The settings are read again (the paused accounts' alert) without reloading
                # the page, which would take the notification away with it.
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _o365_apply_locks(self):
        """Locked settings take the admin's value in every user's settings as well, so code that
        reads the stored settings directly sees the same value as ``_o365_effective``."""
        settings_model = self.env["res.users.settings"].sudo()
        locked = settings_model._o365_locked_fields()
        vals = {name: settings_model._o365_locked_value(name) for name in locked}
        if not vals:
            return
        for name, value in vals.items():
            differing = settings_model.search([(name, "!=", value)])
            if differing:
                differing.write({name: value})

    def _o365_update_cron(self):
        """The sync job runs at the configured frequency."""
        cron = self.env.ref(CRON_XMLID, raise_if_not_found=False)
        minutes = self.o365_sync_interval or 15
        if cron and (cron.interval_type != "minutes" or cron.interval_number != minutes):
            cron.sudo().write({"interval_number": minutes, "interval_type": "minutes"})

    def action_o365_admin_consent(self):
        """Open Microsoft's administrator consent page for the application (app-only mode)."""
        self.ensure_one()
        self.execute()
        if not self.env["ir.config_parameter"].sudo().get_param(PARAM + "client_id"):
            raise UserError(self.env._("Enter the application (client) ID first."))
        return {
            "type": "ir.actions.act_url",
            "url": "/office365_calendar_sync/oauth/adminconsent/start",
            "target": "self",
        }
