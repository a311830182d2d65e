# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Odoo meetings marked as Teams meetings: sent online, their join link comes back."""

from datetime import datetime

from odoo.tests import tagged

from .common import Office365Case

# A Tuesday, 09:00-10:00 UTC: any fixed date works, the push does not read the sync window.
START = datetime(2027, 6, 8, 9, 0)
END = datetime(2027, 6, 8, 10, 0)


@tagged("post_install", "-at_install")
class TestOnlineMeetings(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice, cls.alice_box = cls._o365_user("onl_alice", options=("activities",))
        cls.bob, cls.bob_box = cls._o365_user("onl_bob")

    def setUp(self):
        super().setUp()
        for mailbox in self.emulator.mailboxes.values():
            mailbox.events.clear()
            mailbox.sync_states.clear()
            mailbox.categories.clear()
            mailbox.online_meeting_providers = ["teamsForBusiness"]
        self.o365_forget_category_checks()

    def _meeting(self, **vals):
        values = {
            "name": "Design review",
            "start": START,
            "stop": END,
            "user_id": self.alice.id,
            "partner_ids": [(6, 0, (self.alice.partner_id | self.bob.partner_id).ids)],
        }
        values.update(vals)
        return self.env["calendar.event"].with_user(self.alice).create(values).sudo()

    def _outlook(self, meeting):
        link = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", "calendar.event"), ("res_id", "=", meeting.id)])
        )
        client = self.alice._o365_account()._o365_graph_client()
        return client.get(f"{client.root}/events/{link.event_id}")

    def test_online_meeting_gets_its_join_url(self):
        meeting = self._meeting(o365_online_meeting=True)
        self.o365_sync(self.alice)
        event = self._outlook(meeting)
        self.assertTrue(event["isOnlineMeeting"])
        self.assertEqual(event["onlineMeetingProvider"], "teamsForBusiness")
        join = event["onlineMeeting"]["joinUrl"]
        self.assertTrue(join.startswith("https://"))
        self.assertEqual(meeting.videocall_location, join)
        # Bob's invitation (his copy of the meeting) carries the same link.
        copies = [ev for ev in self.bob_box.events.values() if ev.get("_origin")]
        self.assertEqual([c["onlineMeeting"]["joinUrl"] for c in copies], [join])
        # Nothing more to send on the next run: the link is not a change to push back.
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertFalse([r for r in self.emulator.requests if r.method in ("PATCH", "DELETE")])

    def test_marked_online_later(self):
        meeting = self._meeting()
        self.o365_sync(self.alice)
        self.assertFalse(self._outlook(meeting)["isOnlineMeeting"])
        self.assertFalse(meeting.videocall_location)
        meeting.with_user(self.alice).write({"o365_online_meeting": True})
        self.o365_sync(self.alice)
        event = self._outlook(meeting)
        self.assertTrue(event["isOnlineMeeting"])
        self.assertEqual(meeting.videocall_location, event["onlineMeeting"]["joinUrl"])

    def test_ordinary_meeting_stays_offline(self):
        meeting = self._meeting(videocall_location="https://meet.example.org/abc")
        self.o365_sync(self.alice)
        event = self._outlook(meeting)
        self.assertFalse(event["isOnlineMeeting"])
        self.assertNotIn(
            "isOnlineMeeting",
            self.env["office365.link"]
            .sudo()
            .search([("res_id", "=", meeting.id), ("res_model", "=", "calendar.event")])
            .synced_values,
        )
        self.assertEqual(meeting.videocall_location, "https://meet.example.org/abc")

    def test_tenant_without_teams(self):
        """A calendar whose allowedOnlineMeetingProviders lack Teams makes no online meeting:
        the Odoo meeting keeps its videocall URL."""
        self.alice_box.online_meeting_providers = []
        meeting = self._meeting(o365_online_meeting=True, videocall_location="")
        self.o365_sync(self.alice)
        event = self._outlook(meeting)
        self.assertFalse(event["isOnlineMeeting"])
        self.assertFalse(event["onlineMeeting"])
        self.assertFalse(meeting.videocall_location)

    def test_recurring_online_meeting(self):
        """A Teams series: every meeting of the recurrence gets the series' join link."""
        self._meeting(
            o365_online_meeting=True,
            recurrency=True,
            rrule_type="weekly",
            tue=True,
            end_type="count",
            count=3,
            event_tz="Europe/Brussels",
        )
        self.o365_sync(self.alice)
        events = self.env["calendar.event"].sudo().search([("name", "=", "Design review")])
        self.assertEqual(len(events), 3)
        masters = [e for e in self.alice_box.events.values() if e["type"] == "seriesMaster"]
        self.assertEqual(len(masters), 1)
        join = masters[0]["onlineMeeting"]["joinUrl"]
        self.assertEqual(set(events.mapped("videocall_location")), {join})
