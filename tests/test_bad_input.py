# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Malformed Graph payloads: each bad item gets a clear logged error, its batch goes on.

The events are put straight into the emulator's mailbox store, past its validation (``_raw``
overrides and ``_drop`` removes keys of the event as Graph would serve it), since Graph would
never accept most of them.
"""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import PARAM, Office365Case

CONTACT = "bad.input@customer.example.org"


def _dt(value, tz="UTC"):
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tz}


@tagged("post_install", "-at_install")
class TestBadInput(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "internal_domains", "example.com")
        params.set_param(PARAM + "create_contacts", "0")
        cls.user, cls.box = cls._o365_user("bad_alice", options=("events", "activities"))
        cls.contact = cls.env["res.partner"].create({"name": "Customer", "email": CONTACT})
        cls.start = (fields.Datetime.now() + timedelta(days=3)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )

    def setUp(self):
        super().setUp()
        self.box.events.clear()
        self.box.sync_states.clear()
        self.emulator.faults.clear()
        self.account = self.user._o365_account()
        self.account.sudo().delta_link = False
        self.n = 0

    # ------------------------------------------------------------------
    def _meeting(self, subject=None, raw=None, drop=(), **payload):
        """A meeting with the customer in the mailbox, then made malformed."""
        self.n += 1
        start = self.start + timedelta(hours=self.n)
        body = {
            "subject": subject or f"Meeting {self.n}",
            "start": _dt(start),
            "end": _dt(start + timedelta(minutes=30)),
            "attendees": [{"emailAddress": {"address": CONTACT, "name": "Customer"}}],
            **payload,
        }
        event = self.box.create_event(body)
        stored = self.box.events[event["id"]]
        if raw:
            stored["_raw"] = raw
        if drop:
            stored["_drop"] = list(drop)
        return event["id"]

    def _activities(self):
        return self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", self.contact.id)]
        )

    def _lines(self):
        log = self.env["office365.sync.log"].sudo().search([("user_id", "=", self.user.id)])
        return log.line_ids.filtered("level")  # the problems, not the items synced

    def _sync(self):
        with mute_logger(
            "odoo.addons.office365_calendar_sync.models.office365_account",
            "odoo.addons.office365_calendar_sync.models.office365_inbound_event",
        ):
            stats = self.o365_sync(self.user)
        self.assertFalse(stats.fatal, "the run went through")
        return stats

    def _assert_error(self, event_id, *words):
        lines = self._lines().filtered(lambda line: line.event_id == event_id)
        self.assertTrue(lines, f"a log line names the bad event {event_id[:12]}")
        text = " ".join(lines.mapped("message")).lower()
        for word in words:
            self.assertIn(word.lower(), text)
        return lines

    # ------------------------------------------------------------------
    def test_malformed_meetings_are_logged_and_the_rest_of_the_batch_syncs(self):
        self.emulator.delta_page_default = 50  # all in one delta page
        good = [
            self._meeting("Before the bad ones"),
            self._meeting("Réunion 🚀 مع العميل — שלום 👋🏽"),
            self._meeting("אסיפה עם הלקוח"),
        ]
        end = self.start + timedelta(hours=1)
        bad = {
            "missing start": self._meeting(drop=["start"]),
            "missing end": self._meeting(drop=["end"]),
            "missing times": self._meeting(drop=["start", "end", "isAllDay"]),
            "invalid date": self._meeting(
                raw={"start": {"dateTime": "2026-02-30T25:61:00", "timeZone": "UTC"}}
            ),
            "not a date": self._meeting(raw={"end": {"dateTime": "soon", "timeZone": "UTC"}}),
            "start not an object": self._meeting(raw={"start": "tomorrow at nine"}),
            "unknown time zone": self._meeting(
                raw={"start": _dt(self.start, "Mars Standard Time"), "end": _dt(end, "Nowhere")}
            ),
            "end before start": self._meeting(raw={"start": _dt(end), "end": _dt(self.start)}),
        }
        good += [
            self._meeting("After the bad ones"),
            self._meeting(
                "Big body", raw={"body": {"contentType": "html", "content": "<p>" + "x" * 2**20}}
            ),
            self._meeting(
                "Crowded",
                raw={
                    "attendees": [
                        {"emailAddress": {"address": f"guest{i}@crowd.example.net"}}
                        for i in range(599)
                    ]
                    + [{"emailAddress": {"address": CONTACT, "name": "Customer"}}]
                },
            ),
            # Graph never serves it; its day is still clear: logged on that day.
            self._meeting(
                "All-day at nine",
                raw={"isAllDay": True, "start": _dt(self.start), "end": _dt(end)},
            ),
            self._meeting(
                "Three-day workshop",
                raw={
                    "isAllDay": True,
                    "start": _dt(self.start.replace(hour=0)),
                    "end": _dt(self.start.replace(hour=0) + timedelta(days=3)),
                },
            ),
        ]
        stats = self._sync()
        for label, event_id in bad.items():
            with self.subTest(label):
                self._assert_error(event_id)
        self.assertGreaterEqual(stats.counts["events"]["failed"], len(bad))
        activities = self._activities()
        summaries = set(activities.mapped("summary"))
        for subject in (
            "Before the bad ones",
            "After the bad ones",
            "Réunion 🚀 مع العميل — שלום 👋🏽",
            "אסיפה עם הלקוח",
            "Big body",
            "Crowded",
            "Three-day workshop",
            "All-day at nine",
        ):
            self.assertIn(subject, summaries)
        self.assertEqual(len(activities), len(good), "one activity per good meeting only")
        workshop = activities.filtered(lambda act: act.summary == "Three-day workshop")
        self.assertEqual(workshop.date_deadline, self.start.date())
        # A second run reads nothing new and crashes on nothing.
        self._sync()
        self.assertEqual(len(self._activities()), len(good))

    def test_event_without_id_or_not_an_object_is_skipped_with_a_log_line(self):
        self._meeting("Good one")
        broken = self._meeting(drop=["id"])
        stats = self._sync()
        self.assertEqual(stats.counts["events"]["created"], 1)
        self.assertEqual(self._activities().mapped("summary"), ["Good one"])
        self.assertTrue(
            self._lines().filtered(lambda line: "Malformed Outlook event" in line.message),
            "the event without an id is named in the log",
        )
        self.assertIn(broken, self.box.events)

    def test_malformed_edit_of_a_pushed_activity_is_logged_and_put_back(self):
        todo = self.env.ref("mail.mail_activity_data_todo")
        activities = self.env["mail.activity"].with_context(mail_activity_quick_update=True)
        records = activities.browse()
        for i in range(3):  # one by one: mail subscribes the assignee once per create
            records |= activities.create(
                {
                    "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                    "res_id": self.contact.id,
                    "activity_type_id": todo.id,
                    "summary": f"Task {i}",
                    "date_deadline": self.start.date() + timedelta(days=i),
                    "user_id": self.user.id,
                }
            )
        self._sync()
        links = self.env["office365.link"].sudo().search([("res_id", "in", records.ids)])
        self.assertEqual(set(links.mapped("state")), {"synced"})
        by_record = {link.res_id: link for link in links}
        broken, moved = by_record[records[0].id], by_record[records[1].id]
        stored = self.box.events[broken.event_id]
        stored["_raw"] = {"start": {"dateTime": "not a date", "timeZone": "Nowhere"}}
        self.box._touch(stored)  # a new changeKey, seen by the next delta
        new_day = self.start.date() + timedelta(days=10)
        self.box.update_event(
            moved.event_id,
            {
                "start": {"dateTime": f"{new_day}T00:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"{new_day + timedelta(days=1)}T00:00:00", "timeZone": "UTC"},
            },
        )
        self._sync()
        self._assert_error(broken.event_id, "not applied")
        self.assertEqual(records[1].date_deadline, new_day, "the good edit of the batch applied")
        self.assertEqual(records[0].date_deadline, self.start.date(), "the bad one changed nothing")
