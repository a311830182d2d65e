/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// Tours of Preferences -> Office 365 Calendar and Settings -> Office 365 Calendar, run by
// tests/test_tour.py in headless Chromium. While they run, the test plays the sync cron worker
// (each Start Syncing and Sync Now gets its run) and saves the screenshots the steps ask for.

import { registry } from "@web/core/registry";

const OPTIONS = ["activities", "events", "holidays"];
// Waits that include a sync run (the test's worker polls for requests).
const RUN_TIMEOUT = 60000;

/** Ask the test (tests/test_tour.py) for something, and wait until it is done. */
function askTest(request, content) {
    return {
        content,
        trigger: "body",
        async run() {
            window.__o365Done = null;
            console.log(`office365-test:${request}`);
            const deadline = Date.now() + 60000;
            while (window.__o365Done !== request) {
                if (Date.now() > deadline) {
                    throw new Error(`the test did not do ${request}`);
                }
                await new Promise((resolve) => setTimeout(resolve, 50));
            }
        },
    };
}

/** A screenshot of the page as it is now (docs/screenshots with make screenshots). */
function screenshot(name) {
    return askTest(`screenshot:${name}`, `screenshot: ${name}`);
}

/** Meanwhile, in Outlook: a meeting with Claire Dubois is booked. */
function bookOutlookMeeting() {
    return askTest("outlook:book-meeting", "In Outlook, the user books a meeting with a contact");
}

/** Scroll ``selector`` to the top of its scrolling area (before a screenshot). */
function scrollTo(selector) {
    return {
        content: `scroll to ${selector}`,
        trigger: selector,
        run() {
            this.anchor.scrollIntoView({ block: "start" });
        },
    };
}

/** Fails unless exactly ``count`` dialogs are open (a second preferences form is a bug). */
function dialogs(count, content) {
    return {
        content,
        trigger: "body",
        run() {
            const open = document.querySelectorAll(".modal").length;
            if (open !== count) {
                throw new Error(`${open} dialog(s) open, expected ${count}`);
            }
        },
    };
}

function openPreferences() {
    return [
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
            trigger: ".o_notebook a.nav-link[name='office365_calendar']",
            run: "click",
        },
    ];
}

/**
 * Start then stop one option; the form is reloaded in place (``scope``: the form's container).
 * ``outlookEvents``: how many events the option's first run puts in Outlook; Stop Syncing then
 * asks whether to leave or remove them, and the tour leaves them.
 */
function startStop(option, scope, count, outlookEvents = 0) {
    const section = `${scope} .o_o365_option_${option}`;
    const stop = [
        {
            content: `${option}: Stop Syncing`,
            trigger: `${section} button.o_o365_stop_${option}`,
            run: "click",
        },
    ];
    if (outlookEvents) {
        stop.unshift(askTest("outlook:synced", `${option}: the first run has reached Outlook`));
        stop.push(
            {
                content: `${option}: Stop asks about the events in Outlook, over the same form`,
                trigger: `.modal .o_o365_stop_question:contains(put ${outlookEvents} event${outlookEvents === 1 ? "" : "s"} in your Outlook calendar)`,
            },
            dialogs(count + 1, `${option}: the question is the only new dialog`),
            screenshot(`preferences-stop-${option}`),
            {
                content: `${option}: leave them in Outlook`,
                trigger: ".modal button.o_o365_stop_keep",
                run: "click",
            },
            {
                trigger: "body:not(:has(.o_o365_stop_question))",
            }
        );
    }
    return [
        {
            content: `${option}: stopped before`,
            trigger: `${section} .o_o365_status_stopped`,
        },
        {
            content: `${option}: Start Syncing`,
            trigger: `${section} button.o_o365_start_${option}:enabled`,
            run: "click",
        },
        {
            content: `${option}: the same form now says it syncs`,
            trigger: `${section} .o_o365_status_running:contains(Syncing)`,
        },
        dialogs(count, `${option}: no second copy of the preferences opened`),
        {
            content: `${option}: next run shown`,
            trigger: `${section} .o_field_widget[name='o365_${option}_next_run']:contains(:)`,
        },
        ...stop,
        {
            content: `${option}: stopped again, in the same form`,
            trigger: `${section} .o_o365_status_stopped:contains(Stopped)`,
        },
        dialogs(count, `${option}: still no second copy`),
    ];
}

