/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// The buttons of Preferences -> Office 365 Calendar. A plain object button that returns no
// action closes the Preferences dialog (act_window_close), and returning the form again opens a
// second copy of it; these buttons call the method, run the action it returns (the sign-in
// page, a notification) and reload the open form in place, in the dialog as in the full profile
// form of an employee (hr). The question Stop Syncing may ask (office365.stop.wizard) opens as a
// dialog over the form: opened as an action it would replace the Preferences dialog.

import { Component, useState, xml } from "@odoo/owl";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { Dialog } from "@web/core/dialog/dialog";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useBus, useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const OPTION_CONTEXT_KEY = "office365_calendar_sync_option";
const STOP_WIZARD = "office365.stop.wizard";

/** Stop Syncing: leave the option's events in Outlook, or remove them (or cancel). */
export class O365StopDialog extends Component {
    static template = "office365_calendar_sync.O365StopDialog";
    static components = { Dialog };
    static props = {
        close: Function,
        question: String,
        answer: Function,
    };

    async choose(method) {
        await this.props.answer(method);
        this.props.close();
    }
}

export class O365Button extends Component {
    static template = "office365_calendar_sync.O365Button";
    static props = {
        ...standardWidgetProps,
        method: { type: String },
        label: { type: String },
        option: { type: String, optional: true },
        btnClass: { type: String, optional: true },
        confirm: { type: String, optional: true },
        title: { type: String, optional: true },
        needsConnection: { type: Boolean, optional: true },
    };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.dialog = useService("dialog");
        this.feedback = useService("office365_sync_feedback");
        this.state = useState({ busy: false });
    }

    get notConnected() {
        return (
            this.props.needsConnection &&
            this.props.record.data.o365_account_state !== "connected"
        );
    }

    get disabled() {
        return this.state.busy || this.notConnected;
    }

    onClick() {
        if (this.props.confirm) {
            this.dialog.add(ConfirmationDialog, {
                body: this.props.confirm,
                confirm: () => this.execute(),
                cancel: () => {},
            });
            return;
        }
        return this.execute();
    }

    async execute() {
        const record = this.props.record;
        this.state.busy = true;
        try {
            // As Odoo's own buttons do: what the user typed is saved first.
            if (!(await record.save())) {
                return;
            }
            const context = { ...record.context };
            if (this.props.option) {
                context[OPTION_CONTEXT_KEY] = this.props.option;
            }
            const result = await this.orm.call(record.resModel, this.props.method, [
                [record.resId],
            ], { context });
            if (result?.type === "ir.actions.act_window" && result.res_model === STOP_WIZARD) {
                await this.askStop(result.res_id);
            } else if (result && typeof result === "object" && result.type) {
                const queuedAt = result.params?.office365_queued_at;
                if (queuedAt && record.resId === user.userId) {
                    this.feedback.expectResult(queuedAt);
                }
                await this.action.doAction(result);
                if (result.type === "ir.actions.act_url") {
                    return; // the browser leaves for the sign-in page
                }
            }
            await record.load();
        } finally {
            this.state.busy = false;
        }
    }

    /** Ask the Stop question of wizard ``wizardId``; resolves once it is answered or dismissed. */
    async askStop(wizardId) {
        const [{ question }] = await this.orm.read(STOP_WIZARD, [wizardId], ["question"]);
        await new Promise((resolve) => {
            this.dialog.add(
                O365StopDialog,
                {
                    question,
                    answer: (method) => this.orm.call(STOP_WIZARD, method, [[wizardId]]),
                },
                { onClose: resolve }
            );
        });
    }
}

registry.category("view_widgets").add("o365_button", {
    component: O365Button,
    extractProps: ({ attrs }) => ({
        method: attrs.method,
        label: attrs.string,
        option: attrs.option,
        btnClass: attrs.btn_class,
        confirm: attrs.confirm,
        title: attrs.title,
        needsConnection: Boolean(attrs.needs_connection),
    }),
});

/** Reloads the preferences when one of the user's sync runs ends (unless they are editing). */
export class O365StatusRefresh extends Component {
    static template = xml`<t/>`;
    static props = { ...standardWidgetProps };

    setup() {
        const feedback = useService("office365_sync_feedback");
        useBus(feedback.bus, "RUN_DONE", () => this.refresh());
    }

    async refresh() {
        const record = this.props.record;
        if (record.resId !== user.userId || (await record.isDirty())) {
            return;
        }
        await record.load();
    }
}

registry.category("view_widgets").add("o365_status_refresh", { component: O365StatusRefresh });
