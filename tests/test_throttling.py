# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Pushing to a mailbox that Outlook throttles: 4 concurrent requests per app and mailbox,
batch items included, items over it refused alone with 429 and Retry-After."""

import time
from collections import Counter, namedtuple
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from .common import CLIENT_ID, Office365Case

App = namedtuple("App", "client_id")


@tagged("post_install", "-at_install")
class TestThrottledPush(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice, cls.alice_box = cls._o365_user("thr_alice", options=("activities",))
        cls.contact = cls.env["res.partner"].create({"name": "Throttle Customer"})
        cls.todo = cls.env.ref("mail.mail_activity_data_todo")
        cls.partner_model = cls.env["ir.model"]._get_id("res.partner")
        today = fields.Date.context_today(cls.alice)
        # A Monday one to two weeks ahead: inside the sync window whatever the day of the run.
        cls.monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)

    def setUp(self):
        super().setUp()
        for mailbox in self.emulator.mailboxes.values():
            mailbox.events.clear()
            mailbox.sync_states.clear()
            mailbox.categories.clear()
        self.o365_forget_category_checks()
        self.emulator.reset_counters()
        self.emulator.write_latency = 0.01
        self.addCleanup(setattr, self.emulator, "write_latency", 0.002)
        self.account = self.alice._o365_account()
        self.o365_sync(self.alice)  # first delta round: the push below is measured alone

    def _activities(self, count):
        model = self.env["mail.activity"].with_context(mail_activity_quick_update=True)
        activities = model.browse()
        for n in range(count):
            # One per create: mail subscribes the assignee to the contact once per record.
            activities |= model.create(
                {
                    "res_model_id": self.partner_model,
                    "res_id": self.contact.id,
                    "activity_type_id": self.todo.id,
                    "summary": f"Throttled follow-up {n}",
                    "date_deadline": self.monday + timedelta(days=n % 5),
                    "user_id": self.alice.id,
                }
            )
        return activities

    def _assert_each_once(self, activities):
        # Our events carry the record they belong to in an extended property.
        refs = Counter(
            value for ev in self.o365_events(self.alice_box) for value in ev["_ext"].values()
        )
        for activity in activities:
            self.assertEqual(refs[f"mail.activity,{activity.id}"], 1, activity.summary)
        links = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", "mail.activity"), ("res_id", "in", activities.ids)])
        )
        self.assertEqual(len(links), len(activities))
        self.assertEqual(set(links.mapped("state")), {"synced"})
        self.assertEqual(len(set(links.mapped("event_id"))), len(activities))
        self.assertTrue(set(links.mapped("event_id")) <= set(self.alice_box.events))

    def test_fifty_activities_keep_four_writes_in_flight(self):
        activities = self._activities(50)
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["created"], 50)
        self._assert_each_once(activities)
        # Four chains of 12-13 writes sent together, never more.
        self.assertGreater(self.emulator.throttling.peak[self.alice_box.email], 1)
        self.assertLessEqual(self.emulator.throttling.peak[self.alice_box.email], 4)
        self.assertEqual(self.emulator.throttling.refused[self.alice_box.email], 0)
        self.assertFalse(self.account.throttled_until)

    def test_items_refused_by_a_busy_mailbox_are_retried_and_throttle_it(self):
        """Another client of the app holds 2 of Alice's 4 slots while the push starts: the
        items over the limit get 429 with Retry-After, are sent again after it, and the
        mailbox is marked throttled meanwhile; each activity lands once."""
        activities = self._activities(50)
        other = App(CLIENT_ID)
        throttling = self.emulator.throttling
        for _ in range(2):
            self.assertTrue(throttling.take(self.alice_box, other))
        sleeps = []
        account_cls = type(self.account)
        factory = account_cls._o365_graph_client

        def client_factory(account):
            client = factory(account)

            def sleep(seconds):
                sleeps.append(seconds)
                if len(sleeps) == 1:  # the other client is done meanwhile
                    for _ in range(2):
                        throttling.give_back(self.alice_box, other)
                time.sleep(seconds)

            client.sleep = sleep
            return client

        before = fields.Datetime.now()
        with patch.object(account_cls, "_o365_graph_client", client_factory):
            stats = self.o365_sync(self.alice)
        self.assertGreater(throttling.refused[self.alice_box.email], 0)
        self.assertEqual(sleeps[0], 1.0, "the items' Retry-After")
        self.assertEqual(stats.counts["activities"]["created"], 50)
        self._assert_each_once(activities)
        self.assertTrue(self.account.throttled_until)
        self.assertGreaterEqual(self.account.throttled_until, before)
        self.assertLessEqual(self.account.throttled_until, fields.Datetime.now() + timedelta(1))

    def test_a_long_retry_after_leaves_the_writes_queued_for_the_next_run(self):
        activities = self._activities(6)
        # Outlook throttles the item writes for two minutes: not worth holding the worker.
        self.emulator.faults.add(
            "throttle",
            count=6,
            retry_after=120,
            path_contains="/events",
            mailbox=self.alice_box.email,
        )
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["failed"], 0)
        links = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", "mail.activity"), ("res_id", "in", activities.ids)])
        )
        self.assertEqual(set(links.mapped("state")), {"pending"})
        self.assertTrue(all("sent again on the next run" in e for e in links.mapped("error")))
        now = fields.Datetime.now()
        self.assertGreater(self.account.throttled_until, now + timedelta(seconds=100))
        self.assertFalse(self.o365_events(self.alice_box))
        # Once Graph allows it, the next run sends them, each once.
        self.account.throttled_until = now - timedelta(seconds=1)
        self.o365_sync(self.alice)
        self._assert_each_once(activities)
