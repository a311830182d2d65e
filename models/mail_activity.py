# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Option "Sync ERP activities": phone calls and tasks as events of the assignee's calendar."""

from urllib.parse import urlencode

from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import is_html_empty

from ..services import mapping_activity
from ..services.constants import CTX_INBOUND, user_tz
from ..services.mapping import MappingError
from ..services.sync_plan import Note

# Activity type category -> preference switch of the user.
TYPE_SETTING = {"phonecall": "o365_sync_phonecall", "meeting": "o365_sync_meeting"}
TASK_SETTING = "o365_sync_task"


class MailActivity(models.Model):
    _name = "mail.activity"
    _inherit = ["mail.activity", "office365.sync.mixin"]

    _o365_kind = "activity"
    _o365_watched_fields = (
        "summary",
        "note",
        "date_deadline",
        "activity_type_id",
        "user_id",
        "res_model_id",
        "res_id",
        "active",
        "calendar_event_id",
        "o365_inbound_event_id",
    )
    # Only the date comes back from Outlook; subject and body edits there are overwritten by
    # the next change in Odoo (not at once).
    _o365_inbound_fields = frozenset({"start", "end", "all_day"})
    _o365_restore_outlook = False
    _o365_snapshot_outlook = True

    # Set on Meeting activities logged from an Outlook event ("Sync Office 365 events"): such
    # activities are never pushed back as new events by "Sync ERP activities".
    o365_inbound_event_id = fields.Many2one(
        "office365.inbound.event", index=True, ondelete="set null", copy=False
    )

    def write(self, vals):
        result = super().write(vals)
        if not self.env.context.get(CTX_INBOUND):
            inbound = self.env["office365.inbound.event"]
            if hasattr(inbound, "_o365_activity_changed"):
                logged = self.filtered("o365_inbound_event_id")
                if logged:
                    inbound._o365_activity_changed(logged, vals)
        return result

    # ------------------------------------------------------------------
    # Which mailbox gets the event
    # ------------------------------------------------------------------
    def _o365_targets(self):
        records = self.sudo().with_context(active_test=False)
        prefs = self.env["res.users.settings"]._o365_activity_prefs(records.user_id.ids)
        targets = {}
        for activity in records:
            user_id = activity.user_id.id
            user_prefs = prefs.get(user_id)
            wanted = bool(
                user_prefs
                and activity.active
                and not activity.o365_inbound_event_id
                and not activity.o365_do_not_sync
                # A meeting already planned in the Calendar is pushed as that meeting.
                and not activity.calendar_event_id
                and user_prefs[TYPE_SETTING.get(activity.activity_category, TASK_SETTING)]
            )
            targets[activity.id] = user_id if wanted else False
        stopped = records.filtered(
            lambda act: (
                act.user_id.id not in prefs
                and act.active
                and not act.o365_inbound_event_id
                and not act.o365_do_not_sync
                and not act.calendar_event_id
            )
        )
        targets.update(self._o365_keep_while_stopped(stopped))
        return targets

    @api.model
    def _o365_contacts_changed(self, partners):
        """Contact details shown in the events changed: re-push the linked activities."""
        if not partners or not self.env["res.users.settings"]._o365_any_enabled():
            return
        for model_name in ("office365.link", "mail.activity"):
            self.env[model_name].flush_model()
        self.env.cr.execute(
            """
            SELECT DISTINCT a.res_model
              FROM mail_activity a
              JOIN office365_link l ON l.res_model = 'mail.activity' AND l.res_id = a.id
             WHERE l.state != 'detached'
            """
        )
        domains = []
        for (res_model,) in self.env.cr.fetchall():
            if res_model == "res.partner":
                documents = partners.ids
            else:
                field = res_model in self.env and self.env[res_model]._fields.get("partner_id")
                if not field or field.comodel_name != "res.partner" or not field.store:
                    continue
                documents = (
                    self.env[res_model]
                    .sudo()
                    .with_context(active_test=False)
                    .search([("partner_id", "in", partners.ids)])
                    .ids
                )
            if documents:
                domains.append([("res_model", "=", res_model), ("res_id", "in", documents)])
        if not domains:
            return
        activities = self.sudo().with_context(active_test=False).search(expression.OR(domains))
        linked = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", activities.ids),
                    ("state", "!=", "detached"),
                ]
            )
        )
        self.sudo().browse(set(linked.mapped("res_id")))._o365_touch()

    @api.model
    def _o365_backfill(self, users):
        """Start Syncing: queue the user's open activities due inside the sync window."""
        for user in users:
            start, end = user._o365_account()._o365_window()
            self.sudo().search(
                [
                    ("user_id", "=", user.id),
                    ("date_deadline", ">=", start),
                    ("date_deadline", "<=", end),
                ]
            )._o365_touch()

    # ------------------------------------------------------------------
    # Normalized values (batched: one read per document model)
    # ------------------------------------------------------------------
    def _o365_values_batch(self, account, links):
        """``{link id: (values, notes)}`` of these activities in ``account``'s calendar."""
        data = self._o365_collect(account)
        by_id = {activity.id: activity for activity in self}
        result = {}
        for link in links:
            try:
                result[link.id] = by_id[link.res_id]._o365_activity_values(data, link)
            except ValueError as exc:  # a MappingError, or a time zone Python does not know
                result[link.id] = (exc, [])
        return result

    def _o365_collect(self, account):
        """What the values of these activities need, in one read per document model."""
        records = self.sudo().with_context(active_test=False)
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        data = {
            "base_url": base_url,
            "time_zone": account._o365_time_zone(),
            "slot": account._o365_setting("o365_activity_slot"),
            "hour": account._o365_setting("o365_activity_hour"),
            "duration": account._o365_setting("o365_activity_duration"),
            "documents": {},
        }
        for res_model, activities in records.grouped("res_model").items():
            if res_model not in self.env:
                continue
            documents = self.env[res_model].sudo().browse(set(activities.mapped("res_id")))
            documents = documents.exists()
            contacts = {}
            if res_model == "res.partner":
                contacts = {doc.id: doc for doc in documents}
            else:
                field = documents._fields.get("partner_id")
                if field is not None and field.comodel_name == "res.partner":
                    contacts = {doc.id: doc.partner_id for doc in documents}
            for doc in documents:
                url = f"{base_url}/mail/view?" + urlencode({"model": res_model, "res_id": doc.id})
                data["documents"][(res_model, doc.id)] = (url, contacts.get(doc.id))
        return data

    def _o365_activity_values(self, data, link):
        """(values, notes) of this activity, from the batch ``data`` of ``_o365_collect``."""
        self.ensure_one()
        document = data["documents"].get((self.res_model, self.res_id))
        if document is None:
            raise MappingError(
                f"the document of this activity ({self.res_model}, id {self.res_id}) no "
                "longer exists"
            )
        url, partner = document
        notes = []
        subject, warning = mapping_activity.activity_subject(
            self.activity_type_id.name, self.summary, self.res_name
        )
        if warning:
            notes.append(Note(warning, "subject"))
        contact = {}
        if partner:
            contact = {
                "name": partner.name,
                "company": partner.commercial_company_name or partner.parent_id.name or "",
                "phone": partner.phone or partner.mobile or "",
                "email": partner.email or "",
            }
            if not partner.email:
                notes.append(Note(f"The contact {partner.name} has no e-mail address.", "body"))
        note = "" if is_html_empty(self.note) else str(self.note)
        values = {
            "subject": subject,
            "body": mapping_activity.activity_body(
                mapping_activity.activity_url(data["base_url"], self.id),
                contact,
                note,
                document_url=url,
            ),
            **mapping_activity.activity_times(
                self.date_deadline,
                data["slot"],
                data["hour"],
                data["duration"],
                data["time_zone"],
                link.synced_values if link.event_id else None,
            ),
        }
        return values, notes

    def _o365_write_inbound(self, link, changes, theirs, stats):
        """Outlook moved the event: its day becomes the due date (Outlook keeps its times)."""
        self.ensure_one()
        try:
            day = mapping_activity.outlook_date(theirs, user_tz(link.user_id))
        except MappingError as exc:
            stats.error(
                self._o365_option(),
                f"Outlook moved the event to an invalid date ({exc}); the activity keeps its "
                f"due date {self.date_deadline} and Outlook is put back.",
                self._name,
                self.id,
                link.event_id,
            )
            link.state = "pending"
            return
        if day != self.date_deadline:
            self.write({"date_deadline": day})
