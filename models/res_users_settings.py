# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from ..services.constants import PARAM

SYNC_OPTIONS = [
    ("activities", "Sync ERP activities"),
    ("events", "Sync Office 365 events"),
    ("holidays", "Sync holidays"),
]

# Preference fields each user may read and edit on their own settings (Preferences tab).
O365_USER_FIELDS = [
    "o365_activities_enabled",
    "o365_sync_phonecall",
    "o365_sync_task",
    "o365_sync_meeting",
    "o365_activity_slot",
    "o365_activity_hour",
    "o365_activity_duration",
    "o365_push_existing",
    "o365_events_enabled",
    "o365_include_private",
    "o365_exclude_categories",
    "o365_include_categories",
    "o365_holidays_enabled",
    "o365_past_days",
    "o365_future_days",
    "o365_calendar_id",
    "o365_same_field_rule",
    "o365_delete_rule",
    "o365_prevent_odoo_create",
    "o365_prevent_odoo_update",
    "o365_prevent_odoo_delete",
    "o365_prevent_outlook_create",
    "o365_prevent_outlook_update",
    "o365_prevent_outlook_delete",
]

# Settings an administrator can give a default and lock (the option switches are not settings).
# Storage (documented in the README of Settings -> Office 365 Calendar):
#   ir.config_parameter ``office365_calendar_sync.default.<field>``: the default of new users and
#   the value forced while locked; ``office365_calendar_sync.lock.<field>`` = "True": locked.
LOCKABLE_FIELDS = [name for name in O365_USER_FIELDS if not name.endswith("_enabled")]
# Admin maximum of the sync window (days); a user value above it is refused, and clamped.
WINDOW_MAXIMUM = {"o365_past_days": "max_past_days", "o365_future_days": "max_future_days"}


