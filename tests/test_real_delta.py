# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Delta as Microsoft 365 shapes it: recurring meetings whose occurrences arrive as stubs, and
events written outside the window reported as removed though they still exist."""

from datetime import datetime, time, timedelta, timezone
from urllib.parse import quote

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..services.runstats import RunStats
from .common import PARAM, Office365Case


def _dt(value):
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@tagged("post_install", "-at_install")
class TestRealDelta(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, mail_notrack=True))
        cls.env["ir.config_parameter"].sudo().set_param(PARAM + "internal_domains", "example.com")
        cls.alice, cls.alice_box = cls._o365_user(
            "rd_alice", options=("events", "activities", "holidays")
        )
        cls.emp = cls.env["hr.employee"].create({"name": "Alice", "user_id": cls.alice.id})
        cls.manager = new_test_user(
            cls.env,
            login="rd_leave_manager",
            groups="base.group_user,hr_holidays.group_hr_holidays_manager",
        )
        cls.leave_type = cls.env["hr.leave.type"].create(
            {
                "name": "Paid Time Off",
                "leave_validation_type": "hr",
                "requires_allocation": "no",
                "request_unit": "hour",
                "company_id": False,
            }
        )
        cls.dan = cls.env["res.partner"].create({"name": "Dan", "email": "dan@client.com"})
        cls.todo = cls.env.ref("mail.mail_activity_data_todo")
        cls.partner_model = cls.env["ir.model"]._get_id("res.partner")
        # The next Monday at least a week away: a working day inside the window, whatever today.
        today = fields.Date.today()
        cls.monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)
        # Six Mondays past the window's end (365 days): 504 days ahead, a Monday.
        cls.far_monday = cls.monday + timedelta(weeks=72)

    def setUp(self):
        super().setUp()
        # The emulator lives for the class; the database rolls back after each test.
        for mailbox in self.emulator.mailboxes.values():
            with self.emulator.lock:
                mailbox.events.clear()
                mailbox.transactions.clear()
                mailbox.sync_states.clear()
                mailbox.categories.clear()
        self.o365_forget_category_checks()
        self.emulator.faults.clear()

    # ------------------------------------------------------------------
    def _series(self, subject="Weekly customer review", count=6, hour=10):
        first = datetime.combine(self.monday, time(hour))
        return self.alice_box.create_event(
            {
                "subject": subject,
                "start": _dt(first),
                "end": _dt(first + timedelta(hours=1)),
                "attendees": [
                    {"emailAddress": {"address": "dan@client.com", "name": "Dan"}},
                    {"emailAddress": {"address": "rd_alice@example.com", "name": "Alice"}},
                ],
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {
                        "type": "numbered",
                        "startDate": self.monday.isoformat(),
                        "numberOfOccurrences": count,
                    },
                },
            }
        )

    def _instances(self, series):
        master = self.alice_box.events[series["id"]]
        low = datetime.combine(self.monday, time(0), tzinfo=timezone.utc)
        items = self.alice_box.series_instances(master, low, low + timedelta(weeks=10))
        return sorted(items, key=lambda ev: ev["_start"])

    def _activities(self, partner):
        return self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )

    def _requests(self, suffix):
        return [req for req in self.emulator.requests if req.path.endswith(suffix)]

    def _activity(self, due, summary="Call back"):
        return (
            self.env["mail.activity"]
            .with_context(mail_activity_quick_update=True)
            .create(
                {
                    "res_model_id": self.partner_model,
                    "res_id": self.dan.id,
                    "activity_type_id": self.todo.id,
                    "summary": summary,
                    "date_deadline": due,
                    "user_id": self.alice.id,
                }
            )
        )

    def _link(self, record):
        return (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", record._name), ("res_id", "=", record.id)])
        )

    def _checks(self, event_id):
        """GETs of that event (the confirmations of a removal)."""
        wanted = quote(event_id, safe="")
        return [
            r
            for r in self.emulator.requests
            if r.method == "GET" and (r.path.endswith(wanted) or r.path.endswith(event_id))
        ]

    def _ours(self):
        return [ev for ev in self.o365_events(self.alice_box) if "Odoo" in ev["categories"]]

    def _detach_lines(self):
        return (
            self.env["office365.sync.log.line"]
            .sudo()
            .search([("user_id", "=", self.alice.id), ("message", "ilike", "deleted in Outlook")])
        )

    # ------------------------------------------------------------------
    def test_recurring_customer_meeting_logged_per_occurrence(self):
        series = self._series()
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        occurrences = [self.alice_box.render(ev) for ev in self._instances(series)]
        self.assertEqual(len(occurrences), 6)
        meetings = self.env["office365.inbound.event"].search([])
        self.assertEqual(len(meetings), 6, "one logged meeting per occurrence")
        self.assertEqual(
            sorted(meetings.mapped("ical_uid")), sorted(o["iCalUId"] for o in occurrences)
        )
        self.assertTrue(all(meetings.mapped("occurrence_key")))
        self.assertEqual(set(meetings.mapped("name")), {"Weekly customer review"})
        for meeting in meetings:
            self.assertEqual(meeting.partner_ids, self.dan)
            self.assertEqual(meeting.organizer_email, "rd_alice@example.com")
        activities = self._activities(self.dan)
        self.assertEqual(
            sorted(activities.mapped("date_deadline")),
            [self.monday + timedelta(weeks=n) for n in range(6)],
        )
        self.assertEqual(set(activities.mapped("summary")), {"Weekly customer review"})
        # One /instances request for the series, none per occurrence.
        self.assertEqual(len(self._requests("/instances")), 1)
        per_occurrence = [
            r
            for r in self.emulator.requests
            if any(o["id"] in r.path or quote(o["id"], safe="") in r.path for o in occurrences)
        ]
        self.assertFalse(per_occurrence, "no request per occurrence")
        # A second run changes nothing and reads nothing more.
        self.emulator.reset_counters()
        stats = self.o365_sync(self.alice)
        self.assertFalse(stats.counts["events"]["created"])
        self.assertFalse(self._requests("/instances"))
        self.assertEqual(len(self._activities(self.dan)), 6)

    def test_two_series_completed_in_one_batch(self):
        self._series("Review A", hour=9)
        self._series("Review B", hour=14)
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertEqual(len(self._requests("/instances")), 2)
        self.assertEqual(self.emulator.counters["POST /$batch"], 1, "both series in one $batch")
        self.assertEqual(
            sorted(set(self._activities(self.dan).mapped("summary"))), ["Review A", "Review B"]
        )
        self.assertEqual(len(self._activities(self.dan)), 12)

    def test_moved_and_cancelled_occurrences(self):
        series = self._series()
        self.o365_sync(self.alice)
        occurrences = self._instances(series)
        moved, cancelled = occurrences[1], occurrences[3]
        tuesday = datetime.combine(self.monday + timedelta(weeks=1, days=1), time(15))
        self.alice_box.update_event(
            moved["id"],
            {
                "subject": "Review (moved)",
                "start": _dt(tuesday),
                "end": _dt(tuesday + timedelta(hours=1)),
            },
        )
        self.alice_box.delete_event(cancelled["id"])
        self.o365_sync(self.alice)
        meetings = self.env["office365.inbound.event"].search([])
        self.assertEqual(len(meetings), 6, "no duplicate for the moved occurrence")
        [moved_meeting] = meetings.filtered(lambda m: m.name == "Review (moved)")
        self.assertEqual(moved_meeting.start, tuesday)
        self.assertEqual(moved_meeting.state, "logged")
        activities = self._activities(self.dan)
        self.assertEqual(
            sorted(activities.mapped("date_deadline")),
            sorted([self.monday + timedelta(weeks=n) for n in (0, 2, 4, 5)] + [tuesday.date()]),
            "the moved occurrence follows, the cancelled one is gone",
        )
        self.assertEqual(
            len(meetings.filtered(lambda m: m.state == "cancelled")), 1, "the cancelled one"
        )

    # ------------------------------------------------------------------
    def test_activity_far_ahead_stays_single_and_linked(self):
        activity = self._activity(self.far_monday)
        self.o365_sync(self.alice)
        link = self._link(activity)
        event_id = link.event_id
        self.assertTrue(event_id)
        checks = []
        for _run in range(3):
            self.emulator.reset_counters()
            self.o365_sync(self.alice)
            checks.append(len(self._checks(event_id)))
            self.assertEqual((link.state, link.event_id), ("synced", event_id))
            self.assertEqual([ev["id"] for ev in self._ours()], [event_id])
        # Reported removed once (written outside the window), confirmed by one GET; then quiet.
        self.assertEqual(checks, [1, 0, 0])
        self.assertFalse(self._detach_lines())
        # Still linked: an Odoo edit reaches Outlook.
        activity.summary = "Call back about the renewal"
        self.o365_sync(self.alice)
        self.assertEqual(
            self.alice_box.events[event_id]["subject"], "To-Do: Call back about the renewal"
        )

    def test_activity_moved_past_the_window_end_stays_linked(self):
        activity = self._activity(self.monday)
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)
        link = self._link(activity)
        event_id = link.event_id
        activity.date_deadline = self.far_monday
        self.o365_sync(self.alice)  # pushes the move
        self.assertEqual(
            self.alice_box.events[event_id]["start"]["dateTime"][:10], self.far_monday.isoformat()
        )
        self.emulator.reset_counters()
        self.o365_sync(self.alice)  # delta reports it removed: checked, still there
        self.assertEqual(len(self._checks(event_id)), 1, "one batched GET confirms it exists")
        self.o365_sync(self.alice)
        self.assertEqual((link.state, link.event_id), ("synced", event_id))
        self.assertEqual([ev["id"] for ev in self._ours()], [event_id])
        self.assertFalse(self._detach_lines())
        activity.summary = "Moved call"
        self.o365_sync(self.alice)
        self.assertEqual(self.alice_box.events[event_id]["subject"], "To-Do: Moved call")

    def test_leave_far_ahead_is_not_created_again(self):
        leave = (
            self.env["hr.leave"]
            .with_user(self.manager)
            .create(
                {
                    "name": "Sabbatical",
                    "employee_id": self.emp.id,
                    "holiday_status_id": self.leave_type.id,
                    "request_date_from": self.far_monday,
                    "request_date_to": self.far_monday + timedelta(days=4),
                }
            )
        )
        leave.action_approve()
        self.o365_sync(self.alice)
        link = self._link(leave)
        event_id = link.event_id
        self.assertTrue(event_id)
        for _run in range(4):
            self.o365_sync(self.alice)
        self.assertEqual((link.state, link.event_id, link.generation), ("synced", event_id, 0))
        self.assertEqual(
            [ev["id"] for ev in self._ours()], [event_id], "one event, not one per run"
        )

    def test_meeting_far_ahead_stays_single_and_linked(self):
        start = datetime.combine(self.far_monday, time(10))
        meeting = (
            self.env["calendar.event"]
            .with_user(self.alice)
            .create(
                {
                    "name": "Contract renewal",
                    "start": start,
                    "stop": start + timedelta(hours=1),
                    "user_id": self.alice.id,
                    "partner_ids": [(6, 0, (self.alice.partner_id | self.dan).ids)],
                }
            )
            .sudo()
        )
        self.o365_sync(self.alice)
        link = self._link(meeting)
        event_id = link.event_id
        self.assertTrue(event_id)
        for _run in range(3):
            self.o365_sync(self.alice)
        self.assertEqual((link.state, link.event_id), ("synced", event_id))
        self.assertEqual([ev["id"] for ev in self._ours()], [event_id])
        self.assertFalse(self._detach_lines())
        meeting.name = "Contract renewal (signed)"
        self.o365_sync(self.alice)
        self.assertIn("Contract renewal (signed)", self.alice_box.events[event_id]["subject"])

    def test_event_deleted_in_outlook_is_still_seen_as_deleted(self):
        activity = self._activity(self.monday)
        self.o365_sync(self.alice)
        link = self._link(activity)
        self.o365_sync(self.alice)
        event_id = link.event_id
        self.alice_box.delete_event(event_id)
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertEqual(len(self._checks(event_id)), 1)
        self.assertEqual((link.state, link.event_id), ("detached", False), "a 404 confirms it")
        self.assertTrue(self._detach_lines())

    def test_event_created_then_deleted_before_the_next_round_through_the_cron(self):
        """Graph lists no removal of an event the client never read: the next round, claimed
        by the sync job (which tells whether such links wait), still finds it gone."""
        account = self.alice._o365_account()
        Account = self.env["office365.account"]

        def cron_run():
            account.write({"next_sync_at": False})
            self.env["office365.sync.request"].sudo().search([]).unlink()
            Account._cron_sync()
            account.invalidate_recordset()

        cron_run()  # the first round: everything read, a delta link kept
        activity = self._activity(self.monday)
        cron_run()  # the activity is created in Outlook after this round's delta link
        link = self._link(activity)
        self.assertEqual(link.state, "synced")
        self.assertTrue(self._claim().created_in_round)
        self.alice_box.delete_event(link.event_id)
        cron_run()
        self.assertEqual((link.state, link.event_id), ("detached", False))
        self.assertTrue(self._detach_lines())
        # A new round: nothing of ours waits for it.
        self.assertFalse(self._claim().created_in_round)

    def _claim(self):
        """What the sync job's claim reads of Alice's account (due now)."""
        account = self.alice._o365_account()
        account.write({"next_sync_at": False})
        claimed = self.env["office365.account"]._o365_claim_next()
        self.assertEqual(claimed, account)
        return claimed._o365_claim()

    def test_unreadable_series_is_read_again_by_the_next_run(self):
        self._series()
        self.emulator.faults.add(
            "throttle", count=None, probability=1.0, path_contains="/instances", retry_after=0
        )
        with mute_logger("odoo.addons.office365_calendar_sync.models.office365_account"):
            stats = self.o365_sync(self.alice)
        self.assertIn("occurrences of a recurring meeting", stats.fatal, "no decision on stubs")
        self.assertFalse(self.env["office365.inbound.event"].search([]))
        self.emulator.faults.clear()
        self.o365_sync(self.alice)
        self.assertEqual(len(self._activities(self.dan)), 6, "the same changes, read again")

    def test_a_stub_is_never_decided_on(self):
        stub = {
            "@odata.type": "#microsoft.graph.event",
            "id": "AAMkOCC-stub",
            "seriesMasterId": "AAMkAG-master",
            "type": "occurrence",
            "start": _dt(datetime.combine(self.monday, time(10))),
            "end": _dt(datetime.combine(self.monday, time(11))),
        }
        stats = RunStats()
        self.env["office365.inbound.event"]._o365_process(
            self.alice._o365_account(), [stub], [], stats
        )
        self.assertEqual([item.event_id for item in stats.items], ["AAMkOCC-stub"])
        self.assertFalse(stats.counts["events"]["skipped"], "not skipped as internal")
        self.assertFalse(self.env["office365.inbound.event"].search([]))
