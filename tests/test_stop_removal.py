# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Stop Syncing: leave the events in Outlook, or remove them in batches with progress."""

from datetime import timedelta
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..models import office365_link
from ..services.batching import MAILBOX_CONCURRENCY
from .test_do_not_sync import Office365KindsCase

CTX_OPTION = "office365_calendar_sync_option"


@tagged("post_install", "-at_install")
class TestStopRemoval(Office365KindsCase):
    def _stop(self, option, user=None):
        """Press Stop Syncing as ``user`` (default: Dana, on her own preferences)."""
        user = user or self.dana
        return self.dana.with_user(user).with_context(**{CTX_OPTION: option}).action_o365_stop()

    def _wizard(self, action):
        self.assertEqual(action["res_model"], "office365.stop.wizard", "the question is asked")
        return self.env["office365.stop.wizard"].browse(action["res_id"]).with_user(self.dana)

    def _progress(self, option):
        lines = self.env["office365.sync.log.line"].search(
            [
                ("log_id.user_id", "=", self.dana.id),
                ("log_id.option", "=", option),
                ("message", "like", "Stop Syncing:"),
            ],
            order="id",
        )
        return lines.mapped("message")

    def _activities(self, count):
        return self.env["mail.activity"].concat(
            *(
                self._activity(summary=f"Call {n}", date_deadline=self.monday + timedelta(days=n))
                for n in range(count)
            )
        )

    def test_leave_the_events_in_outlook(self):
        activity = self._activity()
        self.o365_sync(self.dana)
        wizard = self._wizard(self._stop("activities"))
        self.assertEqual(wizard.event_count, 1)
        self.assertIn("Sync ERP activities put 1 event in your Outlook calendar.", wizard.question)
        wizard.action_keep()
        self.assertFalse(self.dana._o365_settings().o365_activities_enabled)
        self.emulator.reset_counters()
        self.o365_sync(self.dana)
        self.assertEqual(list(self._refs(self.dana_box)), [f"mail.activity,{activity.id}"])
        self.assertFalse(self._deletes())

    def test_remove_them_in_batches_with_progress_in_the_log(self):
        activities = self._activities(5)
        meeting = self._meeting()
        leave = self._leave()
        self.o365_sync(self.dana)
        self.assertEqual(len(self._refs(self.dana_box)), 7)

        wizard = self._wizard(self._stop("activities"))
        self.assertEqual(wizard.event_count, 6, "5 activities and 1 meeting")
        self.assertIn("Sync ERP activities put 6 events in your Outlook calendar.", wizard.question)
        self.emulator.reset_counters()
        wizard.action_remove()
        self.assertEqual(self.emulator.counters["total"], 0, "no HTTP in the user's transaction")
        settings = self.dana._o365_settings()
        self.assertFalse(settings.o365_activities_enabled)
        self.assertTrue(settings.o365_holidays_enabled, "the other option goes on")

        # Four links a run: two runs remove the six events, each logs its progress.
        with patch.object(office365_link, "PUSH_BATCH", 4):
            self.o365_sync(self.dana)
            self.assertEqual(len(self._refs(self.dana_box)), 3)
            self.assertEqual(
                self._progress("activities"),
                ["Stop Syncing: 4 event(s) removed from Outlook, 2 left to remove."],
            )
            self.o365_sync(self.dana)
        self.assertEqual(list(self._refs(self.dana_box)), [f"hr.leave,{leave.id}"])
        self.assertEqual(
            self._progress("activities")[-1],
            "Stop Syncing: 2 event(s) removed from Outlook, 0 left to remove.",
        )
        self.assertEqual(len(self._deletes()), 6)
        self.assertEqual(
            len(self._batches()),
            min(4, MAILBOX_CONCURRENCY) + min(2, MAILBOX_CONCURRENCY),
            "in $batch requests (parallel chains, see services/batching.py)",
        )
        # Nothing is pushed for the stopped option meanwhile; the records stay in Odoo.
        self.assertTrue(activities.exists() and meeting.exists())
        activities[0].summary = "Call again"
        self.o365_sync(self.dana)
        self.assertEqual(list(self._refs(self.dana_box)), [f"hr.leave,{leave.id}"])

        # Start again: the events come back.
        self.dana._o365_start("activities")
        self.o365_sync(self.dana)
        self.assertEqual(len(self._refs(self.dana_box)), 7)

    def test_remove_when_every_option_is_stopped(self):
        """With no option left, the run still sends the removals (and only them)."""
        leave = self._leave()
        activity = self._activity()
        self.o365_sync(self.dana)
        self._wizard(self._stop("activities")).action_keep()
        self._wizard(self._stop("holidays")).action_remove()
        self.assertFalse(self.dana._o365_account()._o365_enabled_options())
        self.emulator.reset_counters()
        self.o365_sync(self.dana)
        self.assertEqual(list(self._refs(self.dana_box)), [f"mail.activity,{activity.id}"])
        self.assertEqual(len(self._deletes()), 1)
        self.assertFalse(
            [r for r in self.emulator.requests if "delta" in r.path], "no calendar read"
        )
        self.assertEqual(
            self._progress("holidays"),
            ["Stop Syncing: 1 event(s) removed from Outlook, 0 left to remove."],
        )
        self.assertFalse(
            self.env["office365.link"].search(
                [("res_model", "=", "hr.leave"), ("res_id", "=", leave.id)]
            )
        )
        # The job has nothing left for this mailbox.
        self.emulator.reset_counters()
        self.o365_sync(self.dana)
        self.assertFalse(
            [r for r in self.emulator.requests if "/events" in r.path or "$batch" in r.path]
        )

    def test_nothing_in_outlook_stops_without_asking(self):
        # True: the preferences buttons reload the form in place, no question is opened.
        self.assertIs(self._stop("activities"), True)
        self.assertFalse(self.dana._o365_settings().o365_activities_enabled)

    def test_an_edit_while_removing_does_not_keep_the_event(self):
        activity = self._activity()
        self.o365_sync(self.dana)
        self._wizard(self._stop("activities")).action_remove()
        activity.summary = "Changed while stopping"
        link = self.env["office365.link"].search([("res_id", "=", activity.id)])
        self.assertEqual((link.state, link.removing), ("to_delete", True))
        self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {})

    def test_another_user_cannot_stop_or_remove(self):
        self._activity()
        self.o365_sync(self.dana)
        intruder = new_test_user(self.env, login="stop_intruder", groups="base.group_user")
        with self.assertRaises(UserError):
            self._stop("activities", user=intruder)
        wizard = self._wizard(self._stop("activities"))
        with self.assertRaises(UserError):
            wizard.with_user(intruder).action_remove()
        self.assertTrue(self.dana._o365_settings().o365_activities_enabled)
        self.assertFalse(self.env["office365.link"].search([("removing", "=", True)]))
