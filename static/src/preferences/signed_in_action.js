/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// Where the sign-in with Microsoft returns (controllers/main.py): the user's preferences as the
// user menu opens them (a dialog over the first app, or the full profile form of an employee),
// on the Office 365 Calendar tab, and a notification saying how the account stands now.

import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

const TAB = "a.nav-link[name='office365_calendar']";

async function showOffice365Tab() {
    // The form is mounted when doAction resolves; its notebook may need a few more frames.
    for (let attempt = 0; attempt < 40; attempt++) {
        const form =
            document.querySelector(".modal .o_form_view") ||
            document.querySelector(".o_action_manager .o_form_view");
        const tab = form?.querySelector(TAB);
        if (tab) {
            tab.click();
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

export async function officeSignedIn(env) {
    const { action, menu, notification, orm } = env.services;
    const preferences = await orm.call("res.users", "action_get");
    preferences.res_id = user.userId;
    if (preferences.target === "new") {
        // A dialog needs a page behind it: the first app, as the web client opens by default.
        const firstApp = menu.getApps()[0];
        if (firstApp) {
            await menu.selectMenu(firstApp);
        }
        await action.doAction(preferences);
    } else {
        await action.doAction(preferences, { clearBreadcrumbs: true });
    }
    await showOffice365Tab();
    const [account] = await orm.read(
        "res.users",
        [user.userId],
        ["o365_account_state", "o365_account_email"]
    );
    if (account.o365_account_state === "connected") {
        notification.add(_t("Connected as %s", account.o365_account_email), {
            title: _t("Office 365 Calendar"),
            type: "success",
        });
    } else if (account.o365_account_state === "reconnect") {
        notification.add(_t("Microsoft asks you to sign in again: press Reconnect."), {
            title: _t("Office 365 Calendar"),
            type: "warning",
        });
    } else {
        notification.add(_t("Your Office 365 account is not connected."), {
            title: _t("Office 365 Calendar"),
            type: "warning",
        });
    }
}

registry.category("actions").add("office365_calendar_sync.signed_in", officeSignedIn);