/** Sync Now: "Sync queued", then the run's result from the bus, and the status reloaded. */
function syncNow(scope, option, expected) {
    return [
        bookOutlookMeeting(),
        {
            content: "Sync Now",
            trigger: `${scope} button.o_o365_sync_now`,
            run: "click",
        },
        {
            content: "The sync is queued",
            trigger: ".o_notification:contains(Sync queued)",
        },
        {
            content: "The result arrives when the run ends",
            trigger: `.o_notification:contains(Office 365 sync finished):contains(${expected})`,
            timeout: RUN_TIMEOUT,
        },
        {
            content: "The status is reloaded: last run shown",
            trigger: `${scope} .o_o365_option_${option} .o_field_widget[name='o365_${option}_last_run']:contains(:)`,
        },
    ];
}

// A user without an employee: the preferences are a dialog.
registry.category("web_tour.tours").add("office365_preferences_tour", {
    url: "/web",
    steps: () => [
        ...openPreferences(),
        {
            content: "Not connected yet",
            trigger: ".modal .o_o365_account_state:contains(Not connected)",
        },
        {
            content: "A call to action says what to do first",
            trigger: ".modal .o_o365_connect_hint:contains(Connect your Office 365 account first)",
        },
        ...OPTIONS.map((option) => ({
            content: `${option}: Start Syncing shown, disabled, with the reason`,
            trigger: `.modal .o_o365_option_${option}:has(button.o_o365_start_${option}:disabled):has(.o_o365_start_hint:contains(Connect your Office 365 account first))`,
        })),
        {
            content: "No option claims to sync",
            trigger: ".modal .o_o365_preferences:not(:has(.o_o365_status_running))",
        },
        screenshot("preferences-not-connected"),
        {
            content: "Connect to Office 365 (sign-in page, then back to the preferences)",
            trigger: ".modal button.o_o365_connect",
            run: "click",
        },
        {
            content: "Back from the sign-in: the preferences again, connected",
            trigger: ".modal .o_o365_account_state:contains(Connected)",
        },
        {
            content: "... on the Office 365 Calendar tab",
            trigger: ".modal .o_notebook a.nav-link.active[name='office365_calendar']",
        },
        {
            content: "A notification says which mailbox",
            trigger: ".o_notification:contains(Connected as tour.user@example.com)",
        },
        {
            content: "The mailbox address is shown",
            trigger: ".modal .o_o365_connected_as:contains(tour.user@example.com)",
        },
        {
            content: "Start Syncing is enabled now",
            trigger: ".modal button.o_o365_start_events:enabled",
        },
        // The user's phone call goes to Outlook with the first run of Sync ERP activities.
        ...OPTIONS.flatMap((option) =>
            startStop(option, ".modal", 1, option === "activities" ? 1 : 0)
        ),
        {
            content: "Start Sync ERP activities",
            trigger: ".modal button.o_o365_start_activities",
            run: "click",
        },
        {
            trigger: ".modal .o_o365_option_activities .o_o365_status_running",
        },
        {
            content: "Start Sync Office 365 events",
            trigger: ".modal button.o_o365_start_events",
            run: "click",
        },
        {
            trigger: ".modal .o_o365_option_events .o_o365_status_running",
        },
        ...syncNow(".modal", "events", "Sync Office 365 events: 1 created."),
        {
            content: "The Outlook meeting was logged: the status counts it",
            trigger:
                ".modal .o_o365_option_events .o_field_widget[name='o365_events_items']:not(:contains(0))",
            timeout: RUN_TIMEOUT,
        },
        dialogs(1, "Still one preferences dialog"),
        screenshot("preferences"),
        scrollTo(".modal .o_o365_option_events"),
        screenshot("preferences-events"),
        {
            content: "Close the preferences",
            trigger: ".modal .btn-close",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Open the contacts",
            trigger: "body",
            run() {
                window.location.assign("/web#action=contacts.action_contacts");
            },
        },
        {
            content: "Open the contact of the Outlook meeting",
            trigger: ".o_kanban_record:contains(Claire Dubois)",
            run: "click",
        },
        {
            content: "The Outlook meeting is on the contact's timeline",
            trigger: ".o-mail-Chatter:contains(Quarterly review)",
        },
        screenshot("contact-timeline"),
        {
            content: "Open the sync log",
            trigger: "body",
            run() {
                window.location.assign(
                    "/web#action=office365_calendar_sync.office365_sync_log_action"
                );
            },
        },
        {
            content: "The runs are listed",
            trigger: ".o_list_view .o_data_row td:contains(Sync Office 365 events)",
        },
        screenshot("sync-log"),
        {
            content: "Open a run of Sync Office 365 events that created something",
            trigger:
                ".o_list_view .o_data_row:has(td:contains(Sync Office 365 events)):has(td[name='created']:not(:contains(0))) td[name='option']",
            run: "click",
        },
        {
            content: "The run has a name, not office365.sync.log,N",
            trigger: ".o_form_view .oe_title h1:contains(Sync Office 365 events, ):contains(Tour User)",
        },
        {
            content: "The breadcrumb names it too",
            trigger: ".o_breadcrumb:contains(Sync Office 365 events, ):not(:contains(office365.sync.log))",
        },
        {
            content: "The run lists the meeting it logged from Outlook, with a link to it",
            trigger:
                ".o_form_view .o365_run_items .o_data_row:has(td[name='operation']:contains(Created)):has(td[name='direction']:contains(Outlook → Odoo)):has(td[name='subject']:contains(Quarterly review)) td[name='record_link'] a[href^='/odoo/office365.inbound.event/']",
        },
        screenshot("sync-run"),
    ],
});

