# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..services import mapping
from ..services.errors import GraphError
from ..services.tokenkeys import TokenKeyMissing
from .res_users_settings import LOCKABLE_FIELDS, O365_USER_FIELDS, SYNC_OPTIONS, setting_field

CTX_OPTION = "office365_calendar_sync_option"
# Models whose existing records are pushed when an option starts.
OPTION_MODELS = {
    "activities": ("mail.activity", "calendar.event"),
    "events": (),
    "holidays": ("hr.leave",),
}
OAUTH_START_URL = "/office365_calendar_sync/oauth/start"
# Per-option status shown in Preferences -> Office 365 Calendar.
STATUS_FIELDS = {
    "last_run": fields.Datetime,
    "next_run": fields.Datetime,
    "items": fields.Integer,
    "last_error": fields.Char,
}
STATUS_LABELS = {
    "last_run": "Last run",
    "next_run": "Next run",
    "items": "Items synced",
    "last_error": "Last error",
}


def _preference_fields():
    """res.users mirrors of the per-user settings (res.users.settings), with their lock flags.

    The Preferences dialog edits res.users; each mirror reads the effective value (locks applied)
    and writes back to res.users.settings, whose ``write`` enforces the locks on the server.
    """
    result = {}
    for name in O365_USER_FIELDS:
        if name.endswith("_enabled"):
            result[name] = setting_field(name, compute="_compute_o365_preferences")
        else:
            result[name] = setting_field(
                name, compute="_compute_o365_preferences", inverse="_inverse_o365_preferences"
            )
    for name in LOCKABLE_FIELDS:
        result[f"{name}_locked"] = fields.Boolean(compute="_compute_o365_preferences")
    for option, label in SYNC_OPTIONS:
        for key, field_type in STATUS_FIELDS.items():
            result[f"o365_{option}_{key}"] = field_type(
                f"{label}: {STATUS_LABELS[key].lower()}", compute="_compute_o365_status"
            )
    return result


PREFERENCE_FIELDS = _preference_fields()


