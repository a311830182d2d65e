# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Keeping a logged meeting's activities in step with it: one Meeting activity per contact,
plus a to-do on the meeting for every other syncing attendee (``services.inbound``
``plan_activities`` decides what changes); and the edits made to those activities in Odoo.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from odoo import api, fields, models
from odoo.tools import html_sanitize

from ..services import inbound, mapping
from ..services.constants import CTX_INBOUND, DEFAULT_TZ, user_tz

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
        start = _local(self.start, zone)
        stop = _local(self.stop or self.start, zone)
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
            ],
            links=[(_("Join the Teams meeting"), self.join_url)],
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
        to_create, to_unlink = [], []
        writes = defaultdict(list)  # frozen vals -> activity ids
        meeting_writes = {}
        for meeting in self:
            current = by_meeting[meeting.id]
            if meeting.state == inbound.CANCELLED:
                continue  # _o365_cancel removed the upcoming ones; ended ones get closed
            if meeting.state != inbound.LOGGED or not meeting.partner_ids:
                to_unlink += [activity.id for activity in current]
                if meeting.user_id and meeting.state == inbound.LOGGED:
                    meeting_writes[meeting] = {"user_id": False}
                continue
            plan, create_vals, meeting_vals = meeting._o365_plan_activities(current)
            to_unlink += plan.unlink
            for activity_id, vals in plan.writes:
                writes[tuple(sorted(vals.items(), key=lambda kv: kv[0]))].append(activity_id)
            to_create += create_vals
            if meeting_vals:
                meeting_writes[meeting] = meeting_vals
        if to_unlink:
            _among(existing, to_unlink).unlink()
        for frozen, activity_ids in writes.items():
            _among(existing, activity_ids).write(dict(frozen))
        if to_create:
            self._o365_create_activities(activity_model, to_create)
        for meeting, vals in meeting_writes.items():
            meeting.write(vals)

    def _o365_plan_activities(self, current):
        """(``inbound.ActivityPlan``, values of the activities to create, values for this
        meeting) to bring its ``current`` activities in step with it."""
        self.ensure_one()
        primary = self._o365_primary_user()
        note = self._o365_details(primary) + str(self.description or "")
        note_changed = note != (self.activity_note or "")
        common = {"summary": self.name or "", "date_deadline": self._o365_deadline(primary)}
        plan = inbound.plan_activities(
            [self._o365_activity_state(activity) for activity in current],
            self.partner_ids.ids,
            self.mailbox_ids.user_id.ids,
            primary.id,
            common,
            note if note_changed else None,
            set((self.odoo_owned or "").split(",")),
        )
        base = {
            **common,
            "note": note,
            "activity_type_id": self.env["ir.model.data"]._xmlid_to_res_id(
                "mail.mail_activity_data_meeting", raise_if_not_found=True
            ),
            "o365_inbound_event_id": self.id,
        }
        on_contact = self.env["ir.model"]._get_id("res.partner")
        on_meeting = self.env["ir.model"]._get_id(self._name)
        create_vals = [
            {**base, "res_model_id": on_contact, "res_id": partner_id, "user_id": uid}
            for partner_id, uid in plan.contacts
        ] + [
            {**base, "res_model_id": on_meeting, "res_id": self.id, "user_id": uid}
            for uid in plan.todos
        ]
        meeting_vals = {}
        if note_changed:
            meeting_vals["activity_note"] = note
        if self.user_id != primary:
            meeting_vals["user_id"] = primary.id
        return plan, create_vals, meeting_vals

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
        partner_model_id = self.env["ir.model"]._get_id("res.partner")
        per_user = defaultdict(set)
        for vals in vals_list:
            per_user[(vals["res_model_id"], vals["user_id"])].add(vals["res_id"])
        users = self.env["res.users"].browse({uid for _model, uid in per_user})
        partner_of = {user.id: user.partner_id.id for user in users}
        for (model_id, user_id), res_ids in per_user.items():
            model_name = "res.partner" if partner_model_id == model_id else self._name
            self.env[model_name].sudo().browse(sorted(res_ids)).message_subscribe(
                partner_ids=[partner_of[user_id]]
            )
        activity_model.create(vals_list)

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
