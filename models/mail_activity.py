# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Option "Sync ERP activities": phone calls and tasks as events of the assignee's calendar."""

import contextlib
from urllib.parse import urlencode

from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import is_html_empty

from ..services import mapping_activity
from ..services.mapping import MappingError
from .office365_sync_mixin import CTX_INBOUND

OPTION = "activities"
PREPARED = "office365_calendar_sync.prepared.mail.activity"
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
    @api.model
    def _o365_activity_prefs(self, user_ids):
        """{user id: settings values} of the given users who started "Sync ERP activities"."""
        enabled = self.env["res.users.settings"]._o365_enabled_user_ids()
        user_ids = [uid for uid in set(user_ids) if uid in enabled]
        if not user_ids:
            return {}
        settings = (
            self.env["res.users.settings"]
            .sudo()
            .search([("user_id", "in", user_ids), ("o365_activities_enabled", "=", True)])
        )
        names = ("o365_sync_phonecall", "o365_sync_task", "o365_sync_meeting")
        # Effective values: the administrator may lock these choices for everyone.
        return {
            row.user_id.id: {name: row._o365_effective(name) for name in names} for row in settings
        }

    def _o365_targets(self):
        records = self.sudo().with_context(active_test=False)
        prefs = self._o365_activity_prefs(records.user_id.ids)
        targets = {}
        for activity in records:
            user_id = activity.user_id.id
            user_prefs = prefs.get(user_id)
            wanted = bool(
                user_prefs
                and activity.active
                and not activity.o365_inbound_event_id
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
                and not act.calendar_event_id
            )
        )
        targets.update(self._o365_keep_while_stopped(stopped))
        return targets

    def _o365_keep_while_stopped(self, records):
        """Records of users who stopped the option keep their link (nothing is sent meanwhile).

        An edit made while stopped is then pushed when the user starts again, and the event
        stays in Outlook instead of being queued for removal.
        """
        if not records:
            return {}
        links = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("res_model", "=", records._name),
                    ("res_id", "in", records.ids),
                    ("state", "!=", "detached"),
                ]
            )
        )
        owner = {link.res_id: link.user_id.id for link in links}
        return {
            record.id: record.user_id.id
            for record in records
            if owner.get(record.id) == record.user_id.id
        }

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
    @contextlib.contextmanager
    def _o365_prepared(self, account):
        """Gather what the values of these activities need in a few queries, for one run."""
        cache = self.env.cr.cache
        cache[PREPARED] = self._o365_collect(account)
        try:
            yield cache[PREPARED]
        finally:
            cache.pop(PREPARED, None)

    def _o365_collect(self, account):
        records = self.sudo().with_context(active_test=False)
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        data = {
            "ids": set(records.ids),
            "time_zone": account._o365_time_zone(),
            "slot": account._o365_setting("o365_activity_slot"),
            "hour": account._o365_setting("o365_activity_hour"),
            "duration": account._o365_setting("o365_activity_duration"),
            "documents": {},
            "warnings": {},
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

    def _o365_values(self, account, link):
        self.ensure_one()
        data = self.env.cr.cache.get(PREPARED)
        if not data or self.id not in data["ids"]:
            data = self._o365_collect(account)
        document = data["documents"].get((self.res_model, self.res_id))
        if document is None:
            raise MappingError(
                f"the document of this activity ({self.res_model}, id {self.res_id}) no "
                "longer exists"
            )
        url, partner = document
        warnings = []
        subject, warning = mapping_activity.activity_subject(
            self.activity_type_id.name, self.summary, self.res_name
        )
        if warning:
            warnings.append(("subject", warning))
        contact = {}
        if partner:
            contact = {
                "name": partner.name,
                "company": partner.commercial_company_name or partner.parent_id.name or "",
                "phone": partner.phone or partner.mobile or "",
                "email": partner.email or "",
            }
            if not partner.email:
                warnings.append(("body", f"The contact {partner.name} has no e-mail address."))
        note = "" if is_html_empty(self.note) else str(self.note)
        values = {
            "subject": subject,
            "body": mapping_activity.activity_body(url, contact, note),
            **mapping_activity.activity_times(
                self.date_deadline,
                data["slot"],
                data["hour"],
                data["duration"],
                data["time_zone"],
                link.synced_values if link.event_id else None,
            ),
        }
        data["warnings"][self.id] = warnings
        return values

    def _o365_plan_writes(self, links, account, stats, prevented):
        with self._o365_prepared(account) as data:
            planned = super()._o365_plan_writes(links, account, stats, prevented)
            yield from self._o365_log_warnings(planned, data["warnings"], stats)

    @api.model
    def _o365_apply_remote(self, links, events, account, stats):
        records = self.sudo().with_context(active_test=False).browse(links.mapped("res_id"))
        with records.exists()._o365_prepared(account):
            return super()._o365_apply_remote(links, events, account, stats)

    def _o365_write_inbound(self, link, changes, theirs, stats):
        """Outlook moved the event: its day becomes the due date (Outlook keeps its times)."""
        self.ensure_one()
        try:
            day = mapping_activity.outlook_date(theirs, link.user_id.tz or "UTC")
        except MappingError as exc:
            stats.error(
                OPTION,
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