// An employee (hr): the preferences open as the full profile form, in the page itself.
registry.category("web_tour.tours").add("office365_profile_tour", {
    url: "/web",
    steps: () => [
        ...openPreferences(),
        {
            content: "The profile form fills the page (no dialog)",
            trigger: ".o_action_manager .o_form_view .o_o365_preferences",
        },
        dialogs(0, "No dialog"),
        {
            content: "Connected (set up by the test)",
            trigger: ".o_o365_account_state:contains(Connected)",
        },
        ...startStop("events", ".o_action_manager", 0),
        {
            content: "Start Sync Office 365 events",
            trigger: ".o_action_manager button.o_o365_start_events",
            run: "click",
        },
        {
            trigger: ".o_action_manager .o_o365_option_events .o_o365_status_running",
        },
        dialogs(0, "Still no dialog: the profile form was reloaded in place"),
        ...syncNow(".o_action_manager", "events", "Sync Office 365 events: 1 created."),
        dialogs(0, "No dialog after Sync Now either"),
        {
            content: "Stop it again",
            trigger: ".o_action_manager button.o_o365_stop_events",
            run: "click",
        },
        {
            trigger: ".o_action_manager .o_o365_option_events .o_o365_status_stopped",
        },
        screenshot("profile-form"),
    ],
});

