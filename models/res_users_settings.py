# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models, tools

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
        default="update",
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

    def write(self, vals):
        result = super().write(vals)
        if {f"o365_{option}_enabled" for option, _label in SYNC_OPTIONS} & set(vals):
            self.env.registry.clear_cache()
        return result

    def _o365_effective(self, name):
        """The value of a sync setting for this user (admin locks applied)."""
        self.ensure_one()
        return self[name]
