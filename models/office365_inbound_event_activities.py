# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Keeping a logged meeting's activities in step with it: one Meeting activity per syncing user,
all on one partner (``services.inbound`` ``activity_anchor`` and ``plan_activities`` decide what
changes), a note on every other contact's timeline; and the edits made to those activities in
Odoo.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL, html_sanitize

from ..services import inbound, mapping
from ..services.constants import CTX_INBOUND, DEFAULT_TZ, user_tz
from ..services.timezones import local_range

# Fields of a logged activity whose edits in Odoo are remembered (and, for the organizer's
# date and note, sent to Outlook).
TRACKED_ACTIVITY_FIELDS = ("date_deadline", "note", "summary")


def _zone(user):
    """(zone, name) of ``user``'s time zone; UTC when it has none or an unknown one."""
    tz_name = user_tz(user)
    try:
        return ZoneInfo(tz_name), tz_name
    except (ValueError, KeyError):
        return ZoneInfo(DEFAULT_TZ), DEFAULT_TZ


def _local(value, zone):
    """A naive UTC datetime of Odoo in ``zone``."""
    return value.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)


def _among(records, ids):
    """The ``ids`` of ``records``, still prefetched with all of them (one read for the lot)."""
    return records.browse(ids).with_prefetch(records._prefetch_ids)