// Settings -> Office 365 Calendar (administrator): the application and a locked default; then
// the administrator's own sign-in, refused because their address is not in the tenant.
registry.category("web_tour.tours").add("office365_admin_settings_tour", {
    url: "/web#action=office365_calendar_sync.res_config_settings_action",
    steps: () => [
        {
            content: "The Office 365 Calendar settings are shown",
            trigger: ".o_field_widget[name='o365_client_id'] input",
            run: "edit 9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
        },
        {
            content: "The client id is shown whole",
            trigger: ".o_field_widget[name='o365_client_id'] input",
            run() {
                const input = this.anchor;
                if (input.scrollWidth > input.clientWidth) {
                    throw new Error("the client id is cut");
                }
            },
        },
        {
            content: "The CA path is shown whole",
            trigger: ".o_field_widget[name='o365_ca_bundle'] input",
            run() {
                const input = this.anchor;
                if (!input.value || input.scrollWidth > input.clientWidth) {
                    throw new Error(`the CA path is cut or empty: ${input.value}`);
                }
            },
        },
        {
            content: "The redirect URI to register, with a copy button",
            trigger:
                ".o_field_widget[name='o365_redirect_uri']:contains(/office365_calendar_sync/oauth/callback):has(button.o_clipboard_button)",
        },
        {
            content: "Prevent operations: the Odoo side in one column",
            trigger:
                "#o365_default_prevent_odoo_setting:has([name='o365_default_prevent_odoo_create']):has([name='o365_default_prevent_odoo_update']):has([name='o365_default_prevent_odoo_delete']):not(:has([name*='outlook']))",
        },
        {
            content: "... the Outlook side in the other",
            trigger:
                "#o365_default_prevent_outlook_setting:has([name='o365_default_prevent_outlook_create']):has([name='o365_default_prevent_outlook_update']):has([name='o365_default_prevent_outlook_delete']):not(:has([name*='odoo']))",
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
        screenshot("settings"),
        scrollTo("#o365_default_prevent_odoo_setting"),
        screenshot("settings-prevent"),
    ],
});

// The administrator's own sign-in: their address does not exist in the tenant.
registry.category("web_tour.tours").add("office365_admin_signin_tour", {
    url: "/web",
    steps: () => [
        ...openPreferences(),
        {
            content: "Connect to Office 365",
            trigger: ".o_o365_preferences button.o_o365_connect",
            run: "click",
        },
        {
            content: "The refusal is shown in Odoo's page layout, saying what is wrong",
            trigger:
                ".o365_signin_message .o365_error:contains(Microsoft 365 has no account admin@example.com)",
        },
        screenshot("signin-refused"),
        {
            content: "Back to the preferences",
            trigger: ".o365_signin_message a.o365_back",
            run: "click",
        },
        {
            content: "The preferences again, on the Office 365 Calendar tab",
            trigger: ".o_notebook a.nav-link.active[name='office365_calendar']",
        },
        {
            content: "... not connected",
            trigger: ".o_o365_account_state:contains(Not connected)",
        },
        {
            trigger: ".o_notification:contains(Your Office 365 account is not connected)",
        },
    ],
});

// Preferences of a user under that lock, whose sign-in Microsoft refuses now: the lock is
// explained, Reconnect is offered and the started option is shown paused.
registry.category("web_tour.tours").add("office365_locked_preferences_tour", {
    url: "/web",
    steps: () => [
        ...openPreferences(),
        {
            content: "The locked rule is read-only",
            trigger:
                ".modal .o_field_widget.o_readonly_modifier[name='o365_same_field_rule']:contains(Odoo wins)",
        },
        {
            content: "... and says who set it",
            trigger:
                ".modal .o_o365_setting:has([name='o365_same_field_rule']) .o_o365_locked:contains(Set by your administrator)",
        },
        {
            content: "An unlocked setting stays editable, without the hint",
            trigger:
                ".modal .o_o365_setting:has(.o_field_widget[name='o365_past_days']:not(.o_readonly_modifier) input):not(:has(.o_o365_locked))",
        },
        {
            content: "Reconnect needed: Reconnect is offered",
            trigger: ".modal .o_o365_account_state:contains(Reconnect needed)",
        },
        {
            trigger: ".modal button.o_o365_reconnect:contains(Reconnect)",
        },
        {
            content: "... not Connect",
            trigger: ".modal .o_o365_preferences:not(:has(button.o_o365_connect))",
        },
        {
            content: "The started option is paused, not syncing",
            trigger:
                ".modal .o_o365_option_events .o_o365_status_paused:contains(Paused: not connected)",
        },
        {
            trigger: ".modal .o_o365_preferences:not(:has(.o_o365_status_running))",
        },
        {
            trigger: ".modal .o_o365_reconnect_hint:contains(sign in again)",
        },
        {
            content: "A stopped option's Start Syncing is disabled, saying why",
            trigger:
                ".modal .o_o365_option_activities:has(button.o_o365_start_activities:disabled) .o_o365_start_hint:contains(Reconnect your Office 365 account first)",
        },
        screenshot("preferences-reconnect"),
        scrollTo(".modal .o_o365_option_events"),
        screenshot("preferences-paused"),
        scrollTo(".modal .o_o365_setting:has([name='o365_same_field_rule'])"),
        screenshot("preferences-locked"),
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

/** Settings: type ``clientId`` as the application (client) id, then press Test connection. */
function testConnection(clientId) {
    return [
        {
            content: `Client id ${clientId}`,
            trigger: ".o_field_widget[name='o365_client_id'] input",
            run: `edit ${clientId}`,
        },
        {
            content: "Test connection (saves first)",
            trigger: "button.o_o365_test_connection",
            run: "click",
        },
    ];
}

// The administrator mistypes the application (client) id: Test connection names the setting.
registry.category("web_tour.tours").add("office365_admin_wrong_client_id_tour", {
    url: "/web#action=office365_calendar_sync.res_config_settings_action",
    steps: () => [
        ...testConnection("11111111-2222-3333-4444-55555555555X"),
        {
            content: "The answer names the wrong setting, with Microsoft's code",
            trigger:
                ".o_notification:has(.o_notification_title:contains(Application (client) ID is wrong)):contains(AADSTS700016)",
        },
        {
            content: "The typo is saved (the settings are read again)",
            trigger:
                ".o_field_widget[name='o365_client_id'] input:value(11111111-2222-3333-4444-55555555555X)",
        },
        screenshot("settings-test-wrong"),
    ],
});

// A user whose sync the wrong setting paused: not told to sign in again.
registry.category("web_tour.tours").add("office365_app_paused_preferences_tour", {
    url: "/web",
    steps: () => [
        ...openPreferences(),
        {
            content: "Still connected: the sign-in is kept",
            trigger: ".modal .o_o365_account_state:contains(Connected)",
        },
        {
            content: "The started option says it is paused by the application settings",
            trigger:
                ".modal .o_o365_option_events .o_o365_status_app_paused:contains(Paused: application settings)",
        },
        {
            trigger: ".modal .o_o365_preferences:not(:has(.o_o365_status_running))",
        },
        {
            content: "... and that nothing is asked of the user",
            trigger: ".modal .o_o365_app_paused_hint:contains(you do not need to sign in again)",
        },
        {
            content: "No Reconnect, no Sync Now",
            trigger:
                ".modal .o_o365_preferences:not(:has(button.o_o365_reconnect)):not(:has(button.o_o365_sync_now))",
        },
        screenshot("preferences-app-paused"),
    ],
});

// The administrator sees the paused accounts, fixes the id and tests again: they resume.
registry.category("web_tour.tours").add("office365_admin_right_client_id_tour", {
    url: "/web#action=office365_calendar_sync.res_config_settings_action",
    steps: () => [
        {
            content: "The settings say which accounts the refused settings pause",
            trigger: ".o_o365_paused:contains(account(s) paused)",
        },
        scrollTo(".o_o365_paused"),
        screenshot("settings-paused"),
        {
            content: "... and why",
            trigger: ".o_o365_paused:contains(AADSTS700016)",
        },
        ...testConnection("11111111-2222-3333-4444-555555555555"),
        {
            content: "Connection works, and the paused account resumes",
            trigger:
                ".o_notification:has(.o_notification_title:contains(Connection works)):contains(1 paused account(s) resume now)",
        },
        {
            content: "The paused alert is gone (the settings are read again)",
            trigger: ".o_form_view:not(:has(.o_o365_paused))",
        },
        screenshot("settings-test-right"),
    ],
});

// The same user after the fix: syncing again, with no error and no sign-in.
registry.category("web_tour.tours").add("office365_resumed_preferences_tour", {
    url: "/web",
    steps: () => [
        ...openPreferences(),
        {
            trigger: ".modal .o_o365_account_state:contains(Connected)",
        },
        {
            content: "The option syncs again",
            trigger: ".modal .o_o365_option_events .o_o365_status_running:contains(Syncing)",
        },
        {
            content: "... with no error and no pause left",
            trigger:
                ".modal .o_o365_preferences:not(:has(.o_o365_app_paused_hint:visible)):not(:has(.o_o365_option_events .text-danger:visible))",
        },
        {
            trigger: ".modal button.o_o365_sync_now",
        },
        scrollTo(".modal .o_o365_option_events"),
        screenshot("preferences-resumed"),
    ],
});
