# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Option "Sync ERP activities", meetings: Odoo meetings as Outlook meetings of the organizer.

Outlook sends the invitations from the organizer's mailbox, so Odoo's own invitation e-mails are
not sent for these meetings.
"""

from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import is_html_empty

from ..services import answers, mapping_activity, recurrence
from ..services.constants import CTX_INBOUND
from ..services.mapping import MappingError, clean_email
from ..services.runstats import TO_ODOO, RunStats
from ..services.sync_plan import Note

MS_CALENDAR_NOTE = (
    "Meetings are not synced by Office 365 Calendar Sync for this user: Odoo's Outlook Calendar "
    "synchronization is active for them and already sends their meetings to Outlook."
)


class CalendarEvent(models.Model):
    _name = "calendar.event"
    _inherit = ["calendar.event", "office365.sync.mixin"]

    _o365_kind = "meeting"
    _o365_watched_fields = (
        "name",
        "description",
        "location",
        "start",
        "stop",
        "allday",
        "start_date",
        "stop_date",
        "partner_ids",
        "attendee_ids",
        "user_id",
        "active",
        "res_model_id",
        "o365_online_meeting",
    )
    # Subject and notes edited in Outlook do not come back; times, place and attendees do.
    _o365_inbound_fields = frozenset({"start", "end", "all_day", "location", "attendees"})
    _o365_restore_outlook = False
    _o365_snapshot_outlook = True

    o365_online_meeting = fields.Boolean(
        "Teams meeting",
        copy=False,
        help="Office 365 Calendar Sync makes this meeting a Microsoft Teams meeting in the "
        "organizer's Outlook; its join link then becomes the meeting's videocall URL.",
    )

    def write(self, vals):
        # Odoo's write takes ``recurrence_update`` out of ``vals``: read it first. An "all
        # events" edit changes the series master too (the recurrence's own link).
        all_events = vals.get("recurrence_update") == "all_events"
        result = super().write(vals)
        if all_events and not self.env.context.get(CTX_INBOUND):
            recurrences = self.sudo().with_context(active_test=False).recurrence_id
            if recurrences:
                recurrences._o365_touch()
        return result

    def _o365_pushed(self, pairs):
        """Graph's answer to our writes (``[(link, event)]``): the Teams join link of an online
        meeting becomes its videocall URL (and so that of Odoo's invitations); a series' link
        gives it to every meeting of the recurrence."""
        for record, event in pairs:
            url = recurrence.join_url(event)
            if url and record.videocall_location != url:
                record.with_context(**{CTX_INBOUND: True}).write({"videocall_location": url})

    # ------------------------------------------------------------------
    # Which mailbox gets the meeting
    # ------------------------------------------------------------------
    @api.model
    def _o365_microsoft_calendar_users(self, user_ids):
        """Ids of the users whose calendar Odoo's own ``microsoft_calendar`` module syncs."""
        users_model = self.env["res.users"].sudo()
        if not user_ids or "microsoft_synchronization_stopped" not in users_model._fields:
            return set()
        return {
            user.id
            for user in users_model.browse(user_ids)
            if user._microsoft_calendar_authenticated()
            and user._get_microsoft_sync_status() == "sync_active"
        }

    @api.model
    def _o365_meeting_status(self, user):
        """Why meetings of ``user`` are not synced (False when they are, or not asked for)."""
        if self._o365_microsoft_calendar_users(user.ids):
            return MS_CALENDAR_NOTE
        return False

    def _o365_targets(self):
        records = self.sudo().with_context(active_test=False)
        prefs = self.env["res.users.settings"]._o365_activity_prefs(records.user_id.ids)
        organizers = [uid for uid, row in prefs.items() if row["o365_sync_meeting"]]
        excluded = self._o365_microsoft_calendar_users(organizers) if organizers else set()
        # A leave's own meeting: the holidays option pushes the leave itself (never twice).
        leave_meetings = self.env["hr.leave"]._o365_leave_meeting_ids(records)
        targets = {}
        for event in records:
            user_id = event.user_id.id
            wanted = bool(
                user_id in organizers
                and user_id not in excluded
                and event.active
                and not event.o365_do_not_sync
                and event.id not in leave_meetings
            )
            targets[event.id] = user_id if wanted else False
        stopped = records.filtered(
            lambda ev: (
                ev.user_id.id not in prefs
                and ev.active
                and not ev.o365_do_not_sync
                and ev.id not in leave_meetings
            )
        )
        targets.update(self._o365_keep_while_stopped(stopped))
        return targets

    def _skip_send_mail_status_update(self):
        """Outlook sends the invitations of the meetings pushed there: Odoo does not."""
        if self.env["res.users.settings"]._o365_any_enabled() and self._o365_targets().get(self.id):
            return True
        return super()._skip_send_mail_status_update()

    @api.model
    def _o365_backfill(self, users):
        """Start Syncing: queue the user's meetings inside the sync window."""
        for user in users:
            status = self._o365_meeting_status(user)
            if status:
                stats = RunStats()
                stats.error(self._o365_option(), status, level="info")
                self.env["office365.sync.log"]._o365_record(user, stats, fields.Datetime.now(), 0.0)
                continue
            start, end = user._o365_account()._o365_window()
            self.sudo().search(
                [
                    ("user_id", "=", user.id),
                    ("stop", ">=", fields.Datetime.to_datetime(start)),
                    ("start", "<=", fields.Datetime.to_datetime(end)),
                ]
            )._o365_touch()

    # ------------------------------------------------------------------
    # Normalized values
    # ------------------------------------------------------------------
    def _o365_values_batch(self, account, links):
        """``{link id: (values, notes)}`` of these meetings in the organizer's calendar."""
        known = self._o365_known_emails(links)
        organizer_email = clean_email(account.email)
        by_id = {event.id: event for event in self}
        result = {}
        for link in links:
            try:
                result[link.id] = by_id[link.res_id]._o365_meeting_values(
                    organizer_email, known, link
                )
            except ValueError as exc:  # a MappingError, or a date Python refuses
                result[link.id] = (exc, [])
        return result

    @api.model
    def _o365_known_emails(self, links):
        """Addresses known in Odoo among those Outlook has (one query for the whole batch)."""
        emails = set()
        for link in links:
            emails.update((link.synced_values or {}).get("attendees") or [])
        if not emails:
            return set()
        rows = (
            self.env["res.partner"]
            .sudo()
            .with_context(active_test=False)
            .search_read([("email_normalized", "in", list(emails))], ["email_normalized"])
        )
        return {row["email_normalized"] for row in rows}

    def _o365_meeting_values(self, organizer_email, known, link):
        """(values, notes) of this meeting; ``known``: see :meth:`_o365_known_emails`."""
        self.ensure_one()
        organizer = self.user_id.partner_id
        attendees, companies = [], set()
        for partner in self.attendee_ids.partner_id:
            if partner == organizer:
                continue
            attendees.append((partner.name, partner.email))
            if not partner.user_ids and partner.commercial_partner_id.is_company:
                companies.add(partner.commercial_partner_id.name)
        snapshot = (link.synced_values or {}) if link.event_id else {}
        snapshot_names = snapshot.get("attendee_names") or {}
        # Addresses invited in Outlook that match nobody in Odoo stay invited.
        kept = {
            email: snapshot_names.get(email)
            for email in snapshot.get("attendees") or []
            if email not in known
        }
        emails, names, missing = mapping_activity.meeting_attendees(
            organizer_email or clean_email(organizer.email), attendees, kept
        )
        subject, warning = mapping_activity.meeting_subject(self.name, companies)
        notes = [Note(warning, "subject")] if warning else []
        notes += [
            Note(f"The attendee {name} has no e-mail address and is not invited.", "attendees")
            for name in missing
        ]
        values = {
            "subject": subject,
            "body": "" if is_html_empty(self.description) else str(self.description),
            "location": (self.location or "").strip(),
            "sensitivity": "private" if self.privacy == "private" else "normal",
            "attendees": emails,
            "attendee_names": names,
            **mapping_activity.meeting_times(
                self.allday, self.start, self.stop, self.start_date, self.stop_date
            ),
        }
        if self.o365_online_meeting:
            values["online_meeting"] = True
        return values, notes

    @api.model
    def _o365_apply_remote(self, links, events, account, stats):
        """The merge of the mixin, then the attendees' answers Outlook shows."""
        changed = links.filtered(
            lambda ln: (
                not events[ln.id].get("changeKey")
                or events[ln.id].get("changeKey") != ln.change_key
            )
        )
        result = super()._o365_apply_remote(links, events, account, stats)
        self._o365_read_answers(changed, events, stats)
        return result

    @api.model
    def _o365_read_answers(self, links, events, stats):
        """The attendees' answers shown on the organizer's Outlook event set the Odoo
        attendees' states (one search and one write per state for the whole page)."""
        wanted = {}  # res_id -> {email: state}
        for link in links:
            states = answers.outlook_states(events[link.id])
            if states:
                wanted[link.res_id] = states
        if not wanted:
            return
        attendees = self.env["calendar.attendee"].sudo().search([("event_id", "in", list(wanted))])
        # An answer given in Odoo and not sent yet is newer than what Outlook shows.
        waiting = set(
            self.env["office365.meeting.answer"]
            .sudo()
            .search([("attendee_id", "in", attendees.ids), ("state", "=", "pending")])
            .attendee_id.ids
        )
        by_state = defaultdict(lambda: attendees.browse())
        for attendee in attendees:
            if attendee.partner_id == attendee.event_id.user_id.partner_id:
                continue  # the organizer does not answer their own meeting
            if attendee.id in waiting:
                continue
            state = wanted[attendee.event_id.id].get(clean_email(attendee.partner_id.email))
            if state and attendee.state != state:
                by_state[state] |= attendee
        for state, group in by_state.items():
            group.with_context(**{CTX_INBOUND: True}).write({"state": state})
            for attendee in group:
                stats.item(
                    self._o365_option(),
                    "updated",
                    TO_ODOO,
                    res_model=self._name,
                    res_id=attendee.event_id.id,
                    subject=attendee.event_id.name,
                    reason=f"{attendee.partner_id.name}'s answer: {state}",
                )

    def _o365_write_inbound(self, link, changes, theirs, stats):
        """Outlook changed the time, the place or the attendees of the meeting."""
        self.ensure_one()
        vals = {}
        if {"start", "end", "all_day"} & set(changes):
            try:
                vals.update(mapping_activity.odoo_meeting_times(theirs))
            except MappingError as exc:
                stats.error(
                    self._o365_option(),
                    f"Outlook moved the meeting to an invalid date ({exc}); Odoo keeps its "
                    "date and Outlook is put back.",
                    self._name,
                    self.id,
                    link.event_id,
                )
                link.state = "pending"
        if "location" in changes:
            vals["location"] = changes["location"]
        if "attendees" in changes:
            commands = self._o365_attendee_commands(link, changes["attendees"])
            if commands:
                vals["partner_ids"] = commands
        if vals:
            self.write(vals)

    def _o365_attendee_commands(self, link, outlook_emails):
        """Add Odoo users/contacts invited in Outlook; remove those Outlook uninvited."""
        organizer = self.user_id.partner_id
        current = {
            clean_email(partner.email): partner
            for partner in self.partner_ids
            if clean_email(partner.email)
        }
        previous = set((link.synced_values or {}).get("attendees") or [])
        outlook = set(outlook_emails)
        added = sorted(outlook - set(current))
        commands = []
        if added:
            partners = (
                self.env["res.partner"]
                .sudo()
                .search([("email_normalized", "in", added)], order="id")
            )
            found = {}
            for partner in partners:
                # Prefer the partner of a user, then the oldest contact.
                best = found.get(partner.email_normalized)
                if best is None or (partner.user_ids and not best.user_ids):
                    found[partner.email_normalized] = partner
            commands += [(4, partner.id) for partner in found.values()]
        for email in sorted((previous - outlook) & set(current)):
            partner = current[email]
            if partner != organizer:
                commands.append((3, partner.id))
        return commands