class ResUsers(models.Model):
    _inherit = "res.users"

    # Connection and status fields show a user's own sync (administrators: everyone's); for
    # anyone else they are empty (see _o365_status_readers).
    o365_account_email = fields.Char("Office 365 account", compute="_compute_o365_account")
    o365_account_state = fields.Selection(
        [
            ("disconnected", "Not connected"),
            ("connected", "Connected"),
            ("reconnect", "Reconnect needed"),
        ],
        "Office 365 connection",
        compute="_compute_o365_account",
    )
    # Connected, but the identity platform refuses the administrator's application settings:
    # every option waits, the sign-in is kept and the sync resumes once the settings are fixed.
    o365_account_paused = fields.Boolean(
        "Paused by the application settings", compute="_compute_o365_account"
    )
    # App-only mode: the mailbox an administrator assigned to this user (the only address the
    # user's account may be bound to; the user's own e-mail address never decides it).
    o365_assigned_mailbox = fields.Char(
        "Assigned Office 365 mailbox",
        compute="_compute_o365_assigned_mailbox",
        inverse="_inverse_o365_assigned_mailbox",
        groups="base.group_system",
        help="Tenant-wide application permission: the mailbox this user's calendar sync reads "
        "and writes. Only administrators assign it.",
    )
    o365_sync_mode = fields.Selection(
        [("live", "Live (change notifications)"), ("polling", "Polling")],
        "Outlook changes arrive by",
        compute="_compute_o365_sync_mode",
    )
    o365_sync_interval = fields.Integer("Sync every (minutes)", compute="_compute_o365_sync_mode")
    o365_app_mode = fields.Boolean(compute="_compute_o365_sync_mode")
    o365_calendar_choice_id = fields.Many2one(
        "office365.calendar",
        "Outlook calendar to use",
        compute="_compute_o365_calendar_choice",
        inverse="_inverse_o365_calendar_choice",
        domain="[('user_id', '=', id)]",
        help="Empty: the default calendar. 'Load my calendars' lists the mailbox's calendars.",
    )
    # Mirrors of the preferences and their lock flags, and per-option status (see above).
    locals().update(PREFERENCE_FIELDS)

    @property
    def SELF_READABLE_FIELDS(self):
        return (
            super().SELF_READABLE_FIELDS
            + [
                "o365_account_email",
                "o365_account_state",
                "o365_account_paused",
                "o365_assigned_mailbox",  # shown to its user, changed by administrators only
                "o365_sync_mode",
                "o365_sync_interval",
                "o365_app_mode",
                "o365_calendar_choice_id",
            ]
            + list(PREFERENCE_FIELDS)
        )

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return (
            super().SELF_WRITEABLE_FIELDS
            + ["o365_calendar_choice_id"]
            + [name for name in O365_USER_FIELDS if not name.endswith("_enabled")]
        )

    def _o365_status_readers(self):
        """The users of ``self`` whose connection and sync status the current user may see:
        themself; administrators (and server code running as superuser) see everyone's."""
        if self.env.is_system():
            return self
        return self.filtered(lambda user: user.id == self.env.uid)

    @api.depends_context("uid")
    def _compute_o365_account(self):
        visible = self._o365_status_readers()
        accounts = self.env["office365.account"].sudo().search([("user_id", "in", visible.ids)])
        by_user = {account.user_id.id: account for account in accounts}
        for user in self:
            account = by_user.get(user.id)
            user.o365_account_email = account.email if account else False
            user.o365_account_state = account.state if account else "disconnected"
            user.o365_account_paused = bool(account and account.paused_reason)

    def _compute_o365_assigned_mailbox(self):
        accounts = self.env["office365.account"].sudo().search([("user_id", "in", self.ids)])
        by_user = {account.user_id.id: account.assigned_mailbox for account in accounts}
        for user in self:
            user.o365_assigned_mailbox = by_user.get(user.id, False)

    def _inverse_o365_assigned_mailbox(self):
        if not self.env.is_system():
            raise AccessError(self.env._("Only an administrator assigns Office 365 mailboxes."))
        for user in self:
            user._o365_account()._o365_assign_mailbox(user.o365_assigned_mailbox)

    def action_o365_assign_email_mailbox(self):
        """Administrators: assign each selected user's current e-mail address as their mailbox
        (a confirmation by the administrator; a later change of the address changes nothing)."""
        if not self.env.is_system():
            raise AccessError(self.env._("Only an administrator assigns Office 365 mailboxes."))
        for user in self.filtered("email"):
            user._o365_account()._o365_assign_mailbox(mapping.clean_email(user.email))
        return True

    @api.depends("res_users_settings_ids")
    @api.depends_context("uid")
    def _compute_o365_preferences(self):
        settings_model = self.env["res.users.settings"].sudo()
        locked = settings_model._o365_locked_fields()
        readable = self._o365_status_readers()
        for user in self:
            # Another user's choices are theirs: others see the defaults.
            settings = user.sudo().res_users_settings_ids[:1] if user in readable else None
            for name in O365_USER_FIELDS:
                if settings:
                    user[name] = settings._o365_effective(name)
                elif name in locked:
                    user[name] = settings_model._o365_locked_value(name)
                else:
                    user[name] = settings_model.default_get([name]).get(name, False)
            for name in LOCKABLE_FIELDS:
                user[f"{name}_locked"] = name in locked

    def _inverse_o365_preferences(self):
        """Writes go through ``write`` (per field, with the lock checks); creating a user with
        preferences stores them the same way."""
        return

    @api.model_create_multi
    def create(self, vals_list):
        prefs_list = [
            {
                name: vals.pop(name)
                for name in list(vals)
                if name in O365_USER_FIELDS and not name.endswith("_enabled")
            }
            for vals in vals_list
        ]
        users = super().create(vals_list)
        for user, prefs in zip(users, prefs_list, strict=True):
            if prefs:
                user._o365_write_preferences(prefs)
        return users

    @api.depends("o365_calendar_id")
    def _compute_o365_calendar_choice(self):
        calendars = (
            self.env["office365.calendar"]
            .sudo()
            .search([("user_id", "in", self.ids), ("calendar_id", "!=", False)])
        )
        by_key = {(cal.user_id.id, cal.calendar_id): cal for cal in calendars}
        for user in self:
            user.o365_calendar_choice_id = by_key.get((user.id, user.o365_calendar_id), False)

    def _inverse_o365_calendar_choice(self):
        """Writes go through ``write`` (as ``o365_calendar_id``, with the lock checks)."""
        return

    def write(self, vals):
        if "o365_calendar_choice_id" in vals:
            choice = (
                self.env["office365.calendar"]
                .sudo()
                .browse(vals.pop("o365_calendar_choice_id") or [])
            )
            if choice and any(choice.user_id != user for user in self):
                raise AccessError(self.env._("That Outlook calendar belongs to another user."))
            vals["o365_calendar_id"] = choice.calendar_id or False
        prefs = {
            name: vals.pop(name)
            for name in list(vals)
            if name in O365_USER_FIELDS and not name.endswith("_enabled")
        }
        if prefs:
            self._o365_write_preferences(prefs)
        return super().write(vals) if vals or not prefs else True

    def _o365_write_preferences(self, prefs):
        """Store preferences on res.users.settings; locks and maximums are checked on the values
        sent, even when the stored value already equals them."""
        me = self.env.user
        if (
            not self.env.su
            and any(user != me for user in self)
            and not me.has_group("base.group_system")
        ):
            raise AccessError(self.env._("You can only change your own Office 365 preferences."))
        settings_model = self.env["res.users.settings"]
        settings_model._o365_check_write(prefs)
        locked = settings_model._o365_locked_fields()
        vals = {name: value for name, value in prefs.items() if name not in locked}
        for user in self:
            settings = settings_model.sudo()._find_or_create_for_user(user)
            moved = "o365_calendar_id" in vals and (settings.o365_calendar_id or False) != (
                vals["o365_calendar_id"] or False
            )
            if vals:
                settings.write(vals)
            if moved:
                # Another calendar: its changes are read from scratch.
                user._o365_account().sudo().delta_link = False
        self.invalidate_recordset(list(prefs))

    def _compute_o365_sync_mode(self):
        """Live once the mailbox has a change subscription (needs the public base URL)."""
        get = self.env["ir.config_parameter"].sudo().get_param
        live = bool(get("office365_calendar_sync.public_base_url"))
        interval = int(get("office365_calendar_sync.sync_interval_minutes") or 15)
        app_mode = get("office365_calendar_sync.mode") == "app"
        account_model = self.env["office365.account"].sudo()
        accounts = account_model.search([("user_id", "in", self.ids)]) if live else account_model
        by_user = {account.user_id.id: account for account in accounts}
        for user in self:
            account = by_user.get(user.id)
            status = (
                account.subscription_status
                if account and "subscription_status" in account._fields
                else "live"
                if live
                else "polling"
            )
            user.o365_sync_mode = status
            user.o365_sync_interval = interval
            user.o365_app_mode = app_mode

    @api.depends_context("uid")
    def _compute_o365_status(self):
        """Per option: last run, next run, items synced and last error, from the sync log."""
        hidden = self - self._o365_status_readers()
        for user in hidden:
            for option, _label in SYNC_OPTIONS:
                for key in STATUS_FIELDS:
                    user[f"o365_{option}_{key}"] = 0 if key == "items" else False
        if self - hidden:
            (self - hidden)._o365_fill_status()

    def _o365_fill_status(self):
        log_model = self.env["office365.sync.log"].sudo()
        groups = log_model._read_group(
            [("user_id", "in", self.ids)],
            ["user_id", "option"],
            ["start:max", "created:sum", "updated:sum", "deleted:sum", "id:max"],
        )
        summary = {
            (user.id, option): (last_run, created + updated + deleted, last_id)
            for user, option, last_run, created, updated, deleted, last_id in groups
        }
        last_logs = log_model.browse([row[2] for row in summary.values()])
        errors = {}
        for log in last_logs:
            failed = log.line_ids.filtered(lambda ln: ln.level == "error")[:1]
            errors[log.id] = log.message or (failed.message if failed else False)
        accounts = self.env["office365.account"].sudo().search([("user_id", "in", self.ids)])
        account_of = {account.user_id.id: account for account in accounts}
        requested = set(
            self.env["office365.sync.request"]
            .sudo()
            .search([("account_id", "in", accounts.ids)])
            .account_id.ids
        )
        for user in self:
            account = account_of.get(user.id)
            settings = user.sudo().res_users_settings_ids[:1]
            for option, _label in SYNC_OPTIONS:
                last_run, items, last_id = summary.get((user.id, option), (False, 0, False))
                enabled = bool(settings and settings[f"o365_{option}_enabled"])
                next_run = False
                if enabled and account and account.state == "connected":
                    next_run = (
                        (account.id in requested and fields.Datetime.now())
                        or account.next_sync_at
                        or fields.Datetime.now()
                    )
                last_error = errors.get(last_id) or False
                if account and account.state == "reconnect" and enabled:
                    last_error = account.last_error or self.env._("Reconnect needed")
                if option == "activities" and enabled and not last_error:
                    # Meetings left to Odoo's own Outlook synchronization (microsoft_calendar).
                    last_error = self.env["calendar.event"]._o365_meeting_status(user)
                user[f"o365_{option}_last_run"] = last_run or False
                user[f"o365_{option}_next_run"] = next_run
                user[f"o365_{option}_items"] = items or 0
                user[f"o365_{option}_last_error"] = last_error and str(last_error)[:500]

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

    # The preferences buttons (static/src/preferences/o365_button.js) reload the open form in
    # place when a button returns no action: the Preferences dialog, or the full profile form
    # when the user is an employee (hr). A returned action (the sign-in page, a notification)
    # is executed first.
    def action_o365_start(self):
        self.ensure_one()
        self._o365_check_self()
        self._o365_start(self._o365_button_option())
        return True

    def action_o365_stop(self):
        """Stop the option; with events of it in Outlook, first ask whether they stay there."""
        self.ensure_one()
        self._o365_check_self()
        option = self._o365_button_option()
        question = self.env["office365.stop.wizard"]._o365_ask(self, option)
        if question:
            return question
        self._o365_stop(option)
        return True

    def action_o365_sync_now(self):
        """Queue a run; the page shows "Sync queued", then the run's result from the bus."""
        self.ensure_one()
        self._o365_check_self()
        account = self._o365_account()
        if account.state != "connected":
            raise UserError(self.env._("Connect your Office 365 account first."))
        queued_at = fields.Datetime.now()
        account._o365_request_sync("manual")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Office 365 Calendar"),
                "message": self.env._("Sync queued: the result shows here when the run ends."),
                "type": "info",
                # The page waits for the first run that starts from then on (a run already
                # going when the button was pressed may have read the calendar before).
                "office365_queued_at": fields.Datetime.to_string(queued_at),
            },
        }

    def action_o365_connect(self):
        """Delegated mode: sign in with Microsoft (PKCE, in the browser); app-only: check access."""
        self.ensure_one()
        self._o365_check_self()
        account_model = self.env["office365.account"].sudo()
        try:
            account_model._o365_check_token_key()
        except TokenKeyMissing as exc:
            raise UserError(exc.message) from exc
        if account_model._o365_config()["mode"] == "app":
            self._o365_connect_app_only()
            return True
        if self != self.env.user:
            raise UserError(
                self.env._("Only %s can sign in to their own Office 365 mailbox.", self.name)
            )
        return {"type": "ir.actions.act_url", "url": OAUTH_START_URL, "target": "self"}

    def _o365_connect_app_only(self):
        """Tenant-wide application permission: the application may reach every mailbox of the
        tenant, so the user's account is bound only to the mailbox an administrator assigned
        (never to the user's own, freely editable, e-mail address)."""
        account = self._o365_account()
        if not account.assigned_mailbox:
            raise UserError(
                self.env._(
                    "No Office 365 mailbox is assigned to %s yet: ask an administrator to assign "
                    "it (Settings > Users > Office 365 Calendar).",
                    self.name,
                )
            )
        account._o365_bind_mailbox(account.assigned_mailbox, "assigned")
        client = account._o365_graph_client()
        try:
            client.token_provider.get_token()
        except Exception as exc:  # shown to the user; nothing secret in Graph/msal errors
            account.write({"state": "disconnected", "last_error": str(exc)})
            raise UserError(
                self.env._("Office 365 refused the application's access: %s", exc)
            ) from exc
        finally:
            client.close()

    def action_o365_load_calendars(self):
        """List the calendars of the connected mailbox so the user can pick one."""
        self.ensure_one()
        self._o365_check_self()
        account = self._o365_account()
        if account.state != "connected":
            raise UserError(self.env._("Connect your Office 365 account first."))
        client = account._o365_graph_client()
        try:
            calendars = client.list_calendars()
        except GraphError as exc:
            raise UserError(self.env._("Outlook did not list the calendars: %s", exc)) from exc
        finally:
            account._o365_store_token_cache(client.token_provider.cache_state())
            client.close()
        self.env["office365.calendar"]._o365_refresh(self, calendars)
        return True

    def action_o365_disconnect(self):
        """Forget the local tokens and stop every option (events already in Outlook stay)."""
        self.ensure_one()
        self._o365_check_self()
        self._o365_disconnect()
        return True

    def _o365_disconnect(self):
        self.ensure_one()
        self._o365_settings().write(
            {f"o365_{option}_enabled": False for option, _label in SYNC_OPTIONS}
        )
        account = self._o365_account()
        account.write(
            {
                "token_cache": False,
                "delta_link": False,
                "state": "disconnected",
                "email": False,
                "verified_mailbox": False,
                "mailbox_proof": False,
                "last_error": False,
            }
        )

    def action_o365_open_preferences(self):
        """Open this user's Office 365 Calendar preferences (admins: for any user)."""
        self.ensure_one()
        self._o365_check_self()
        return self._o365_preferences_action()

    def action_o365_sync_log(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "office365_calendar_sync.office365_sync_log_action"
        )
        action["domain"] = [("user_id", "=", self.id)]
        # As the menu opens it: runs with changes or problems first (quiet runs share a line).
        action["context"] = {"search_default_with_changes": 1}
        return action

    def _o365_preferences_action(self):
        """This user's preferences form in a dialog, on its Office 365 Calendar tab (the user
        form's shortcut for administrators)."""
        view = self.env.ref(
            "office365_calendar_sync.res_users_view_form_o365_preferences", raise_if_not_found=False
        )
        if not view:
            return True
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Office 365 Calendar"),
            "res_model": "res.users",
            "res_id": self.id,
            "views": [(view.id, "form")],
            "target": "new",
        }

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
        if option == "events" and account.sudo().delta_link:
            # The calendar was read without this option: read the whole window again so the
            # meetings already in Outlook are logged too (known events are matched, not doubled).
            account.sudo().delta_link = False
        push_existing = settings._o365_effective("o365_push_existing")
        if option != "events" and (option != "activities" or push_existing):
            for model in OPTION_MODELS[option]:
                if hasattr(self.env[model], "_o365_backfill"):
                    self.env[model].sudo()._o365_backfill(self)
        account._o365_request_sync("manual")

    def _o365_stop(self, option, remove=False):
        """Stop all traffic for the option; events already in Outlook stay, unless ``remove``:
        then the sync job deletes the events the option put there (returns how many)."""
        self.ensure_one()
        self._o365_settings().write({f"o365_{option}_enabled": False})
        if remove:
            return self.env["office365.link"]._o365_queue_removal(self, option)
        return 0

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
