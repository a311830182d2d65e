# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Logging one delta page of a syncing user's Outlook meetings.

``services.inbound_plan`` decides, event by event, what to log, skip, update or cancel and why;
this file reads what it needs in a few queries for the whole page and applies the plan in
batches (create the contacts, create or update the meetings and this mailbox's copies, cancel,
drop the copies of meetings the user left).
"""

import logging
from collections import defaultdict

import psycopg2
import psycopg2.errors
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..services import inbound, inbound_plan, mapping
from ..services.constants import CTX_INBOUND, PARAM
from ..services.decisions import split_categories
from ..services.runstats import TO_ODOO
from .office365_inbound_event import OPTION

_logger = logging.getLogger(__name__)

# Why a planned step logged nothing, as the sync log lists it.
STEP_SKIP_REASONS = {
    inbound.BLOCK_PRIVATE: "private in Outlook: never logged",
    inbound.KEEP_PRIVATE: "private in Outlook since it was logged: kept, nothing more copied",
}


class Office365InboundEventLog(models.Model):
    _inherit = "office365.inbound.event"

    # ------------------------------------------------------------------
    # What a page is judged against
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
        """(internal domains, {internal user e-mail: user id}).

        Read for every delta page, so in one query of two columns rather than through the ORM,
        which fetched every field of every internal user and of their contact (with 3,600
        users, about a tenth of a page's time in a profile). The first user in Odoo's order of
        users wins a shared address, as ``search`` gave them."""
        self.env["res.users"].flush_model(["active", "share", "partner_id", "login"])
        self.env["res.partner"].flush_model(["email", "name"])
        self.env.cr.execute(
            """
            SELECT u.id, p.email
              FROM res_users u
              JOIN res_partner p ON p.id = u.partner_id
             WHERE u.active AND NOT u.share
             ORDER BY p.name, u.login
            """
        )
        user_emails = {}
        for user_id, address in self.env.cr.fetchall():
            email = mapping.clean_email(address)
            if email:
                user_emails.setdefault(email, user_id)
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
        """{e-mail: partner} for known contacts (lowest id when an address is shared).

        One row per address from PostgreSQL: contacts that share an address (duplicates a CRM
        accumulates) are not all read to keep the first."""
        if not emails:
            return {}
        self.env["res.partner"].flush_model(["email_normalized", "active"])
        self.env.cr.execute(
            """
            SELECT DISTINCT ON (email_normalized) email_normalized, id
              FROM res_partner
             WHERE email_normalized = ANY(%s) AND active
             ORDER BY email_normalized, id
            """,
            [list(emails)],
        )
        rows = self.env.cr.fetchall()
        partners = self.env["res.partner"].sudo().browse([pid for _email, pid in rows])
        # Their fields in one query now: each meeting later reads its own few contacts.
        partners.mapped("commercial_partner_id")
        return dict(zip([email for email, _pid in rows], partners, strict=True))

    def _o365_known(self, row):
        """This meeting as the planning sees it (``row``: this mailbox's copy, if any)."""
        self.ensure_one()
        return inbound_plan.Known(
            id=self.id,
            state=self.state,
            has_description=bool(self.description),
            is_private=self.is_private,
            copies=tuple(
                (copy.user_id.id, copy.is_organizer) for copy in self.mailbox_ids.sorted("id")
            ),
            mine=inbound_plan.Copy(row.outlook_event_id, row.change_key or "") if row else None,
        )

    # ------------------------------------------------------------------
    # One delta page
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
        filters = self._o365_filters(account)
        prepared = inbound_plan.prepare(events, filters.category_name)
        for message, event_id in prepared.errors:
            stats.error(OPTION, message, event_id=event_id, direction=TO_ODOO)
        _skips(stats, prepared.skips)
        touched = self.browse()
        if prepared.items:
            touched |= self._o365_log_events(account, prepared.items, filters, stats)
        if removed_ids:
            touched |= self._o365_removed(account.user_id, removed_ids, stats)
        touched.exists()._o365_reconcile_activities()
        return True

    def _o365_log_events(self, account, items, filters, stats):
        """Plan ``items`` (``inbound_plan.Item``) of ``account``'s page and apply the plan;
        returns the meetings touched."""
        user = account.user_id
        uids = list({item.key[0] for item in items})
        existing = {
            (rec.ical_uid, rec.occurrence_key, rec.organizer_key): rec
            for rec in self.search([("ical_uid", "in", uids)])
        }
        rows = self.env["office365.inbound.event.mailbox"].search(
            [
                ("user_id", "=", user.id),
                ("inbound_event_id", "in", [r.id for r in existing.values()]),
            ]
        )
        row_of = {row.inbound_event_id.id: row for row in rows}
        domains, user_emails = self._o365_company_people()
        contacts = self._o365_contacts_by_email(
            {email for item in items for email in inbound.people(item.values)}
        )
        links = self.env["office365.link"].sudo().search([("ical_uid", "in", uids)])
        mailbox = inbound_plan.Mailbox(
            user_id=user.id,
            # The bound mailbox only: the user's own e-mail address is theirs to edit.
            email=mapping.clean_email(account.email),
            filters=filters,
            domains=frozenset(domains),
            user_emails=user_emails,
            contacts=frozenset(contacts),
            create_contacts=self._o365_create_contacts(),
            odoo_uids=frozenset(links.mapped("ical_uid")),
        )
        known = {
            key: meeting._o365_known(row_of.get(meeting.id)) for key, meeting in existing.items()
        }
        plan = inbound_plan.plan_page(items, known, mailbox)
        _skips(stats, plan.skips)
        if plan.new_contacts:
            created = (
                self.env["res.partner"]
                .sudo()
                .create(
                    [{"name": name, "email": email} for email, name in plan.new_contacts.items()]
                )
            )
            for partner in created:
                contacts[partner.email_normalized] = partner
        touched = self._o365_apply_steps(
            user, plan.steps, existing, row_of, contacts, user_emails, stats
        )
        if plan.cancel:
            cancelled = self.browse(plan.cancel)
            cancelled._o365_cancel(stats)
            touched |= cancelled
        if plan.leave:
            touched |= self._o365_removed(user, plan.leave, stats)
        return touched

    def _o365_apply_steps(self, user, steps, existing, row_of, contacts, user_emails, stats):
        """Create or update the planned meetings and ``user``'s copies of them (batched)."""
        create_vals, create_rows, touched = [], [], self.browse()
        for step in steps:
            event, values, key = step.item.event, step.item.values, step.item.key
            meeting = existing.get(key)
            if not step.shared:
                vals = {}
            elif step.action == inbound.BLOCK_PRIVATE:
                vals = dict(inbound_plan.BLOCKED_FIELDS)
            elif step.action == inbound.KEEP_PRIVATE:
                vals = _changed(meeting, inbound_plan.FROZEN_FIELDS)
            else:
                vals = self._o365_meeting_vals(values, step.external, contacts, user_emails)
                if meeting:
                    vals = _changed(meeting, vals, skip=set(meeting.push_values or {}))
            row_vals = {
                "user_id": user.id,
                "outlook_event_id": event["id"],
                "change_key": event.get("changeKey"),
                "is_organizer": step.is_organizer,
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
                ref = _ref(event, meeting.id)
                if step.action == inbound.LOG and vals:
                    stats.item(OPTION, "updated", TO_ODOO, **ref)
                else:
                    reason = STEP_SKIP_REASONS.get(step.action, step.action)
                    if not step.shared:
                        reason = "another attendee's copy: it only adds this user"
                    elif step.action == inbound.LOG:
                        reason = "already up to date in Odoo"
                    stats.item(OPTION, "skipped", TO_ODOO, **ref, reason=reason)
            else:
                vals.update({"ical_uid": key[0], "occurrence_key": key[1], "organizer_key": key[2]})
                vals["mailbox_ids"] = [(0, 0, row_vals)]
                create_vals.append(vals)
                if step.action == inbound.LOG:
                    stats.item(OPTION, "created", TO_ODOO, **_ref(event))
                else:
                    reason = STEP_SKIP_REASONS.get(step.action, step.action)
                    stats.item(OPTION, "skipped", TO_ODOO, **_ref(event), reason=reason)
        if create_vals:
            touched |= self._o365_create_meetings(create_vals, stats)
        if create_rows:
            self.env["office365.inbound.event.mailbox"].create(create_rows)
        return touched

    @api.model
    def _o365_meeting_vals(self, values, external, contacts, user_emails):
        """Meeting fields from Outlook's normalized values (see services.mapping)."""
        partners = self.env["res.partner"].browse(
            [contacts[email].id for email in external if email in contacts]
        )
        companies = {p.commercial_partner_id for p in partners}
        company = companies.pop() if len(companies) == 1 else False
        if company and not company.is_company:
            company = False
        return {
            **inbound_plan.meeting_fields(values, user_emails),
            "partner_ids": [(6, 0, partners.ids)],
            "company_partner_id": company.id if company else False,
        }

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
            event_id = vals["mailbox_ids"][0][2].get("outlook_event_id") or ""
            stats.withdraw(OPTION, "created", event_id)
            stats.error(
                OPTION,
                f"Outlook event {vals.get('name')!r} not logged: {message}",
                event_id=event_id,
                direction=TO_ODOO,
                subject=vals.get("name"),
            )
        return created

    # ------------------------------------------------------------------
    # Meetings gone from a mailbox, cancelled meetings
    # ------------------------------------------------------------------
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
        """Remove the open activities of meetings not yet over and leave a note on each
        timeline that showed them: the partner holding their activities and the contacts told
        of them by a note."""
        now = fields.Datetime.now()
        upcoming = self.filtered(lambda m: not m.stop or m.stop > now)
        activities = upcoming.logged_activity_ids
        notes = defaultdict(list)
        for activity in activities.filtered(lambda a: a.res_model == "res.partner"):
            if activity.o365_inbound_event_id not in notes[activity.res_id]:
                notes[activity.res_id].append(activity.o365_inbound_event_id)
        for meeting in upcoming:
            for partner in meeting.noted_partner_ids & meeting.partner_ids:
                if meeting not in notes[partner.id]:
                    notes[partner.id].append(meeting)
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
        reason = "removed from Outlook" if removed else "cancelled in Outlook"
        for meeting in self:
            stats.item(
                OPTION,
                "deleted",
                TO_ODOO,
                res_model=self._name,
                res_id=meeting.id,
                subject=meeting.name,
                reason=reason,
            )


def _ref(event, meeting_id=0):
    """The keys of ``RunStats.item`` naming an Outlook event and its logged meeting (a new
    meeting's id is found when the run is logged)."""
    return {
        "res_model": "office365.inbound.event",
        "res_id": meeting_id,
        "event_id": event.get("id") or "",
        "subject": event.get("subject"),
    }


def _skips(stats, skips):
    """Count and list the events a page left alone, ``[(event, reason)]``."""
    for event, reason in skips:
        stats.item(
            OPTION,
            "skipped",
            TO_ODOO,
            event_id=event.get("id") or "",
            subject=event.get("subject"),
            reason=reason,
        )


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
        elif key == "description":
            if str(current or "") != str(record._o365_clean_description(value) or ""):
                out[key] = value
        elif field.type == "html":
            if str(current or "") != str(field.convert_to_cache(value, record) or ""):
                out[key] = value
        elif (current or False) != (value or False):
            out[key] = value
    return out