class Office365InboundEventActivities(models.Model):
    _inherit = "office365.inbound.event"

    # ------------------------------------------------------------------
    # What the activities say
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
        zone, tz_name = _zone(user)
        return "%s (%s)" % (local_range(self.start, self.stop or self.start, zone), tz_name)

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
                (_("External attendees"), self._o365_contact_names()),
                (_("Company"), self.company_partner_id.name or ""),
                (_("When"), self._o365_when(user)),
                (_("Location"), self.location or ""),
            ],
            links=[(_("Join the Teams meeting"), self.join_url)],
        )

    def _o365_contact_names(self):
        """``Claire Dubois, Bob Stone (Acme)``: each contact once by name, with their company
        when it is not the meeting's (Odoo's display name "Customer One, Claire Dubois" reads
        as two attendees)."""
        self.ensure_one()
        return ", ".join(
            partner.name
            if not partner.parent_id or partner.parent_id == self.company_partner_id
            else f"{partner.name} ({partner.parent_id.name})"
            for partner in self.partner_ids
        )

    def _o365_deadline(self, user):
        if not self.start:
            return fields.Date.today()
        if self.allday:
            return self.start.date()
        return _local(self.start, _zone(user)[0]).date()

    # ------------------------------------------------------------------
    # Outlook -> activities
    # ------------------------------------------------------------------
    def _o365_reconcile_activities(self):
        """Bring the activities of these meetings to what the meetings say (batched)."""
        if not self:
            return
        activity_model = (
            self.env["mail.activity"]
            .sudo()
            .with_context(**{CTX_INBOUND: True}, mail_activity_quick_update=True)
        )
        existing = activity_model.search([("o365_inbound_event_id", "in", self.ids)])
        by_meeting = defaultdict(list)
        for activity in existing:
            by_meeting[activity.o365_inbound_event_id.id].append(activity)
        to_create, to_unlink, moved, notes = [], [], [], []
        writes = defaultdict(list)  # frozen vals -> activity ids
        meeting_writes = {}
        on_contact = self.env["ir.model"]._get_id("res.partner")
        # What every new activity shares, looked up once for the batch.
        base = {
            "activity_type_id": self.env["ir.model.data"]._xmlid_to_res_id(
                "mail.mail_activity_data_meeting", raise_if_not_found=True
            ),
            "res_model_id": on_contact,
        }
        for meeting in self:
            current = by_meeting[meeting.id]
            if meeting.state == inbound.CANCELLED:
                continue  # _o365_cancel removed the upcoming ones; ended ones get closed
            if meeting.state != inbound.LOGGED or not meeting.partner_ids:
                to_unlink += [activity.id for activity in current]
                if meeting.state == inbound.LOGGED and (
                    meeting.user_id or meeting.activity_partner_id
                ):
                    meeting_writes[meeting] = {"user_id": False, "activity_partner_id": False}
                continue
            plan, create_vals, meeting_vals, told = meeting._o365_plan_activities(current, base)
            to_unlink += plan.unlink
            assignee = {activity.id: activity.user_id.id for activity in current}
            for activity_id, vals in plan.writes:
                if "res_id" in vals:
                    vals = {**vals, "res_model_id": on_contact}
                    moved.append(("res.partner", vals["res_id"], assignee[activity_id]))
                writes[tuple(sorted(vals.items(), key=lambda kv: kv[0]))].append(activity_id)
            to_create += create_vals
            if told:
                notes.append((meeting, told))
            if meeting_vals:
                meeting_writes[meeting] = meeting_vals
        if to_unlink:
            _among(existing, to_unlink).unlink()
        if moved:
            # The assignee follows the partner the activity moves to, as on create.
            self._o365_subscribe(moved)
        for frozen, activity_ids in writes.items():
            _among(existing, activity_ids).write(dict(frozen))
        if to_create:
            self._o365_create_activities(activity_model, to_create)
        for meeting, vals in meeting_writes.items():
            meeting.write(vals)
        if notes:
            self._o365_timeline_messages(notes)
            self._o365_add_noted(notes)

    def _o365_contact_order(self):
        """The meeting's contacts in Outlook's order (organizer first, then the attendees as
        listed; see ``inbound.people``), as partner ids."""
        self.ensure_one()
        partners = self.partner_ids.sorted("id")
        by_email = {}
        for partner in partners:
            by_email.setdefault(partner.email_normalized, partner.id)
        order = [by_email[email] for email in self.attendee_emails or [] if email in by_email]
        return list(dict.fromkeys(order + partners.ids))

    def _o365_plan_activities(self, current, base):
        """(``inbound.ActivityPlan``, values of the activities to create, values for this
        meeting, contacts whose timeline gets the meeting's note) to bring its ``current``
        activities in step with it (``base``: the values every new activity shares)."""
        self.ensure_one()
        primary = self._o365_primary_user()
        note = self._o365_details(primary) + str(self.description or "")
        note_changed = note != (self.activity_note or "")
        common = {"summary": self.name or "", "date_deadline": self._o365_deadline(primary)}
        contacts = self._o365_contact_order()
        anchor = inbound.activity_anchor(
            self.activity_partner_id.id, self.company_partner_id.id, contacts
        )
        owned = set(filter(None, (self.odoo_owned or "").split(",")))
        plan = inbound.plan_activities(
            [self._o365_activity_state(activity) for activity in current],
            anchor,
            [primary.id, *self.mailbox_ids.user_id.ids],
            common,
            note if note_changed else None,
            owned,
        )
        new = {**base, **common, "note": note, "o365_inbound_event_id": self.id, "res_id": anchor}
        create_vals = [{**new, "user_id": uid} for uid in plan.create]
        told = inbound.timeline_contacts(contacts, anchor, self.noted_partner_ids.ids)
        meeting_vals = {}
        if note_changed:
            meeting_vals["activity_note"] = note
        if self.user_id != primary:
            meeting_vals["user_id"] = primary.id
        if self.activity_partner_id.id != anchor:
            meeting_vals["activity_partner_id"] = anchor
        gone = {str(activity_id) for activity_id in plan.unlink}
        kept_marks = {mark for mark in owned if mark.split(":")[0] not in gone}
        if kept_marks != owned:
            meeting_vals["odoo_owned"] = ",".join(sorted(kept_marks)) or False
        return plan, create_vals, meeting_vals, told

    def _o365_activity_state(self, activity):
        """``activity`` of this meeting as ``inbound.plan_activities`` compares it."""
        if activity.res_model == "res.partner":
            kind = inbound.ON_CONTACT
        elif activity.res_model == self._name and activity.res_id == self.id:
            kind = inbound.ON_MEETING
        else:
            kind = ""
        return inbound.Activity(
            id=activity.id,
            kind=kind,
            res_id=activity.res_id,
            user_id=activity.user_id.id,
            summary=activity.summary,
            date_deadline=activity.date_deadline,
        )

    def _o365_create_activities(self, activity_model, vals_list):
        # Subscribe each assignee once per document first: mail.activity's batch create
        # would insert the same follower twice for two activities on one document.
        model_of = {
            model.id: model.model
            for model in self.env["ir.model"].browse({vals["res_model_id"] for vals in vals_list})
        }
        self._o365_subscribe(
            [
                (model_of[vals["res_model_id"]], vals["res_id"], uid)
                for vals in vals_list
                if (uid := vals["user_id"])
            ]
        )
        activity_model.create(vals_list)

    @api.model
    def _o365_subscribe(self, triples):
        """Make each user follow the documents of ``triples`` (model, res id, user id): one
        ``message_subscribe`` per model and user."""
        per_user = defaultdict(set)
        for model_name, res_id, user_id in triples:
            if user_id and res_id:
                per_user[(model_name, user_id)].add(res_id)
        users = self.env["res.users"].browse({uid for _model, uid in per_user})
        partner_of = {user.id: user.partner_id.id for user in users}
        for (model_name, user_id), res_ids in per_user.items():
            self.env[model_name].sudo().browse(sorted(res_ids)).message_subscribe(
                partner_ids=[partner_of[user_id]]
            )

    # ------------------------------------------------------------------
    # The other contacts' timelines
    # ------------------------------------------------------------------
    def _o365_add_noted(self, entries):
        """Remember the contacts of ``entries`` (meeting, contact ids) as told, in one query:
        a many2many write per meeting would insert row by row."""
        pairs = [(meeting.id, cid) for meeting, contact_ids in entries for cid in contact_ids]
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO office365_inbound_event_noted_partner_rel
                       (inbound_event_id, partner_id)
                SELECT * FROM unnest(%s::int[], %s::int[])
                ON CONFLICT DO NOTHING
                """,
                [meeting_id for meeting_id, _cid in pairs],
                [cid for _meeting_id, cid in pairs],
            )
        )
        self.browse({meeting_id for meeting_id, _cid in pairs}).invalidate_recordset(
            ["noted_partner_ids"]
        )

    @api.model
    def _o365_timeline_messages(self, entries, done=False):
        """Post, in one batch, a note per (meeting, contact ids) of ``entries`` on those
        contacts' timelines: the meeting, who attends, and a link to the partner that holds its
        activities; with ``done``, that the meeting is done.

        Why notes and not more activities: an activity is a to-do of one user, so one per
        contact is what made a meeting with five customers five to-dos of each user. A note
        puts the meeting on the timeline without asking anyone to do anything.

        Created as messages directly, like the close's done messages: internal notes
        (``mail.mt_note``) by OdooBot that notify no follower and send no e-mail (what
        ``message_post`` with ``mail_notify_force_send`` off and ``mail_create_nosubscribe``
        would still not spare: its notification of followers), one insert for the lot instead
        of a ``message_post`` per contact.
        """
        if not entries:
            return self.env["mail.message"]
        _ = self.env._
        subtype = self.env.ref("mail.mt_note")
        kind = self.env.ref("mail.mail_activity_data_meeting")
        rows = []
        for meeting, contact_ids in entries:
            anchor = meeting.activity_partner_id
            where = anchor._get_html_link() if anchor else ""
            meeting_link = meeting._get_html_link(title=meeting.name or _("Meeting"))
            who = meeting._o365_contact_names()
            when = meeting._o365_when(meeting.user_id)
            if done:
                text = Markup(_("Meeting done: %(meeting)s (%(when)s) with %(who)s, see %(where)s"))
            else:
                text = Markup(_("Meeting %(meeting)s (%(when)s) with %(who)s, see %(where)s"))
            body = Markup("<p>%s</p>") % (
                text % {"meeting": meeting_link, "when": when, "who": who, "where": where}
            )
            rows += [
                ("res.partner", contact_id, body, kind if done else None)
                for contact_id in contact_ids
            ]
        return self._o365_bot_messages(rows, subtype)

    @api.model
    def _o365_bot_messages(self, rows, subtype):
        """Create, in one batch, messages by OdooBot that notify nobody: one per (model, res
        id, body, activity type or None) of ``rows`` (see ``_o365_mark_done`` and
        ``_o365_timeline_messages``)."""
        author = self.env.ref("base.partner_root")
        sender = author.email_formatted or False
        return (
            self.env["mail.message"]
            .sudo()
            .create(
                [
                    {
                        "model": res_model,
                        "res_id": res_id,
                        "body": body,
                        "message_type": "notification",
                        "subtype_id": subtype.id,
                        "mail_activity_type_id": activity_type.id if activity_type else False,
                        "author_id": author.id,
                        "email_from": sender,
                        "reply_to": sender,
                        "record_name": False,
                    }
                    for res_model, res_id, body, activity_type in rows
                ]
            )
        )

    # ------------------------------------------------------------------
    # Activities edited in Odoo
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
        zone = ZoneInfo(user_tz(user))
        local = _local(self.start, zone)
        moved = datetime.combine(day, local.time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))
        start = moved.replace(tzinfo=None)
        return {"start": start, "stop": start + duration}
