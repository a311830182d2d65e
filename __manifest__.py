# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Office 365 Calendar Sync",
    "summary": "Two-way sync of activities, meetings and leaves with Microsoft 365 calendars",
    "version": "18.0.1.0.0",
    "category": "Productivity/Calendar",
    "license": "LGPL-3",
    "author": "office365_calendar_sync contributors",
    "website": "https://github.com/office365-calendar-sync/office365_calendar_sync",
    "development_status": "Alpha",
    "depends": ["mail", "calendar", "contacts", "hr_holidays"],
    "external_dependencies": {
        "python": ["msal", "requests", "dateutil", "tzlocal"],
    },
    "data": [
        "security/office365_calendar_sync_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron.xml",
        "data/ir_cron_inbound.xml",
        "data/ir_cron_subscriptions.xml",
        "views/res_users_views.xml",
        "views/oauth_templates.xml",
        "views/res_users_mailbox_views.xml",
        "views/res_config_settings_views.xml",
        "views/office365_sync_log_views.xml",
        "views/office365_inbound_event_views.xml",
        "views/do_not_sync_views.xml",
        "views/office365_stop_wizard_views.xml",
        "views/mail_activity_views.xml",
        "views/calendar_event_views.xml",
        "security/office365_calendar_security.xml",
        "security/office365_inbound_event_security.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "office365_calendar_sync/static/src/**/*",
        ],
        "web.assets_tests": [
            "office365_calendar_sync/static/tests/tours/**/*",
        ],
    },
    "installable": True,
    "application": False,
}