class ResUsersSettings(models.Model):
    _inherit = "res.users.settings"

    # Option 1: Sync ERP activities
    o365_activities_enabled = fields.Boolean("Sync ERP activities started", copy=False)
    o365_sync_phonecall = fields.Boolean("Sync phone calls", default=True)
    o365_sync_task = fields.Boolean("Sync tasks", default=True)
    o365_sync_meeting = fields.Boolean("Sync meetings", default=True)
    o365_activity_slot = fields.Selection(
        [("allday", "All-day event"), ("slot", "Time slot")],
        "Activity events as",
        default="allday",
        required=True,
    )
    o365_activity_hour = fields.Float("Default start time", default=9.0)
    o365_activity_duration = fields.Float("Default duration (hours)", default=0.5)
    o365_push_existing = fields.Boolean(
        "Include existing activities",
        default=True,
        help="When syncing starts, also push the open activities already inside the sync window.",
    )
    # Option 2: Sync Office 365 events
    o365_events_enabled = fields.Boolean("Sync Office 365 events started", copy=False)
    o365_include_private = fields.Boolean("Include private events", default=False)
    o365_exclude_categories = fields.Char(
        "Exclude categories", help="Comma-separated Outlook categories never logged in Odoo."
    )
    o365_include_categories = fields.Char(
        "Include categories",
        help="Comma-separated Outlook categories; when set, only events in one of them are logged.",
    )
    # Option 3: Sync holidays
    o365_holidays_enabled = fields.Boolean("Sync holidays started", copy=False)
    # Common settings
    o365_past_days = fields.Integer("Days in the past", default=30)
    o365_future_days = fields.Integer("Days in the future", default=365)
    o365_calendar_id = fields.Char(
        "Outlook calendar",
        help="Identifier of the Outlook calendar to use; empty: default calendar.",
    )
    o365_same_field_rule = fields.Selection(
        [("odoo", "Odoo wins"), ("outlook", "Outlook wins"), ("newest", "Newest wins")],
        "Same field changed on both sides",
        default="newest",
        required=True,
    )
    o365_delete_rule = fields.Selection(
        [("delete", "Delete wins"), ("update", "Update wins")],
        "Deleted on one side, updated on the other",
        # A deletion is a deliberate act; an update may be incidental: by default it stands.
        default="delete",
        required=True,
    )
    o365_prevent_odoo_create = fields.Boolean("Prevent creating in Odoo")
    o365_prevent_odoo_update = fields.Boolean("Prevent updating in Odoo")
    o365_prevent_odoo_delete = fields.Boolean("Prevent deleting in Odoo")
    o365_prevent_outlook_create = fields.Boolean("Prevent creating in Outlook")
    o365_prevent_outlook_update = fields.Boolean("Prevent updating in Outlook")
    o365_prevent_outlook_delete = fields.Boolean("Prevent deleting in Outlook")

    def _o365_option_enabled(self, option):
        self.ensure_one()
        return bool(self[f"o365_{option}_enabled"])

    # ------------------------------------------------------------------
    @api.model
    @tools.ormcache()
    def _o365_enabled_user_ids(self):
        """Users with at least one option started (cached: checked on every synced write)."""
        # Read what this transaction wrote, not only what is already flushed.
        self.flush_model(
            ["user_id", "o365_activities_enabled", "o365_events_enabled", "o365_holidays_enabled"]
        )
        self.env.cr.execute(
            """
            SELECT user_id FROM res_users_settings
             WHERE o365_activities_enabled OR o365_events_enabled OR o365_holidays_enabled
            """
        )
        return frozenset(row[0] for row in self.env.cr.fetchall())

    @api.model
    def _o365_any_enabled(self):
        return bool(self._o365_enabled_user_ids())

    @api.model
    def _o365_activity_prefs(self, user_ids):
        """{user id: {setting: effective value}} of the activity-type switches of the given
        users who started "Sync ERP activities" (activities and meetings both need them)."""
        enabled = self._o365_enabled_user_ids()
        user_ids = [uid for uid in set(user_ids) if uid in enabled]
        if not user_ids:
            return {}
        settings = self.sudo().search(
            [("user_id", "in", user_ids), ("o365_activities_enabled", "=", True)]
        )
        names = ("o365_sync_phonecall", "o365_sync_task", "o365_sync_meeting")
        # Effective values: the administrator may lock these choices for everyone.
        return {
            row.user_id.id: {name: row._o365_effective(name) for name in names} for row in settings
        }

    @api.model_create_multi
    def create(self, vals_list):
        defaults = self._o365_admin_defaults()
        for vals in vals_list:
            for name, value in defaults.items():
                vals.setdefault(name, value)
        return super().create(vals_list)

    def write(self, vals):
        self._o365_check_write(vals)
        result = super().write(vals)
        if {f"o365_{option}_enabled" for option, _label in SYNC_OPTIONS} & set(vals):
            self.env.registry.clear_cache()
        return result

    # ------------------------------------------------------------------
    # Admin defaults, locks and maximums
    # ------------------------------------------------------------------
    @api.model
    def _o365_param_value(self, name, raw):
        """Convert a stored parameter to the value type of the setting ``name``."""
        field = self._fields[name]
        if field.type == "boolean":
            return raw == "True"
        if field.type == "integer":
            return int(raw or 0)
        if field.type == "float":
            return float(raw or 0.0)
        return raw or False

    @api.model
    def _o365_admin_defaults(self):
        """{setting: value} for every setting the administrator gave a default."""
        get = self.env["ir.config_parameter"].sudo()._o365_params().get
        defaults = {}
        for name in LOCKABLE_FIELDS:
            raw = get(f"{PARAM}default.{name}")
            if raw is not None and raw is not False:
                defaults[name] = self._o365_param_value(name, raw)
        return defaults

    @api.model
    def _o365_locked_fields(self):
        """The settings the administrator locked (users see them greyed and cannot change them)."""
        get = self.env["ir.config_parameter"].sudo()._o365_params().get
        return {name for name in LOCKABLE_FIELDS if get(f"{PARAM}lock.{name}") == "True"}

    @api.model
    def _o365_is_locked(self, name):
        """Whether the administrator locked the setting ``name`` (one cache look-up: a run reads
        a dozen settings)."""
        params = self.env["ir.config_parameter"].sudo()._o365_params()
        return params.get(f"{PARAM}lock.{name}") == "True"

    @api.model
    def _o365_window_maximum(self, name):
        params = self.env["ir.config_parameter"].sudo()._o365_params()
        raw = params.get(PARAM + WINDOW_MAXIMUM[name])
        return int(raw) if raw and str(raw).isdigit() and int(raw) > 0 else None

    @api.model
    def _o365_locked_value(self, name):
        """The value a locked setting has for everyone (the admin default, else the field's)."""
        defaults = self._o365_admin_defaults()
        if name in defaults:
            return defaults[name]
        return self.default_get([name]).get(name, False)

    def _o365_effective(self, name):
        """The value of a sync setting for this user (admin locks and maximums applied)."""
        self.ensure_one()
        value = self[name]
        if name in LOCKABLE_FIELDS and self._o365_is_locked(name):
            value = self._o365_locked_value(name)
        if name in WINDOW_MAXIMUM:
            maximum = self._o365_window_maximum(name)
            value = max(value or 0, 0)
            if maximum is not None:
                value = min(value, maximum)
        return value

    def _o365_check_write(self, vals):
        """Server-side enforcement of the admin's locks and maximums for non-administrators."""
        for name in WINDOW_MAXIMUM:
            if name in vals and (vals[name] or 0) < 0:
                raise ValidationError(
                    self.env._("%s cannot be negative.", self._fields[name].string)
                )
        user = self.env.user
        if user._is_superuser() or user.has_group("base.group_system"):
            return
        locked = self._o365_locked_fields() & set(vals)
        for name in sorted(locked):
            forced = self._o365_locked_value(name)
            if (self._fields[name].convert_to_cache(vals[name], self) or False) != (
                forced or False
            ):
                raise UserError(
                    self.env._(
                        'Your administrator has locked the Office 365 setting "%(setting)s"; '
                        "it cannot be changed.",
                        setting=self._fields[name].string,
                    )
                )
        for name in set(WINDOW_MAXIMUM) & set(vals):
            maximum = self._o365_window_maximum(name)
            if maximum is not None and (vals[name] or 0) > maximum:
                raise UserError(
                    self.env._(
                        "%(setting)s: at most %(maximum)s days (the maximum set by your "
                        "administrator).",
                        setting=self._fields[name].string,
                        maximum=maximum,
                    )
                )


def setting_field(name, **kwargs):
    """A field declared like the user setting ``name`` (type, label, help, choices), plus
    ``kwargs``: the setting's mirror on ``res.users`` (Preferences) and its administrator
    default in the Settings are both made here, so each setting is declared once, above."""
    source = getattr(ResUsersSettings, name)
    args = {
        key: source.args[key]
        for key in ("string", "help", "selection")
        if source.args.get(key) is not None
    }
    return type(source)(**args, **kwargs)
