# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Meetings seen in several mailboxes of the tenant: each internal attendee's copy, their
answers both ways, and copies that must not rewrite a logged meeting."""

from datetime import datetime, timedelta, timezone

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import Office365Case

PARAM = "office365_calendar_sync."


def _dt(value):
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _who(*emails):
    return [{"emailAddress": {"address": e, "name": e.split("@")[0]}} for e in emails]


@tagged("post_install", "-at_install")
class TestInvitations(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "internal_domains", "example.com")
        params.set_param(PARAM + "create_contacts", "0")
        both = ("activities", "events")
        cls.alice, cls.alice_box = cls._o365_user("inv_alice", options=both)
        cls.bob, cls.bob_box = cls._o365_user("inv_bob", options=both)
        cls.carol, cls.carol_box = cls._o365_user("inv_carol", options=both)
        cls.mallory, cls.mallory_box = cls._o365_user("inv_mallory", options=("events",))
        partners = cls.env["res.partner"]
        cls.client_co = partners.create({"name": "Client Co", "is_company": True})
        cls.dan = partners.create(
            {"name": "Dan", "email": "dan@client.com", "parent_id": cls.client_co.id}
        )
        cls.ann = partners.create({"name": "Ann", "email": "ann@client.com"})
        # A Monday 8 to 14 days ahead, 09:00 UTC: inside the sync window whatever the day.
        today = fields.Date.today()
        monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)
        cls.start = datetime.combine(monday, datetime.min.time()) + timedelta(hours=9)

    def setUp(self):
        super().setUp()
        # The emulator lives for the class; the database rolls back after each test.
        for box in self.emulator.mailboxes.values():
            box.events.clear()
            box.transactions.clear()
            box.sync_states.clear()
        self.emulator.invitations.index.clear()
        self.emulator.faults.clear()

    # ------------------------------------------------------------------
    def _meeting_in_outlook(self, box, attendees, subject="Quarterly review", **kw):
        start = kw.pop("start", self.start)
        return box.create_event(
            {
                "subject": subject,
                "start": _dt(start),
                "end": _dt(start + timedelta(hours=1)),
                "attendees": _who(*attendees),
                "body": {"contentType": "html", "content": "<p>Agenda</p>"},
                "location": {"displayName": "Room 1"},
                **kw,
            }
        )

    def _copy(self, box, event):
        """``box``'s own copy of the meeting ``event`` (series master or single)."""
        copies = [
            ev
            for ev in box.events.values()
            if ev["iCalUId"] == event["iCalUId"] and not ev.get("seriesMasterId")
        ]
        self.assertEqual(len(copies), 1)
        return copies[0]

    def _activities(self, partner):
        return self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )

    def _sync_all(self, *users):
        for user in users:
            self.o365_sync(user)

    def _odoo_meeting(self, partners):
        organizer = self.alice
        return (
            self.env["calendar.event"]
            .with_user(organizer)
            .create(
                {
                    "name": "Kick-off",
                    "start": self.start,
                    "stop": self.start + timedelta(hours=1),
                    "user_id": organizer.id,
                    "partner_ids": [(6, 0, (organizer.partner_id | partners).ids)],
                }
            )
            .sudo()
        )

    # ------------------------------------------------------------------
    # Sync Office 365 events: several copies of one customer meeting
    # ------------------------------------------------------------------
    def test_recurring_customer_meeting_in_three_mailboxes(self):
        series = self._meeting_in_outlook(
            self.alice_box,
            ("dan@client.com", "inv_bob@example.com", "inv_carol@example.com"),
            subject="Weekly",
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {
                    "type": "numbered",
                    "startDate": self.start.date().isoformat(),
                    "numberOfOccurrences": 3,
                },
            },
        )
        # the attendees' copies are really there, each with its own ids
        for box in (self.bob_box, self.carol_box):
            copy = self._copy(box, series)
            self.assertNotEqual(copy["id"], series["id"])
            self.assertFalse(copy["isOrganizer"])
        self._sync_all(self.bob, self.alice, self.carol, self.bob)
        meetings = self.env["office365.inbound.event"].search([])
        self.assertEqual(len(meetings), 3, "one logged meeting per occurrence")
        for meeting in meetings:
            self.assertEqual(meeting.state, "logged")
            self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.bob | self.carol)
            self.assertEqual(meeting.organizer_email, "inv_alice@example.com")
        # One Meeting activity per occurrence for each of the three, all on the contact's
        # timeline (its only contact), none on the meeting records.
        activities = self._activities(self.dan)
        self.assertEqual(len(activities), 9, "one per occurrence and user")
        for user in (self.alice, self.bob, self.carol):
            mine = activities.filtered(lambda a, u=user: a.user_id == u)
            self.assertEqual(
                sorted(mine.mapped("date_deadline")),
                [self.start.date() + timedelta(weeks=n) for n in range(3)],
            )
        self.assertFalse(self.env["mail.activity"].search([("res_model", "=", meetings._name)]))
        # the organizer moves the second occurrence and cancels the third
        window_start = self.start.replace(tzinfo=timezone.utc) - timedelta(days=1)
        occurrences = sorted(
            self.alice_box.series_instances(
                self.alice_box.events[series["id"]], window_start, window_start + timedelta(weeks=4)
            ),
            key=lambda ev: ev["_start"],
        )
        moved = self.start + timedelta(weeks=1, hours=5)
        self.alice_box.update_event(
            occurrences[1]["id"], {"start": _dt(moved), "end": _dt(moved + timedelta(hours=1))}
        )
        self.alice_box.cancel_event(occurrences[2]["id"])
        self._sync_all(self.bob, self.carol, self.alice, self.bob, self.carol)
        meetings = self.env["office365.inbound.event"].search([], order="occurrence_key")
        self.assertEqual(len(meetings), 3)
        self.assertEqual(meetings.mapped("state"), ["logged", "logged", "cancelled"])
        self.assertEqual(meetings[1].start, moved)
        activities = self._activities(self.dan)
        self.assertEqual(len(activities), 6)
        self.assertEqual(
            sorted(set(activities.mapped("date_deadline"))),
            [self.start.date(), moved.date()],
        )

    def test_single_customer_meeting_declined_then_cancelled(self):
        event = self._meeting_in_outlook(
            self.alice_box, ("dan@client.com", "inv_bob@example.com", "inv_carol@example.com")
        )
        self._sync_all(self.carol, self.bob, self.alice)
        meeting = self.env["office365.inbound.event"].search([])
        self.assertEqual(len(meeting), 1)
        # one Meeting activity each, on the contact's timeline
        activities = self._activities(self.dan)
        self.assertEqual(len(activities), 3)
        self.assertEqual(activities.user_id, self.alice | self.bob | self.carol)
        self.assertEqual(meeting.logged_activity_ids, activities)
        # bob declines in Outlook: his copy leaves his calendar, his activity goes
        self.bob_box.api_respond(self._copy(self.bob_box, event)["id"], "declined")
        self._sync_all(self.bob, self.alice)
        self.assertEqual(meeting.state, "logged")
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.carol)
        self.assertEqual(self._activities(self.dan).user_id, self.alice | self.carol)
        self.assertEqual(len(self._activities(self.dan)), 2)
        # the organizer deletes it: carol's copy is marked cancelled and stays in her calendar
        self.alice_box.delete_event(event["id"])
        self.assertTrue(self._copy(self.carol_box, event)["isCancelled"])
        self.o365_sync(self.carol)
        self.assertEqual(meeting.state, "logged", "the organizer's copy decides")
        self.o365_sync(self.alice)
        self.assertEqual(meeting.state, "cancelled")
        self.assertFalse(self._activities(self.dan))
        notes = self.dan.message_ids.filtered(lambda m: "cancelled in Outlook" in str(m.body))
        self.assertEqual(len(notes), 1)

    def test_copy_naming_another_organizer_is_another_meeting(self):
        """An invitee knows the iCalUId: a crafted event in their mailbox with that iCalUId
        must not rewrite the logged meeting nor take the organizer's activities."""
        event = self._meeting_in_outlook(self.alice_box, ("dan@client.com", "inv_bob@example.com"))
        self._sync_all(self.alice, self.bob)
        meeting = self.env["office365.inbound.event"].search([])
        activity = self._activities(self.dan).filtered(lambda a: a.user_id == self.alice)
        self.assertEqual(len(activity), 1)
        crafted = self._meeting_in_outlook(
            self.mallory_box,
            ("dan@client.com",),
            subject="Hijacked",
            body={"contentType": "html", "content": "<p>Pay to the new account</p>"},
        )
        self.mallory_box.events[crafted["id"]]["iCalUId"] = event["iCalUId"]
        self.o365_sync(self.mallory)
        meeting.invalidate_recordset()
        self.assertEqual(meeting.name, "Quarterly review")
        self.assertEqual(meeting.organizer_email, "inv_alice@example.com")
        self.assertIn("Agenda", str(meeting.description))
        self.assertNotIn("new account", str(meeting.description))
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.bob)
        self.assertTrue(activity.exists())
        self.assertEqual((activity.user_id, activity.summary), (self.alice, "Quarterly review"))
        other = self.env["office365.inbound.event"].search([("id", "!=", meeting.id)])
        self.assertEqual(len(other), 1, "a separate logged meeting")
        self.assertEqual(other.organizer_email, "inv_mallory@example.com")
        self.assertEqual(other.mailbox_ids.user_id, self.mallory)
        # an attendee's copy naming the right organizer (edited locally, or crafted) only adds
        # or removes that attendee
        edited = self._meeting_in_outlook(
            self.mallory_box,
            ("dan@client.com", "inv_mallory@example.com"),
            subject="Edited locally",
            location={"displayName": "Elsewhere"},
            organizer={"emailAddress": {"address": "inv_alice@example.com", "name": "Alice"}},
        )
        self.mallory_box.events[edited["id"]]["iCalUId"] = event["iCalUId"]
        self.o365_sync(self.mallory)
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.bob | self.mallory)
        self.assertEqual((meeting.name, meeting.location), ("Quarterly review", "Room 1"))
        self.assertEqual(activity.summary, "Quarterly review")
        self.mallory_box.cancel_event(edited["id"])
        self.o365_sync(self.mallory)
        self.assertEqual(meeting.state, "logged")
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.bob)
        self.assertTrue(activity.exists())

    # ------------------------------------------------------------------
    # Sync ERP activities: attendees' answers both ways
    # ------------------------------------------------------------------
    def _attendee(self, meeting, who):
        partner = who.partner_id if who._name == "res.users" else who
        return meeting.attendee_ids.filtered(lambda a: a.partner_id == partner)

    def test_outlook_answers_set_odoo_attendee_states(self):
        meeting = self._odoo_meeting(self.bob.partner_id | self.carol.partner_id | self.ann)
        self.o365_sync(self.alice)
        link = self.env["office365.link"].sudo().search([("res_id", "=", meeting.id)])
        organizer_event = self.alice_box.events[link.event_id]
        # the invitations reach bob and carol, who sync events: never logged as a customer
        # meeting (Odoo's own)
        self._sync_all(self.bob, self.carol)
        self.assertFalse(self.env["office365.inbound.event"].search([]))
        self.bob_box.api_respond(self._copy(self.bob_box, organizer_event)["id"], "accepted")
        self.carol_box.api_respond(
            self._copy(self.carol_box, organizer_event)["id"], "tentativelyAccepted"
        )
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.bob).state, "accepted")
        self.assertEqual(self._attendee(meeting, self.carol).state, "tentative")
        self.assertEqual(self._attendee(meeting, self.ann).state, "needsAction")
        self.assertEqual(link.state, "synced", "an answer is not an Odoo change to push")
        # an answer not sent to the organizer never reaches Odoo
        self.carol_box.api_respond(
            self._copy(self.carol_box, organizer_event)["id"], "accepted", send_response=False
        )
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.carol).state, "tentative")
        # carol declines (her copy leaves her calendar)
        self.carol_box.api_respond(self._copy(self.carol_box, organizer_event)["id"], "declined")
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.carol).state, "declined")
        self.assertEqual(self._attendee(meeting, self.bob).state, "accepted")

    def test_answer_in_odoo_goes_out_from_the_attendee_mailbox(self):
        meeting = self._odoo_meeting(self.bob.partner_id | self.carol.partner_id | self.ann)
        self.o365_sync(self.alice)
        link = self.env["office365.link"].sudo().search([("res_id", "=", meeting.id)])
        organizer_event = self.alice_box.events[link.event_id]
        answers = self.env["office365.meeting.answer"].sudo()
        # carol first accepted in Outlook
        self.carol_box.api_respond(self._copy(self.carol_box, organizer_event)["id"], "accepted")
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.carol).state, "accepted")
        # another user cannot answer for bob's mailbox
        self._attendee(meeting, self.bob).with_user(self.carol).do_accept()
        self.assertFalse(answers.search([]))
        self.emulator.reset_counters()
        self._attendee(meeting, self.bob).with_user(self.bob).do_accept()
        self._attendee(meeting, self.carol).with_user(self.carol).do_tentative()
        self.assertEqual(self.emulator.counters["total"], 0, "no HTTP in the user's transaction")
        # the queue is for the sync job only: users neither read nor change it through RPC
        with self.assertRaises(AccessError):
            self.env["office365.meeting.answer"].with_user(self.bob).search([])
        with self.assertRaises(AccessError):
            self.env["office365.meeting.answer"].with_user(self.bob).create(
                {
                    "user_id": self.carol.id,
                    "attendee_id": self._attendee(meeting, self.carol).id,
                    "event_id": meeting.id,
                    "action": "decline",
                }
            )
        self.assertEqual(answers.search([]).mapped("action"), ["accept", "tentativelyAccept"])
        stats = self.o365_sync(self.bob)
        self.assertEqual(stats.counts["activities"]["updated"], 1)
        self.assertEqual(
            self._copy(self.bob_box, organizer_event)["responseStatus"]["response"], "accepted"
        )
        status = {
            a["emailAddress"]["address"]: a["status"]["response"]
            for a in self.alice_box.events[link.event_id]["attendees"]
        }
        self.assertEqual(status["inv_bob@example.com"], "accepted")
        self.assertEqual(status["inv_carol@example.com"], "accepted", "carol has not synced yet")
        self.assertEqual(answers.search([]).user_id, self.carol)
        self.assertEqual(self.emulator.counters["POST /me/events/{id}/accept"], 1)
        # the organizer's run before carol's: Outlook's older answer does not undo hers
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.carol).state, "tentative")
        self.o365_sync(self.carol)
        self.assertFalse(answers.search([]))
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.bob).state, "accepted")
        self.assertEqual(self._attendee(meeting, self.carol).state, "tentative")
        # bob changes his mind in Odoo: his copy leaves his calendar, the organizer sees it
        self._attendee(meeting, self.bob).with_user(self.bob).do_decline()
        self.o365_sync(self.bob)
        self.assertFalse(
            [ev for ev in self.bob_box.events.values() if ev["iCalUId"] == link.ical_uid]
        )
        status = {
            a["emailAddress"]["address"]: a["status"]["response"]
            for a in self.alice_box.events[link.event_id]["attendees"]
        }
        self.assertEqual(status["inv_bob@example.com"], "declined")
        self.o365_sync(self.alice)
        self.assertEqual(self._attendee(meeting, self.bob).state, "declined")
        # an attendee who does not sync answers in Odoo only
        self.env["res.users.settings"].sudo()._find_or_create_for_user(self.carol).write(
            {"o365_activities_enabled": False}
        )
        self._attendee(meeting, self.carol).with_user(self.carol).do_decline()
        self.assertFalse(answers.search([]))
