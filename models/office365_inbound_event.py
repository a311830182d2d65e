# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Outlook meetings logged as Meeting activities on the contacts who attend ("Sync Office 365
events").

One record per meeting occurrence (iCalUId + original start), whatever the number of internal
attendees' mailboxes it is read from (``mailbox_ids`` keeps each mailbox's event id).

Who sees it: each contact's timeline gets ONE Meeting activity, assigned to the organizer when
the organizer syncs, else to the first syncing attendee whose mailbox showed it. Every other
syncing internal attendee gets one Meeting to-do on this meeting record (one per meeting, not
one per contact), so the meeting is in each of their "My Activities" without duplicating the
contacts' timelines. Both kinds are closed by the daily cron once the meeting has ended.
"""

import contextlib
import logging
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.errors
from dateutil.parser import isoparse
from markupsafe import Markup, escape

from odoo import api, fields, models, modules
from odoo.exceptions import ValidationError
from odoo.osv import expression
from odoo.tools import SQL, html_sanitize

from ..services import delta_completion, inbound, mapping
from ..services.decisions import split_categories
from ..services.graph_client import EXTENDED_PROPERTY_ID, WriteOp

_logger = logging.getLogger(__name__)

OPTION = "events"
PARAM = "office365_calendar_sync."
CTX_INBOUND = "office365_calendar_sync_inbound"
CLOSE_BATCH = 2000
# Fields of a logged activity whose edits go back to Outlook when the editor is the organizer.
PUSHABLE_ACTIVITY_FIELDS = ("date_deadline", "note")
TRACKED_ACTIVITY_FIELDS = ("date_deadline", "note", "summary")
PUSHABLE_FIELDS = ("start", "stop", "location", "description")


class Office365InboundEvent(models.Model):
    """An Outlook meeting logged in Odoo (one per iCalUId and occurrence)."""

    _name = "office365.inbound.event"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Outlook meeting logged in Odoo"
    _order = "start desc, id desc"

    name = fields.Char("Subject")
    ical_uid = fields.Char("iCalUId", required=True, index=True)
    occurrence_key = fields.Char(
        default="",
        required=True,
        help="Original start of the occurrence for recurring meetings; empty for single ones.",
    )
    state = fields.Selection(
        [
            (inbound.LOGGED, "Logged"),
            (inbound.PRIVATE, "Private (not logged)"),
            (inbound.CANCELLED, "Cancelled"),
        ],
        default=inbound.LOGGED,
        required=True,
        index=True,
    )
    start = fields.Datetime(index=True)
    stop = fields.Datetime(index=True)
    allday = fields.Boolean("All day")
    location = fields.Char()
    description = fields.Html()
    body_truncated = fields.Boolean("Description truncated")
    organizer_email = fields.Char()
    organizer_key = fields.Char(
        compute="_compute_organizer_key",
        store=True,
        readonly=False,
        index=True,
        help="The organizer's address when the meeting was first logged: a copy of the same "
        "iCalUId naming another organizer is another meeting.",
    )
    organizer_name = fields.Char()
    attendee_emails = fields.Json(help="Every address of the meeting, organizer first.")
    categories = fields.Char()
    is_private = fields.Boolean("Private in Outlook")
    user_id = fields.Many2one("res.users", "Assigned to", index=True, ondelete="set null")
    internal_user_ids = fields.Many2many(
        "res.users",
        "office365_inbound_event_internal_user_rel",
        "inbound_event_id",
        "user_id",
        string="Internal attendees",
    )
    partner_ids = fields.Many2many(
        "res.partner",
        "office365_inbound_event_partner_rel",
        "inbound_event_id",
        "partner_id",
        string="External attendees",
    )
    company_partner_id = fields.Many2one("res.partner", "Company", ondelete="set null")
    mailbox_ids = fields.One2many("office365.inbound.event.mailbox", "inbound_event_id")
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        index=True,
        help="The company of the first user whose mailbox logged the meeting: only its users "
        "see it through its contacts (see o365_readable).",
    )
    # Who may read this logged meeting (record rules of this model and of its mailbox copies).
    o365_readable = fields.Boolean(
        "Readable", compute="_compute_o365_readable", search="_search_o365_readable"
    )
    logged_activity_ids = fields.One2many(
        "mail.activity", "o365_inbound_event_id", string="Logged activities"
    )
    activity_note = fields.Text(help="Last note written on the activities (details + body).")
    odoo_owned = fields.Char(
        help='Activity fields kept as edited in Odoo ("<activity id>:time|note|summary", '
        "comma-separated): Outlook updates leave them alone."
    )
    push_values = fields.Json(help="Edits waiting to be sent to the organizer's Outlook event.")

    _sql_constraints = [
        (
            "occurrence_unique",
            "unique(ical_uid, occurrence_key, organizer_key)",
            "An Outlook meeting occurrence is logged once.",
        ),
    ]

    @api.depends("organizer_email")
    def _compute_organizer_key(self):
        for meeting in self:
            meeting.organizer_key = meeting.organizer_key or (
                mapping.clean_email(meeting.organizer_email) or ""
            )

    @api.depends("mailbox_ids.user_id.company_id")
    def _compute_company_id(self):
        for meeting in self:
            first = meeting.mailbox_ids.sorted("id")[:1]
            meeting.company_id = first.user_id.company_id or meeting.company_id

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_o365_readable(self):
        readable = set(
            self.browse()._search([("id", "in", self.ids), ("o365_readable", "=", True)])
        )
        for meeting in self:
            meeting.o365_readable = meeting.id in readable

    def _search_o365_readable(self, operator, value):
        """Meetings the current user may read: those their mailbox logged, those whose activities
        they are assigned, and, in their allowed companies, those of a contact whose activities
        they may read. Odoo lets a user read a contact's activities when they may post on the
        contact (``_mail_post_access``: write by default), so the meeting's body, note and
        attendees reach no one its activities do not reach.

        Evaluated for the real user even inside a record rule (which searches as superuser).
        """
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(f"o365_readable {operator} {value!r}")
        env = self.env(su=False)
        uid = env.uid
        partner_model = env["res.partner"].with_context(active_test=False)
        access = getattr(partner_model, "_mail_post_access", "read")
        if env["ir.model.access"].check("res.partner", access, raise_exception=False):
            rule = env["ir.rule"]._compute_domain("res.partner", access) or []
            partners = partner_model._search(rule)
        else:
            partners = []
        domain = [
            "|",
            "|",
            "|",
            ("mailbox_ids.user_id", "=", uid),
            ("user_id", "=", uid),
            ("logged_activity_ids.user_id", "=", uid),
            "&",
            ("company_id", "in", [*env.companies.ids, False]),
            ("partner_ids", "in", partners),
        ]
        if (operator == "=") == value:
            return domain
        return ["!", *expression.normalize_domain(domain)]

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------
    @api.model
    def _o365_filters(self, account):
        return inbound.Filters(
            include_private=bool(account._o365_setting("o365_include_private")),
            include_categories=frozenset(
                split_categories(account._o365_setting("o365_include_categories"))
            ),
            exclude_categories=frozenset(
                split_categories(account._o365_setting("o365_exclude_categories"))
            ),
            category_name=account._o365_category_name(),
        )

    @api.model
    def _o365_company_people(self):
        """(internal domains, {internal user e-mail: user id})."""
        users = self.env["res.users"].sudo().search([("share", "=", False)])
        user_emails = {}
        for user in users:
            email = mapping.clean_email(user.email)
            if email:
                user_emails.setdefault(email, user.id)
        param = self.env["ir.config_parameter"].sudo().get_param(PARAM + "internal_domains")
        companies = self.env["res.company"].sudo().search([])
        fallback = [c.email for c in companies if c.email] + list(user_emails)
        return inbound.internal_domains(param, fallback), user_emails

    @api.model
    def _o365_create_contacts(self):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM + "create_contacts")
        return (value or "0").strip().lower() in ("1", "true", "yes")

    @api.model
    def _o365_contacts_by_email(self, emails):
        """{e-mail: partner} for known contacts (lowest id when an address is shared)."""
        if not emails:
            return {}
        partners = (
            self.env["res.partner"]
            .sudo()
            .search([("email_normalized", "in", list(emails))], order="id")
        )
        found = {}
        for partner in partners:
            found.setdefault(partner.email_normalized, partner)
        return found

    # ------------------------------------------------------------------
    # Inbound: one delta page of a syncing user
    # ------------------------------------------------------------------
    @api.model
    def _o365_process(self, account, events, removed_ids, stats):
        """Log the Outlook events of ``account`` on the contacts who attend."""
        self = self.sudo().with_context(
            **{CTX_INBOUND: True},
            tracking_disable=True,
            mail_create_nolog=True,
            mail_create_nosubscribe=True,
        )
        user = account.user_id
        filters = self._o365_filters(account)
        items = []
        for event in events:
            if event.get("type") == "seriesMaster":
                continue  # its occurrences come one by one
            if delta_completion.is_stub(event):
                # Never decided on a stub: without attendees it would pass for internal.
                stats.error(
                    OPTION,
                    f"Outlook occurrence {event.get('id')} not logged: its details are missing",
                    event_id=event.get("id") or "",
                )
                continue
            if inbound.is_ours(event, filters.category_name, _our_ref(event)):
                stats.count(OPTION, "skipped")
                continue
            try:
                values = _without_nul(mapping.graph_to_values(event))
            except mapping.MappingError as exc:
                stats.error(
                    OPTION,
                    f"Outlook event {_label(event)} not logged: {exc}",
                    event_id=event.get("id") or "",
                )
                continue
            items.append((event, values, _meeting_key(event)))
        touched = self.browse()
        if items:
            touched |= self._o365_log_events(account, items, filters, stats)
        if removed_ids:
            touched |= self._o365_removed(user, removed_ids, stats)
        touched.exists()._o365_reconcile_activities()
        return True

    def _o365_log_events(self, account, items, filters, stats):
        user = account.user_id
        # The bound mailbox only: the user's own e-mail address is theirs to edit.
        account_email = mapping.clean_email(account.email)
        # A meeting is its iCalUId, its occurrence and its organizer: a copy with the same
        # iCalUId naming another organizer (an invitation crafted with a known iCalUId) is
        # another meeting, never an update of this one.
        items = [(ev, vals, (*key, vals.get("organizer") or "")) for ev, vals, key in items]
        uids = list({key[0] for _ev, _vals, key in items})
        existing = {
            (rec.ical_uid, rec.occurrence_key, rec.organizer_key): rec
            for rec in self.search([("ical_uid", "in", uids)])
        }
        # Invitations sent for events the addon created (its meetings, in the organizer's
        # mailbox) carry neither its category nor its property in the attendees' copies: the
        # iCalUId recorded on the organizer's link tells them apart.
        odoo_uids = set(
            self.env["office365.link"].sudo().search([("ical_uid", "in", uids)]).mapped("ical_uid")
        )
        rows = self.env["office365.inbound.event.mailbox"].search(
            [
                ("user_id", "=", user.id),
                ("inbound_event_id", "in", [r.id for r in existing.values()]),
            ]
        )
        row_of = {row.inbound_event_id.id: row for row in rows}
        domains, user_emails = self._o365_company_people()
        all_people = set()
        for _event, values, _key in items:
            all_people.update(inbound.people(values))
        contacts = self._o365_contacts_by_email(all_people)
        create_contacts = self._o365_create_contacts()

        plans = []  # (event, values, key, meeting or None, action, external)
        to_cancel = self.browse()
        new_contacts = {}
        seen_keys, declined = set(), []
        for event, values, key in reversed(items):  # the last copy of a key in a page wins
            if key in seen_keys:
                continue
            seen_keys.add(key)
            meeting = existing.get(key)
            row = meeting and row_of.get(meeting.id)
            if row and row.change_key and row.change_key == event.get("changeKey"):
                if row.outlook_event_id == event["id"]:
                    continue  # unchanged since we last read it (full resync, our own push)
            response = ((event.get("responseStatus") or {}).get("response") or "").lower()
            if response == "declined" and not event.get("isOrganizer"):
                declined.append(event["id"])  # this user no longer attends
                if not row:
                    stats.count(OPTION, "skipped")
                continue
            _internal, external = inbound.split_people(inbound.people(values), domains, user_emails)
            state = meeting.state if meeting else None
            our_ref = _our_ref(event) or (key[0] in odoo_uids and "invitation")
            decision = inbound.decide(event, values, state, filters, external, our_ref)
            shared = not meeting or meeting._o365_speaks_for(user, event, account_email)
            if decision.action == inbound.IGNORE:
                continue
            if decision.action == inbound.SKIP:
                stats.count(OPTION, "skipped")
                continue
            if decision.action == inbound.CANCEL:
                if shared:
                    to_cancel |= meeting
                else:
                    declined.append(event["id"])  # this attendee's copy only: they leave
                continue
            if not shared:
                # Another attendee's copy: it joins this user to the meeting, nothing more.
                plans.append((event, values, key, meeting, decision.action, external, False))
                continue
            if decision.action == inbound.KEEP_PRIVATE and not (
                meeting.description or not meeting.is_private or not row
            ):
                continue  # already frozen: nothing to record
            if decision.action == inbound.LOG and create_contacts:
                for email in external:
                    if email not in contacts:
                        name = (values.get("attendee_names") or {}).get(email) or email
                        new_contacts.setdefault(email, name)
            elif decision.action == inbound.LOG and not meeting:
                if not any(email in contacts for email in external):
                    stats.count(OPTION, "skipped")  # no attendee is a contact
                    continue
            plans.append((event, values, key, meeting, decision.action, external, True))
        if new_contacts:
            created = (
                self.env["res.partner"]
                .sudo()
                .create([{"name": name, "email": email} for email, name in new_contacts.items()])
            )
            for partner in created:
                contacts[partner.email_normalized] = partner

        create_vals, create_rows, touched = [], [], self.browse()
        for event, values, key, meeting, action, external, shared in plans:
            if not shared:
                vals = {}
            elif action == inbound.BLOCK_PRIVATE:
                vals = {
                    "state": inbound.PRIVATE,
                    "name": False,
                    "is_private": True,
                }  # keep nothing private
            elif action == inbound.KEEP_PRIVATE:
                # Made private after it was logged: it stays on the timelines as it was, its
                # body goes (the activities' notes follow) and nothing new is copied.
                vals = _changed(
                    meeting, {"is_private": True, "description": False, "body_truncated": False}
                )
            else:
                vals = self._o365_meeting_vals(values, external, contacts, user_emails)
                if meeting:
                    vals = _changed(meeting, vals, skip=set(meeting.push_values or {}))
            row_vals = {
                "user_id": user.id,
                "outlook_event_id": event["id"],
                "change_key": event.get("changeKey"),
                "is_organizer": bool(
                    event.get("isOrganizer") or values.get("organizer") == account_email
                ),
            }
            if meeting:
                if vals:
                    meeting.write(vals)
                row = row_of.get(meeting.id)
                if row:
                    row.write(row_vals)
                else:
                    create_rows.append({**row_vals, "inbound_event_id": meeting.id})
                touched |= meeting
                if action == inbound.LOG:
                    stats.count(OPTION, "updated" if vals else "skipped")
                else:
                    stats.count(OPTION, "skipped")
            else:
                vals.update({"ical_uid": key[0], "occurrence_key": key[1], "organizer_key": key[2]})
                vals["mailbox_ids"] = [(0, 0, row_vals)]
                create_vals.append(vals)
                stats.count(OPTION, "created" if action == inbound.LOG else "skipped")
        if create_vals:
            touched |= self._o365_create_meetings(create_vals, stats)
        if create_rows:
            self.env["office365.inbound.event.mailbox"].create(create_rows)
        if to_cancel:
            to_cancel._o365_cancel(stats)
            touched |= to_cancel
        if declined:
            touched |= self._o365_removed(user, declined, stats)
        return touched

    def _o365_speaks_for(self, user, event, account_email):
        """Whether ``user``'s copy ``event`` may change this logged meeting's shared fields
        (see ``inbound.may_change_shared``)."""
        self.ensure_one()
        organizer_copy = bool(
            event.get("isOrganizer")
            or mapping.clean_email(
                ((event.get("organizer") or {}).get("emailAddress") or {}).get("address")
            )
            == account_email
        )
        rows = self.mailbox_ids.sorted("id")
        organizer_syncs = any(row.is_organizer and row.user_id != user for row in rows)
        is_lead = not rows or rows[0].user_id == user
        return inbound.may_change_shared(organizer_copy, organizer_syncs, is_lead)

    @api.model
    def _o365_create_meetings(self, vals_list, stats):
        """Create the new meetings in one batch; if the batch fails, one by one so that a bad
        item (or a meeting created meanwhile by another attendee's sync) spares the others."""
        try:
            with self.env.cr.savepoint():
                return self.create(vals_list)
        except (psycopg2.Error, ValueError, ValidationError) as exc:
            _logger.info("Batch of %d Outlook meetings retried one by one: %s", len(vals_list), exc)
        created = self.browse()
        for vals in vals_list:
            try:
                with self.env.cr.savepoint():
                    created |= self.create([vals])
                continue
            except psycopg2.errors.UniqueViolation:
                existing = self.search(
                    [
                        ("ical_uid", "=", vals["ical_uid"]),
                        ("occurrence_key", "=", vals["occurrence_key"]),
                        ("organizer_key", "=", vals.get("organizer_key") or ""),
                    ],
                    limit=1,
                )
                if existing:
                    row = vals["mailbox_ids"][0][2]
                    self.env["office365.inbound.event.mailbox"].create(
                        {**row, "inbound_event_id": existing.id}
                    )
                    created |= existing
                    continue
                message = "already logged by another sync run"
            except (psycopg2.Error, ValueError, ValidationError) as exc:
                message = str(exc)
            stats.count(OPTION, "created", -1)
            stats.error(
                OPTION,
                f"Outlook event {vals.get('name')!r} not logged: {message}",
                event_id=vals["mailbox_ids"][0][2].get("outlook_event_id") or "",
            )
        return created

    @api.model
    def _o365_meeting_vals(self, values, external, contacts, user_emails):
        """Meeting fields from Outlook's normalized values (see services.mapping)."""
        partners = self.env["res.partner"].browse(
            [contacts[email].id for email in external if email in contacts]
        )
        internal_user_ids = sorted(
            {user_emails[e] for e in inbound.people(values) if e in user_emails}
        )
        companies = {p.commercial_partner_id for p in partners}
        company = companies.pop() if len(companies) == 1 else False
        if company and not company.is_company:
            company = False
        description, truncated = inbound.truncate_description(values.get("body"))
        start, stop = _odoo_datetimes(values)
        organizer = values.get("organizer") or ""
        return {
            "state": inbound.LOGGED,
            "name": values["subject"],
            "start": start,
            "stop": stop,
            "allday": values["all_day"],
            "location": values.get("location") or False,
            "description": description or False,
            "body_truncated": truncated or values.get("body_truncated", False),
            "organizer_email": organizer or False,
            "organizer_name": (values.get("attendee_names") or {}).get(organizer) or False,
            "attendee_emails": inbound.people(values),
            "categories": ", ".join(values.get("categories") or []) or False,
            "is_private": values.get("sensitivity") in inbound.PRIVATE_SENSITIVITIES,
            "internal_user_ids": [(6, 0, internal_user_ids)],
            "partner_ids": [(6, 0, partners.ids)],
            "company_partner_id": company.id if company else False,
        }

    @api.model
    def _o365_removed(self, user, removed_ids, stats):
        """Events gone from ``user``'s calendar: cancel, or just drop that mailbox's copy."""
        rows = self.env["office365.inbound.event.mailbox"].search(
            [("user_id", "=", user.id), ("outlook_event_id", "in", list(removed_ids))]
        )
        cancelled, removed, touched = self.browse(), self.browse(), self.browse()
        for row in rows:
            meeting = row.inbound_event_id
            others = meeting.mailbox_ids - row
            if meeting.state == inbound.LOGGED and inbound.cancel_on_removal(
                row.is_organizer, others
            ):
                if row.is_organizer:
                    cancelled |= meeting
                else:
                    removed |= meeting  # the last attendee removed it (declined or deleted)
            touched |= meeting
        rows.unlink()
        if cancelled:
            cancelled._o365_cancel(stats)
        if removed - cancelled:
            (removed - cancelled)._o365_cancel(stats, removed=True)
        return touched

    def _o365_cancel(self, stats, removed=False):
        """Remove the open activities of meetings not yet over and leave a note on each contact."""
        now = fields.Datetime.now()
        upcoming = self.filtered(lambda m: not m.stop or m.stop > now)
        activities = upcoming.logged_activity_ids
        notes = defaultdict(list)
        for activity in activities.filtered(lambda a: a.res_model == "res.partner"):
            notes[activity.res_id].append(activity.o365_inbound_event_id)
        activities.unlink()
        partners = self.env["res.partner"].sudo().browse(list(notes))
        for partner in partners:
            meetings = notes[partner.id]
            lines = Markup("").join(
                Markup("<li>%s (%s)</li>") % (m.name or "", m._o365_when(m.user_id))
                for m in meetings
            )
            partner.message_post(
                body=Markup("<p>%s</p><ul>%s</ul>")
                % (
                    self.env._("Meeting removed from Outlook:")
                    if removed
                    else self.env._("Meeting cancelled in Outlook:"),
                    lines,
                ),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
        self.write({"state": inbound.CANCELLED})
        stats.count(OPTION, "deleted", len(self))

    # ------------------------------------------------------------------
    # Activities: one per contact, plus a to-do for every other syncing attendee
    # ------------------------------------------------------------------
    def _o365_primary_user(self):
        self.ensure_one()
        rows = self.mailbox_ids.sorted("id")
        organizer_rows = rows.filtered("is_organizer")
        if organizer_rows:
            return organizer_rows[0].user_id
        if self.organizer_email:
            organizer = rows.filtered(
                lambda r: mapping.clean_email(r.user_id.email) == self.organizer_email
            )
            if organizer:
                return organizer[0].user_id
        return rows[:1].user_id

    def _o365_when(self, user):
        """Start and end of the meeting as text, in ``user``'s time zone."""
        self.ensure_one()
        if not self.start:
            return ""
        if self.allday:
            first = self.start.date()
            last = max(first, (self.stop or self.start).date() - timedelta(days=1))
            if first == last:
                return self.env._("%(day)s (all day)", day=first.isoformat())
            return self.env._(
                "%(first)s to %(last)s (all day)", first=first.isoformat(), last=last.isoformat()
            )
        tz_name = (user and user.tz) or "UTC"
        try:
            zone = ZoneInfo(tz_name)
        except (ValueError, KeyError):
            zone, tz_name = ZoneInfo("UTC"), "UTC"

        def local(value):
            return value.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)

        start = local(self.start)
        stop = local(self.stop or self.start)
        end_fmt = "%H:%M" if stop.date() == start.date() else "%Y-%m-%d %H:%M"
        return "%s - %s (%s)" % (start.strftime("%Y-%m-%d %H:%M"), stop.strftime(end_fmt), tz_name)

    def _o365_details(self, user):
        self.ensure_one()
        _ = self.env._
        organizer = self.organizer_name or self.organizer_email
        if self.organizer_name and self.organizer_email:
            organizer = f"{self.organizer_name} <{self.organizer_email}>"
        return inbound.details_html(
            [
                (_("User"), user.name if user else ""),
                (_("Organizer"), organizer),
                (_("Internal attendees"), ", ".join(self.internal_user_ids.mapped("name"))),
                (_("External attendees"), ", ".join(self.partner_ids.mapped("display_name"))),
                (_("Company"), self.company_partner_id.name or ""),
                (_("When"), self._o365_when(user)),
                (_("Location"), self.location or ""),
            ]
        )

    def _o365_deadline(self, user):
        if not self.start:
            return fields.Date.today()
        if self.allday:
            return self.start.date()
        tz_name = (user and user.tz) or "UTC"
        try:
            zone = ZoneInfo(tz_name)
        except (ValueError, KeyError):
            zone = ZoneInfo("UTC")
        return self.start.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()

    def _o365_reconcile_activities(self):
        """Bring the activities of these meetings to what the meetings say (batched)."""
        if not self:
            return
        activity_model = (
            self.env["mail.activity"]
            .sudo()
            .with_context(**{CTX_INBOUND: True}, mail_activity_quick_update=True)
        )
        meeting_type = self.env.ref("mail.mail_activity_data_meeting")
        partner_model_id = self.env["ir.model"]._get_id("res.partner")
        own_model_id = self.env["ir.model"]._get_id(self._name)
        existing = activity_model.search([("o365_inbound_event_id", "in", self.ids)])
        by_meeting = defaultdict(lambda: activity_model.browse())
        for activity in existing:
            by_meeting[activity.o365_inbound_event_id.id] |= activity
        to_create, to_unlink = [], activity_model.browse()
        writes = defaultdict(lambda: activity_model.browse())  # frozen vals -> activities
        meeting_writes = {}
        for meeting in self:
            current = by_meeting[meeting.id]
            if meeting.state == inbound.CANCELLED:
                continue  # _o365_cancel removed the upcoming ones; ended ones get closed
            if meeting.state != inbound.LOGGED or not meeting.partner_ids:
                to_unlink |= current
                if meeting.user_id and meeting.state == inbound.LOGGED:
                    meeting_writes[meeting] = {"user_id": False}
                continue
            primary = meeting._o365_primary_user()
            details = meeting._o365_details(primary)
            note = details + str(meeting.description or "")
            owned = set((meeting.odoo_owned or "").split(","))
            common = {
                "summary": meeting.name or "",
                "date_deadline": meeting._o365_deadline(primary),
            }
            note_changed = note != (meeting.activity_note or "")
            wanted_partners = {p.id: primary for p in meeting.partner_ids}
            wanted_todo = {row.user_id.id: row.user_id for row in meeting.mailbox_ids}
            wanted_todo.pop(primary.id, None)
            for activity in current:
                if activity.res_model == "res.partner":
                    target = wanted_partners.pop(activity.res_id, None)
                elif activity.res_model == self._name and activity.res_id == meeting.id:
                    target = wanted_todo.pop(activity.user_id.id, None)
                else:
                    target = None
                if target is None:
                    to_unlink |= activity
                    continue
                vals = {key: val for key, val in common.items() if activity[key] != val}
                if f"{activity.id}:time" in owned:
                    vals.pop("date_deadline", None)
                if f"{activity.id}:summary" in owned:
                    vals.pop("summary", None)
                if activity.res_model == "res.partner" and activity.user_id != target:
                    vals["user_id"] = target.id
                if note_changed and f"{activity.id}:note" not in owned:
                    vals["note"] = note
                if vals:
                    writes[tuple(sorted(vals.items(), key=lambda kv: kv[0]))] |= activity
            base = {
                **common,
                "note": note,
                "activity_type_id": meeting_type.id,
                "o365_inbound_event_id": meeting.id,
            }
            for partner_id, target in wanted_partners.items():
                to_create.append(
                    {
                        **base,
                        "res_model_id": partner_model_id,
                        "res_id": partner_id,
                        "user_id": target.id,
                    }
                )
            for user in wanted_todo.values():
                to_create.append(
                    {**base, "res_model_id": own_model_id, "res_id": meeting.id, "user_id": user.id}
                )
            vals = {}
            if note_changed:
                vals["activity_note"] = note
            if meeting.user_id != primary:
                vals["user_id"] = primary.id
            if vals:
                meeting_writes[meeting] = vals
        if to_unlink:
            to_unlink.unlink()
        for frozen, activities in writes.items():
            activities.write(dict(frozen))
        if to_create:
            # Subscribe each assignee once per document first: mail.activity's batch create
            # would insert the same follower twice for two activities on one document.
            per_user = defaultdict(set)
            for vals in to_create:
                per_user[(vals["res_model_id"], vals["user_id"])].add(vals["res_id"])
            users = self.env["res.users"].browse({uid for _model, uid in per_user})
            partner_of = {user.id: user.partner_id.id for user in users}
            for (model_id, user_id), res_ids in per_user.items():
                model_name = "res.partner" if partner_model_id == model_id else self._name
                self.env[model_name].sudo().browse(sorted(res_ids)).message_subscribe(
                    partner_ids=[partner_of[user_id]]
                )
            activity_model.create(to_create)
        for meeting, vals in meeting_writes.items():
            meeting.write(vals)

    # ------------------------------------------------------------------
    # Odoo -> Outlook: edits of the organizer (time, location, description)
    # ------------------------------------------------------------------
    @api.model
    def _o365_activity_changed(self, activities, vals):
        """A logged activity was edited in Odoo.

        The organizer's edits of the date and the description are queued for their Outlook
        event (sent by their next sync run) and copied to the meeting's other activities.
        Anyone else's edits, and subject edits by anyone, stay in Odoo only: later Outlook
        updates no longer overwrite that field of that activity.
        """
        if self.env.context.get(CTX_INBOUND) or not set(vals) & set(TRACKED_ACTIVITY_FIELDS):
            return False
        meetings = activities.sudo().o365_inbound_event_id
        editor = self.env.user
        for meeting in meetings.filtered(lambda m: m.state == inbound.LOGGED):
            organizer_row = meeting.mailbox_ids.filtered("is_organizer")[:1]
            is_organizer = bool(organizer_row and organizer_row.user_id == editor)
            if is_organizer:
                changes = {}
                if "date_deadline" in vals and vals["date_deadline"] and meeting.start:
                    changes.update(meeting._o365_moved_to(vals["date_deadline"], editor))
                if "note" in vals:
                    details = meeting._o365_details(meeting._o365_primary_user())
                    body = inbound.strip_details(vals["note"] or "", details)
                    sanitized = html_sanitize(details)
                    body = inbound.strip_details(body, sanitized)
                    changes["description"] = body
                if changes:
                    meeting.sudo()._o365_queue_push(changes)
            kept = {"summary": "summary"}
            if not is_organizer:
                kept.update({"date_deadline": "time", "note": "note"})
            marks = [mark for name, mark in kept.items() if name in vals]
            if not marks:
                continue
            owned = set(filter(None, (meeting.odoo_owned or "").split(",")))
            for activity in activities.filtered(lambda a, m=meeting: a.o365_inbound_event_id == m):
                owned.update(f"{activity.id}:{mark}" for mark in marks)
            meeting.sudo().with_context(**{CTX_INBOUND: True}).odoo_owned = ",".join(sorted(owned))
        return True

    def _o365_moved_to(self, day, user):
        """New start/stop when the meeting moves to ``day`` (same local time and duration)."""
        self.ensure_one()
        day = fields.Date.to_date(day)
        duration = (self.stop or self.start) - self.start
        if self.allday:
            start = datetime.combine(day, datetime.min.time())
            return {"start": start, "stop": start + duration}
        zone = ZoneInfo((user and user.tz) or "UTC")
        local = self.start.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
        moved = datetime.combine(day, local.time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))
        start = moved.replace(tzinfo=None)
        return {"start": start, "stop": start + duration}

    def write(self, vals):
        """The organizer's edits of time, location or description also go to Outlook."""
        pushable = {key: vals[key] for key in PUSHABLE_FIELDS if key in vals}
        if not pushable or self.env.context.get(CTX_INBOUND):
            return super().write(vals)
        organizer_of = self.filtered(
            lambda m: (
                m.state == inbound.LOGGED
                and m.mailbox_ids.filtered("is_organizer")[:1].user_id == self.env.user
            )
        )
        result = super().write(vals)
        for meeting in organizer_of:
            meeting._o365_queue_push(pushable)
        (self - organizer_of).filtered(lambda m: m.state == inbound.LOGGED).with_context(
            **{CTX_INBOUND: True}
        )._o365_reconcile_activities()
        return result

    def _o365_queue_push(self, changes):
        """Apply ``changes`` in Odoo now, and queue them for the organizer's next sync run."""
        self.ensure_one()
        pending = dict(self.push_values or {})
        for key, value in changes.items():
            if isinstance(value, datetime):
                value = mapping.utc_iso(value)
            pending[key] = value
        meeting = self.with_context(**{CTX_INBOUND: True})
        local = dict(changes)
        if "description" in local:
            local["description"] = local["description"] or False
        meeting.write({**local, "push_values": pending})
        meeting._o365_reconcile_activities()
        organizer = self.mailbox_ids.filtered("is_organizer")[:1].user_id
        if organizer:
            organizer._o365_account()._o365_request_sync()

    @api.model
    def _o365_push(self, account, client, stats):
        """Send the queued organizer edits of ``account``'s user ($batch PATCHes)."""
        rows = (
            self.env["office365.inbound.event.mailbox"]
            .sudo()
            .search(
                [
                    ("user_id", "=", account.user_id.id),
                    ("is_organizer", "=", True),
                    ("inbound_event_id.push_values", "!=", False),
                ]
            )
        )
        if not rows:
            return False
        ops, planned = [], []
        time_zone = account._o365_time_zone()
        for row in rows:
            meeting = row.inbound_event_id
            pending = meeting.push_values or {}
            values = {}
            if "start" in pending or "stop" in pending:
                values["all_day"] = meeting.allday
                if meeting.allday:
                    values["start"] = meeting.start.date().isoformat()
                    values["end"] = meeting.stop.date().isoformat()
                else:
                    values["start"] = mapping.utc_iso(meeting.start)
                    values["end"] = mapping.utc_iso(meeting.stop)
            if "location" in pending:
                values["location"] = pending["location"] or ""
            if "description" in pending:
                values["body"] = pending["description"] or ""
            payload = mapping.values_to_graph(values, time_zone=time_zone)
            ops.append(WriteOp(str(row.id), "update", row.outlook_event_id, payload))
            planned.append((row, meeting, pending))
        results = client.batch_write(ops)
        for (row, meeting, pending), result in zip(planned, results, strict=True):
            if result.ok:
                row.change_key = (result.event or {}).get("changeKey") or row.change_key
                if meeting.push_values == pending:
                    meeting.with_context(**{CTX_INBOUND: True}).push_values = False
                stats.count(OPTION, "updated")
            else:
                message = "Outlook refused the meeting change (%s %s): %s" % (
                    result.status,
                    result.error_code or "",
                    result.error_message or "no details",
                )
                if result.not_found:
                    meeting.with_context(**{CTX_INBOUND: True}).push_values = False
                stats.error(OPTION, message, self._name, meeting.id, row.outlook_event_id)
        return True

    # ------------------------------------------------------------------
    # Daily cron: ended meetings become "Meeting done" on the timelines
    # ------------------------------------------------------------------
    @api.model
    def _cron_close_ended(self, batch_size=CLOSE_BATCH, max_seconds=600):
        """Mark the logged activities of ended meetings as done (idempotent, batched)."""
        started = time.monotonic()
        testing = modules.module.current_test
        total = 0
        while time.monotonic() - started < max_seconds:
            self.env.cr.execute(
                SQL(
                    """
                    SELECT a.id FROM mail_activity a
                      JOIN office365_inbound_event e ON e.id = a.o365_inbound_event_id
                     WHERE a.active AND e.stop <= %(now)s
                     ORDER BY a.id LIMIT %(limit)s
                    """,
                    now=fields.Datetime.now(),
                    limit=batch_size,
                )
            )
            ids = [row[0] for row in self.env.cr.fetchall()]
            if not ids:
                break
            self._o365_mark_done(self.env["mail.activity"].sudo().browse(ids))
            total += len(ids)
            if not testing:
                # Commit per batch: a crash later keeps the activities already closed, and
                # the next run carries on from there (closed activities are gone).
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return total

    @api.model
    def _o365_mark_done(self, activities):
        """``_action_done`` for many activities at once: one "done" message per activity on its
        record (same content as Odoo's), then the activities are removed (or archived)."""
        activities = activities.with_context(**{CTX_INBOUND: True})
        author = self.env.ref("base.partner_root")
        subtype = self.env.ref("mail.mt_activities")
        activities.fetch(["res_model", "res_id", "summary", "note", "user_id", "activity_type_id"])
        message_vals = []
        for activity in activities:
            kind = activity.activity_type_id
            header = Markup('<span class="fa %s fa-fw"></span>%s') % (
                kind.icon or "fa-tasks",
                self.env._("%(type)s done", type=kind.name),
            )
            if activity.user_id:
                header += escape(
                    self.env._(" (originally assigned to %(user)s)", user=activity.user_id.name)
                )
            if activity.summary:
                header += Markup(": <span>%s</span>") % activity.summary
            body = Markup("<div><p>%s</p>") % header
            if activity.note and str(activity.note) != "<p><br></p>":
                body += Markup('<div class="o_mail_note_title fw-bold">%s</div><div>%s</div>') % (
                    self.env._("Original note:"),
                    activity.note,
                )
            body += Markup("</div>")
            message_vals.append(
                {
                    "model": activity.res_model,
                    "res_id": activity.res_id,
                    "body": body,
                    "message_type": "notification",
                    "subtype_id": subtype.id,
                    "mail_activity_type_id": kind.id,
                    "author_id": author.id,
                    "email_from": author.email_formatted or False,
                    "reply_to": author.email_formatted or False,
                    "record_name": False,
                }
            )
        self.env["mail.message"].sudo().create(message_vals)
        to_keep = activities.filtered("activity_type_id.keep_done")
        to_keep.write({"active": False})
        (activities - to_keep).unlink()


