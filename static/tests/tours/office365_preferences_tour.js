/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// Preferences -> Office 365 Calendar: connect through the sign-in page (the Graph emulator
// consents at once and sends the browser back), then start and stop each option.

import { registry } from "@web/core/registry";

const OPTIONS = ["activities", "events", "holidays"];

function startStop(option) {
    const section = `.o_o365_option_${option}`;
    return [
        {
            content: `${option}: stopped before`,
            trigger: `${section} .o_o365_status_stopped`,
        },
        {
            content: `${option}: Start Syncing`,
            trigger: `${section} button.o_o365_start_${option}`,
            run: "click",
        },
        {
            content: `${option}: the status says it syncs, with a next run`,
            trigger: `.modal ${section} .o_o365_status_running`,
        },
        {
            content: `${option}: next run shown`,
            trigger: `.modal ${section} .o_field_widget[name='o365_${option}_next_run']:contains(:)`,
        },
        {
            content: `${option}: Stop Syncing`,
            trigger: `.modal ${section} button.o_o365_stop_${option}`,
            run: "click",
        },
        {
            content: `${option}: stopped again`,
            trigger: `.modal ${section} .o_o365_status_stopped`,
        },
        {
            content: `${option}: close the dialog`,
            trigger: ".modal .btn-close",
            run: "click",
        },
        {
            content: "dialog closed",
            trigger: "body:not(:has(.modal))",
        },
    ];
}

registry.category("web_tour.tours").add("office365_preferences_tour", {
    url: "/web",
    steps: () => [
        {
            content: "Open the user menu",
            trigger: ".o_user_menu button",
            run: "click",
        },
        {
            content: "Open the preferences",
            trigger: ".dropdown-item[data-menu='settings']",
            run: "click",
        },
        {
            content: "Open the Office 365 Calendar tab",
            trigger: ".modal .nav-link:contains(Office 365 Calendar)",
            run: "click",
        },
        {
            content: "Not connected yet",
            trigger: ".modal .o_o365_account_state:contains(Not connected)",
        },
        {
            content: "Connect to Office 365 (sign-in page, then back to the preferences)",
            trigger: ".modal button.o_o365_connect",
            run: "click",
        },
        {
            content: "Back from the sign-in: connected",
            trigger: ".o_o365_account_state:not(:contains(Not connected)):contains(Connected)",
        },
        {
            content: "The mailbox address is shown",
            trigger: ".o_o365_account_email:contains(tour.user@example.com)",
        },
        ...OPTIONS.flatMap(startStop),
        {
            content: "Sync Now is offered once connected",
            trigger: "button.o_o365_sync_now",
        },
    ],
});

// Settings -> Office 365 Calendar (administrator): the application and a locked default.
registry.category("web_tour.tours").add("office365_admin_settings_tour", {
    url: "/web#action=office365_calendar_sync.res_config_settings_action",
    steps: () => [
        {
            content: "The Office 365 Calendar settings are shown",
            trigger: ".o_field_widget[name='o365_client_id'] input",
            run: "edit tour-client-id",
        },
        {
            content: "The client secret is write-only (empty)",
            trigger: ".o_field_widget[name='o365_client_secret'] input:value()",
        },
        {
            content: "Default rule for a field changed on both sides: Odoo wins",
            trigger: ".o_field_widget[name='o365_default_same_field_rule'] select",
            run: "selectByLabel Odoo wins",
        },
        {
            content: "Lock it for every user",
            trigger: ".o_field_widget[name='o365_lock_same_field_rule'] input",
            run: "click",
        },
        {
            content: "Save",
            trigger: ".o_control_panel button:contains(Save)",
            run: "click",
        },
        {
            content: "Saved: the settings are read again, the lock stays",
            trigger: ".o_field_widget[name='o365_lock_same_field_rule'] input:checked",
        },
        {
            content: "Nothing is left unsaved",
            trigger: ".o_form_view:not(:has(.o_form_dirty)):not(.o_form_dirty)",
        },
    ],
});

// Preferences of a user under that lock: greyed; and the sync log opens.
registry.category("web_tour.tours").add("office365_locked_preferences_tour", {
    url: "/web",
    steps: () => [
        {
            trigger: ".o_user_menu button",
            run: "click",
        },
        {
            trigger: ".dropdown-item[data-menu='settings']",
            run: "click",
        },
        {
            trigger: ".modal .nav-link:contains(Office 365 Calendar)",
            run: "click",
        },
        {
            content: "The locked rule is read-only",
            trigger:
                ".modal .o_field_widget.o_readonly_modifier[name='o365_same_field_rule']:contains(Odoo wins)",
        },
        {
            content: "An unlocked setting stays editable",
            trigger: ".modal .o_field_widget[name='o365_past_days']:not(.o_readonly_modifier) input",
        },
        {
            content: "Open the sync log",
            trigger: ".modal button[name='action_o365_sync_log']",
            run: "click",
        },
        {
            content: "The user's sync runs are listed",
            trigger: ".o_list_view .o_data_row td:contains(Sync Office 365 events)",
        },
    ],
});
