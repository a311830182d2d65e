/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// Feedback of the Office 365 sync in the browser. At the end of each run the server sends the
// user one bus message (models/office365_sync_log.py, RUN_DONE); open preferences pages
// reload their status on it, and after Sync Now the run's result is shown as a notification.

import { EventBus } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

export const RUN_DONE = "office365_calendar_sync/run_done";

export const syncFeedbackService = {
    dependencies: ["bus_service", "notification"],
    start(env, { bus_service, notification }) {
        const bus = new EventBus();
        // Server time (UTC, "YYYY-MM-DD HH:MM:SS") of the last Sync Now still waiting for its
        // run: a run that started before it may have read the calendar too early.
        let waitingSince = null;
        bus_service.subscribe(RUN_DONE, (payload) => {
            if (waitingSince && payload.start >= waitingSince) {
                waitingSince = null;
                notification.add(payload.message, {
                    title: _t("Office 365 sync finished"),
                    type: payload.type,
                    sticky: payload.type !== "success",
                });
            }
            bus.trigger("RUN_DONE", payload);
        });
        bus_service.start();
        return {
            bus,
            /** Show the result of the first run that starts at or after ``queuedAt``. */
            expectResult(queuedAt) {
                waitingSince = queuedAt;
            },
        };
    },
};

registry.category("services").add("office365_sync_feedback", syncFeedbackService);