def _our_ref(event):
    for prop in event.get("singleValueExtendedProperties") or []:
        if (
            isinstance(prop, dict)
            and (prop.get("id") or "").lower() == EXTENDED_PROPERTY_ID.lower()
        ):
            return prop.get("value")
    return None


def _without_nul(values):
    """PostgreSQL refuses NUL characters in text: drop them from Outlook's strings."""
    for key in ("subject", "location", "body"):
        if isinstance(values.get(key), str) and "\x00" in values[key]:
            values[key] = values[key].replace("\x00", "")
    names = values.get("attendee_names") or {}
    for email, name in names.items():
        if isinstance(name, str) and "\x00" in name:
            names[email] = name.replace("\x00", "")
    return values


def _label(event):
    subject = str(event.get("subject") or "")[:80]
    return f"{subject!r} ({event.get('id')})" if subject else str(event.get("id"))


def _meeting_key(event):
    uid, occurrence = inbound.meeting_key(event)
    if occurrence:
        with contextlib.suppress(ValueError, OverflowError):
            occurrence = mapping.utc_iso(isoparse(occurrence))
    return uid, occurrence


def _odoo_datetimes(values):
    """Naive UTC start/stop for Odoo (all-day: midnight of the first day / of the day after)."""
    if values["all_day"]:
        start = datetime.combine(date.fromisoformat(values["start"]), datetime.min.time())
        stop = datetime.combine(date.fromisoformat(values["end"]), datetime.min.time())
        if stop <= start:
            stop = start + timedelta(days=1)
        return start, stop
    return datetime.fromisoformat(values["start"]), datetime.fromisoformat(values["end"])


def _changed(record, vals, skip=()):
    """The part of ``vals`` that differs from ``record`` (x2many commands compared by ids)."""
    out = {}
    for key, value in vals.items():
        if key in skip:
            continue
        current = record[key]
        field = record._fields[key]
        if field.type in ("many2many", "one2many"):
            if sorted(current.ids) != sorted(value[0][2]):
                out[key] = value
        elif field.type == "many2one":
            if current.id != (value or False):
                out[key] = value
        elif field.type == "html":
            if str(current or "") != str(field.convert_to_cache(value, record) or ""):
                out[key] = value
        elif (current or False) != (value or False):
            out[key] = value
    return out
