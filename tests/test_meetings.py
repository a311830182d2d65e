# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Option "Sync ERP activities", meetings: Odoo meetings as Outlook meetings of the organizer."""

from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from ..models.calendar_event import MS_CALENDAR_NOTE
from ..services.graph_client import EXTENDED_PROPERTY_ID
from .common import Office365Case

LOG_LINE = "office365.sync.log.line"


@tagged("post_install", "-at_install")
class TestMeetings(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice, cls.alice_box = cls._o365_user(
            "meet_alice",
            options=("activities",),
            groups="base.group_user,base.group_partner_manager",
        )
        cls.bob, cls.bob_box = cls._o365_user("meet_bob", options=("activities",))
        cls.carol, cls.carol_box = cls._o365_user("meet_carol")  # not syncing
        cls.company = cls.env["res.partner"].create({"name": "Acme", "is_company": True})
        cls.ann = cls.env["res.partner"].create(
            {"name": "Ann Lee", "parent_id": cls.company.id, "email": "ann.lee@acme.example"}
        )
        cls.dan = cls.env["res.partner"].create(
            {"name": "Dan Contact", "email": "dan.contact@example.org"}
        )
        cls.start = fields.Datetime.now().replace(minute=0, second=0, microsecond=0) + timedelta(
            days=2, hours=1
        )

    def setUp(self):
        super().setUp()
        for mailbox in self.emulator.mailboxes.values():
            mailbox.events.clear()
            mailbox.sync_states.clear()
            mailbox.categories.clear()
        self.o365_forget_category_checks()

    # ------------------------------------------------------------------
    def _meeting(self, organizer=None, partners=None, context=None, **vals):
        organizer = organizer or self.alice
        partners = partners if partners is not None else self.bob.partner_id | self.ann
        values = {
            "name": "Kick-off",
            "start": self.start,
            "stop": self.start + timedelta(hours=1),
            "user_id": organizer.id,
            "location": "Room 1",
            "description": "<p>Agenda: scope</p>",
            "partner_ids": [(6, 0, (organizer.partner_id | partners).ids)],
        }
        values.update(vals)
        model = self.env["calendar.event"].with_user(organizer).with_context(**(context or {}))
        return model.create(values).sudo()

    def _link(self, record):
        return (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", record._name), ("res_id", "=", record.id)])
        )

    def _event(self, mailbox, record):
        event_ids = self._link(record).mapped("event_id")
        events = [ev for ev in self.o365_events(mailbox) if ev["id"] in event_ids]
        self.assertEqual(len(events), 1, "exactly one Outlook event for the meeting")
        return events[0]

    @staticmethod
    def _attendees(event):
        return sorted(a["emailAddress"]["address"].lower() for a in event["attendees"])

    def _invitations(self, meeting):
        return self.env["mail.message"].search_count(
            [
                ("model", "=", "calendar.event"),
                ("res_id", "=", meeting.id),
                ("message_type", "=", "user_notification"),
            ]
        )

    def _lines(self, record):
        """The problems logged about ``record`` (errors, warnings, notes)."""
        return (
            self.env[LOG_LINE]
            .sudo()
            .search(
                [
                    ("res_model", "=", record._name),
                    ("res_id", "=", record.id),
                    ("level", "!=", False),
                ]
            )
        )

    # ------------------------------------------------------------------
    def test_meeting_pushed_with_attendees_and_no_odoo_invitations(self):
        meeting = self._meeting()
        self.assertEqual(self._link(meeting).user_id, self.alice)
        self.assertEqual(self._invitations(meeting), 0, "Outlook sends the invitations")
        other = self._meeting(organizer=self.carol)
        self.assertFalse(self._link(other), "organizer does not sync")
        self.assertTrue(self._invitations(other), "Odoo still invites for other organizers")
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["created"], 1)
        event = self._event(self.alice_box, meeting)
        self.assertEqual(event["subject"], "Meeting: Kick-off \N{EM DASH} Acme")
        self.assertEqual(self._attendees(event), ["ann.lee@acme.example", "meet_bob@example.com"])
        self.assertEqual(event["location"]["displayName"], "Room 1")
        self.assertIn("Agenda: scope", event["body"]["content"])
        self.assertFalse(event["isAllDay"])
        self.assertEqual(event["start"]["dateTime"][:19], self.start.isoformat())
        self.assertEqual(event["categories"], ["Odoo"])
        self.assertEqual(event["_ext"][EXTENDED_PROPERTY_ID], f"calendar.event,{meeting.id}")
        self.assertFalse(self.o365_events(self.carol_box))

    def test_meeting_from_activity_pushed_once(self):
        partner_model = self.env["ir.model"]._get_id("res.partner")
        # A Meeting activity not planned in the calendar yet is shown as an activity.
        activity = (
            self.env["mail.activity"]
            .with_context(mail_activity_quick_update=True)
            .create(
                {
                    "res_model_id": partner_model,
                    "res_id": self.dan.id,
                    "activity_type_id": self.env.ref("mail.mail_activity_data_meeting").id,
                    "summary": "Lunch",
                    "user_id": self.alice.id,
                }
            )
        )
        self.o365_sync(self.alice)
        self.assertEqual(
            [ev["subject"] for ev in self.o365_events(self.alice_box)], ["Meeting: Lunch"]
        )
        # Planned from the activity (as its "Schedule" button does): the meeting replaces it.
        context = {
            "default_activity_ids": [(6, 0, activity.ids)],
            "default_res_model": "res.partner",
            "default_res_id": self.dan.id,
        }
        meeting = self._meeting(name="Lunch", partners=self.dan | self.ann, context=context)
        self.assertEqual(activity.calendar_event_id, meeting)
        self.o365_sync(self.alice)
        events = self.o365_events(self.alice_box)
        self.assertEqual([ev["subject"] for ev in events], ["Meeting: Lunch \N{EM DASH} Acme"])
        self.assertEqual(events[0]["_ext"][EXTENDED_PROPERTY_ID], f"calendar.event,{meeting.id}")
        self.assertFalse(self._link(activity))
        # Created from the Calendar on a document: Odoo adds a Meeting activity, not pushed.
        context = {"default_res_model": "res.partner", "default_res_id": self.ann.id}
        other = self._meeting(name="Review", context=context)
        self.assertEqual(other.activity_ids.activity_category, "meeting")
        self.assertFalse(self._link(other.activity_ids))
        self.assertTrue(self._link(other))

    def test_odoo_changes_update_the_invitation(self):
        meeting = self._meeting()
        self.o365_sync(self.alice)
        self.emulator.reset_counters()
        new_start = self.start + timedelta(days=1)
        meeting.write(
            {
                "name": "Kick-off v2",
                "location": "Room 2",
                "description": "<p>New agenda</p>",
                "start": new_start,
                "stop": new_start + timedelta(hours=2),
                "partner_ids": [(3, self.bob.partner_id.id), (4, self.dan.id)],
            }
        )
        self.assertEqual(self._invitations(meeting), 0)
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["updated"], 1)
        self.assertEqual(self.emulator.counters["PATCH /me/events/{id}"], 1)
        event = self._event(self.alice_box, meeting)
        self.assertEqual(event["subject"], "Meeting: Kick-off v2 \N{EM DASH} Acme")
        self.assertEqual(event["location"]["displayName"], "Room 2")
        self.assertIn("New agenda", event["body"]["content"])
        self.assertEqual(event["start"]["dateTime"][:19], new_start.isoformat())
        self.assertEqual(
            event["end"]["dateTime"][:19], (new_start + timedelta(hours=2)).isoformat()
        )
        self.assertEqual(
            self._attendees(event), ["ann.lee@acme.example", "dan.contact@example.org"]
        )
        # Echo guard: nothing more to send or apply.
        self.emulator.reset_counters()
        stats = self.o365_sync(self.alice)
        self.assertEqual(self.emulator.counters["POST /$batch"], 0)
        self.assertEqual(stats.total("activities"), 0)

    def test_outlook_attendees_times_back_subject_and_notes_not(self):
        meeting = self._meeting()
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, meeting)
        moved = self.start + timedelta(hours=3)
        attendees = [
            {"emailAddress": {"address": "ann.lee@acme.example", "name": "Ann"}},
            {"emailAddress": {"address": "DAN.Contact@Example.ORG", "name": "Dan"}},
            {"emailAddress": {"address": "guest@nowhere.example", "name": "Guest"}},
        ]
        self.alice_box.update_event(
            event["id"],
            {
                "subject": "Renamed in Outlook",
                "body": {"contentType": "text", "content": "Outlook notes"},
                "start": {"dateTime": moved.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (moved + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
                "attendees": attendees,
            },
        )
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertEqual(meeting.name, "Kick-off", "subject does not come back")
        self.assertIn("Agenda: scope", meeting.description, "notes do not come back")
        self.assertEqual(meeting.start, moved)
        self.assertEqual(meeting.stop, moved + timedelta(hours=1))
        self.assertIn(self.dan, meeting.partner_ids, "matched case-insensitively")
        self.assertNotIn(self.bob.partner_id, meeting.partner_ids, "removed in Outlook")
        self.assertNotIn("guest@nowhere.example", meeting.partner_ids.mapped("email"))
        self.assertEqual(self.emulator.counters["POST /$batch"], 0, "no ping-pong")
        self.assertEqual(self._invitations(meeting), 0)
        # The next change in Odoo rewrites subject and notes, and keeps the unknown guest.
        meeting.location = "Room 3"
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, meeting)
        self.assertEqual(event["subject"], "Meeting: Kick-off \N{EM DASH} Acme")
        self.assertIn("Agenda: scope", event["body"]["content"])
        self.assertEqual(
            self._attendees(event),
            ["ann.lee@acme.example", "dan.contact@example.org", "guest@nowhere.example"],
        )

    def test_all_day_meeting_both_ways(self):
        day = self.start.date() + timedelta(days=1)
        meeting = self._meeting(
            name="Offsite", allday=True, start=day, stop=day + timedelta(days=1), privacy="private"
        )
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, meeting)
        self.assertTrue(event["isAllDay"])
        self.assertEqual(event["sensitivity"], "private")
        self.assertEqual(event["start"]["dateTime"][:10], day.isoformat())
        self.assertEqual(event["end"]["dateTime"][:10], (day + timedelta(days=2)).isoformat())
        moved = day + timedelta(days=7)
        self.alice_box.update_event(
            event["id"],
            {
                "start": {"dateTime": f"{moved}T00:00:00", "timeZone": "Europe/Brussels"},
                "end": {
                    "dateTime": f"{moved + timedelta(days=1)}T00:00:00",
                    "timeZone": "Europe/Brussels",
                },
            },
        )
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertTrue(meeting.allday)
        self.assertEqual((meeting.start_date, meeting.stop_date), (moved, moved))
        self.assertEqual(self.emulator.counters["POST /$batch"], 0, "no ping-pong")

    def test_delete_archive_and_outlook_delete(self):
        deleted = self._meeting(name="Deleted")
        archived = self._meeting(name="Archived")
        kept = self._meeting(name="Deleted in Outlook")
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)
        self.assertEqual(len(self.o365_events(self.alice_box)), 3)
        self.alice_box.delete_event(self._link(kept).event_id)
        deleted.unlink()
        archived.active = False
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["deleted"], 2)
        self.assertFalse(self.o365_events(self.alice_box))
        self.assertTrue(kept.exists() and kept.active, "Outlook never deletes the meeting")
        self.assertEqual(self._link(kept).state, "detached")
        self.assertIn("deleted in Outlook", self._lines(kept).message)

    def test_new_organizer_moves_the_meeting(self):
        meeting = self._meeting(partners=self.ann)
        self.o365_sync(self.alice)
        meeting.user_id = self.bob
        self.o365_sync(self.alice)
        self.o365_sync(self.bob)
        self.assertFalse(self.o365_events(self.alice_box))
        event = self._event(self.bob_box, meeting)
        self.assertEqual(event["organizer"]["emailAddress"]["address"], "meet_bob@example.com")
        self.assertIn("ann.lee@acme.example", self._attendees(event))
        self.assertIn("meet_alice@example.com", self._attendees(event), "now an attendee")

    def test_bad_input_attendee_without_email(self):
        no_mail = self.env["res.partner"].create({"name": "No Mail"})
        meeting = self._meeting(partners=self.ann | no_mail)
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, meeting)
        self.assertEqual(self._attendees(event), ["ann.lee@acme.example"])
        line = self._lines(meeting)
        self.assertEqual(line.level, "warning")
        self.assertIn("No Mail has no e-mail address", line.message)

    def test_meeting_type_switch_and_leaves_excluded(self):
        self.alice._o365_settings().o365_sync_meeting = False
        self.assertFalse(self._link(self._meeting()), "meetings not selected")
        self.alice._o365_settings().o365_sync_meeting = True
        leave_model = self.env["ir.model"]._get_id("hr.leave")
        leave_meeting = self._meeting(res_model_id=leave_model, res_id=0)
        self.assertEqual(leave_meeting._o365_targets(), {leave_meeting.id: False})

    def test_start_pushes_existing_meetings(self):
        erin, erin_box = self._o365_user("meet_erin")
        meeting = self._meeting(organizer=erin)
        far = self._meeting(
            organizer=erin,
            start=self.start + timedelta(days=800),
            stop=self.start + timedelta(days=800, hours=1),
        )
        self.assertFalse(self._link(meeting))
        erin._o365_start("activities")
        self.assertTrue(self._link(meeting))
        self.assertFalse(self._link(far), "outside the sync window")
        self.o365_sync(erin)
        self.assertEqual(len(self.o365_events(erin_box)), 1)

    def test_odoo_microsoft_calendar_sync_takes_precedence(self):
        frank, frank_box = self._o365_user("meet_frank")
        existing = self._meeting(organizer=frank)
        event_model = type(self.env["calendar.event"])
        with patch.object(
            event_model, "_o365_microsoft_calendar_users", lambda self, ids: set(ids)
        ):
            self.assertEqual(
                self.env["calendar.event"]._o365_meeting_status(frank), MS_CALENDAR_NOTE
            )
            frank._o365_start("activities")
            meeting = self._meeting(organizer=frank, name="Via Odoo's Outlook sync")
            self.assertFalse(self._link(existing) or self._link(meeting))
            log = self.env["office365.sync.log"].sudo().search([("user_id", "=", frank.id)])
            self.assertIn(MS_CALENDAR_NOTE, log.line_ids.mapped("message"))
            frank.invalidate_recordset(["o365_activities_last_error"])
            self.assertEqual(frank.o365_activities_last_error, MS_CALENDAR_NOTE, "user's status")
            self.o365_sync(frank)
        self.assertFalse(self.o365_events(frank_box))
        self.assertFalse(self.env["calendar.event"]._o365_meeting_status(frank))
        # microsoft_calendar is not installed here: the real check finds nobody.
        self.assertEqual(
            self.env["calendar.event"]._o365_microsoft_calendar_users(frank.ids), set()
        )
