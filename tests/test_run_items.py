# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The items of a sync run: what it created, updated, deleted, skipped (and why) or failed."""

from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from ..services import runstats
from .common import Office365Case

LOG = "office365.sync.log"


@tagged("post_install", "-at_install")
class TestRunItems(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("office365_calendar_sync.internal_domains", "example.com")
        params.set_param("office365_calendar_sync.create_contacts", "0")
        cls.alice, cls.alice_box = cls._o365_user("items_alice", options=("activities", "events"))
        cls.contact = cls.env["res.partner"].create(
            {"name": "Ann Lee", "email": "ann.lee@acme.example"}
        )
        cls.todo = cls.env.ref("mail.mail_activity_data_todo")
        cls.partner_model = cls.env["ir.model"]._get_id("res.partner")
        cls.due = fields.Date.context_today(cls.alice) + timedelta(days=3)

    def setUp(self):
        super().setUp()
        self.alice_box.events.clear()
        self.alice_box.sync_states.clear()

    def _activity(self, summary, **vals):
        return (
            self.env["mail.activity"]
            .with_context(mail_activity_quick_update=True)
            .create(
                {
                    "res_model_id": self.partner_model,
                    "res_id": self.contact.id,
                    "activity_type_id": self.todo.id,
                    "summary": summary,
                    "date_deadline": self.due,
                    "user_id": self.alice.id,
                    **vals,
                }
            )
        )

    def _run_log(self, option="activities"):
        """The latest log line of ``option`` as Alice reads it (her record rules)."""
        return (
            self.env[LOG]
            .with_user(self.alice)
            .search([("user_id", "=", self.alice.id), ("option", "=", option)], limit=1)
        )

    # ------------------------------------------------------------------
    def test_run_lists_created_and_skipped_items_with_their_reason(self):
        first = self._activity("Call back")
        self.o365_sync(self.alice)
        # Written again with the same values: queued, and found up to date in Outlook.
        first.write({"summary": "Call back"})
        quote = self._activity("Send the quote")
        visit = self._activity("Plan a visit")
        stats = self.o365_sync(self.alice)
        self.assertEqual(
            (stats.counts["activities"]["created"], stats.counts["activities"]["skipped"]), (2, 1)
        )
        log = self._run_log()
        self.assertEqual((log.created, log.skipped, log.unlisted), (2, 1, 0))
        items = {line.res_id: line for line in log.line_ids}
        self.assertEqual(set(items), {first.id, quote.id, visit.id})
        for activity in (quote, visit):
            line = items[activity.id]
            self.assertEqual((line.operation, line.direction), ("created", "to_outlook"))
            self.assertEqual(line.res_name, activity.display_name)
            self.assertEqual(line.subject, f"To-Do: {activity.summary}")
            self.assertFalse(line.level)
            # The reader may read the activity: its name opens it.
            self.assertIn(
                f'<a href="/office365_calendar_sync/activity/{activity.id}">', line.record_link
            )
        skipped = items[first.id]
        self.assertEqual(skipped.operation, "skipped")
        self.assertEqual(skipped.message, "already up to date in Outlook")
        self.assertEqual(skipped.subject, "To-Do: Call back")
        # A record gone since keeps its name in the log, without a link.
        name = visit.display_name
        visit.unlink()
        items[visit.id].invalidate_recordset(["record_link"])
        self.assertEqual(str(items[visit.id].record_link), name)
        self.assertNotIn("<a", str(items[visit.id].record_link))

    def test_failed_item_shows_its_error(self):
        gone = self.env["res.partner"].create({"name": "Deleted later"})
        orphan = self._activity("Orphan", res_id=gone.id)
        fine = self._activity("Fine")
        self.env.flush_all()
        # The document disappears without the usual clean-up (deleted by SQL).
        self.env.cr.execute("DELETE FROM mail_followers WHERE res_id = %s", [gone.id])
        self.env.cr.execute("DELETE FROM res_partner WHERE id = %s", [gone.id])
        self.env.invalidate_all()
        self.o365_sync(self.alice)
        log = self._run_log()
        self.assertEqual((log.created, log.failed), (1, 1))
        failed = log.line_ids.filtered(lambda ln: ln.operation == "failed")
        self.assertEqual(failed.res_id, orphan.id)
        self.assertEqual((failed.level, failed.direction), ("error", "to_outlook"))
        self.assertIn("no longer exists", failed.message)
        created = log.line_ids.filtered(lambda ln: ln.operation == "created")
        self.assertEqual(created.res_id, fine.id)

    def test_outlook_items_name_the_logged_meeting_and_the_skip_reason(self):
        start = (fields.Datetime.now() + timedelta(days=2)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )

        def event(subject, attendee):
            return self.alice_box.create_event(
                {
                    "subject": subject,
                    "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                    "end": {
                        "dateTime": (start + timedelta(hours=1)).isoformat(),
                        "timeZone": "UTC",
                    },
                    "attendees": [{"emailAddress": {"address": attendee, "name": attendee}}],
                }
            )

        review = event("Quarterly review", "ann.lee@acme.example")
        event("Team stand-up", "bob@example.com")
        self.o365_sync(self.alice, ["events"])
        log = self._run_log("events")
        self.assertEqual((log.created, log.skipped), (1, 1))
        logged = log.line_ids.filtered(lambda ln: ln.operation == "created")
        meeting = (
            self.env["office365.inbound.event"]
            .sudo()
            .search([("mailbox_ids.outlook_event_id", "=", review["id"])])
        )
        self.assertTrue(meeting)
        self.assertEqual(
            (logged.res_model, logged.res_id, logged.subject, logged.direction),
            ("office365.inbound.event", meeting.id, "Quarterly review", "to_odoo"),
        )
        skipped = log.line_ids.filtered(lambda ln: ln.operation == "skipped")
        self.assertEqual((skipped.subject, skipped.message), ("Team stand-up", "internal meeting"))

    def test_lines_are_capped_per_run(self):
        activities = [self._activity(f"Call {n}") for n in range(5)]
        with patch.object(runstats, "MAX_LISTED", 3):
            self.o365_sync(self.alice)
        log = self._run_log()
        self.assertEqual((log.created, log.unlisted), (5, 2))
        self.assertEqual(len(log.line_ids), 3)
        self.assertLessEqual(set(log.line_ids.mapped("res_id")), {a.id for a in activities})

    def test_quiet_runs_write_no_lines(self):
        self._activity("Call back")
        self.o365_sync(self.alice)
        lines = self.env["office365.sync.log.line"].sudo()
        before = lines.search_count([("user_id", "=", self.alice.id)])
        # The next runs read the created event back (skipped) and then nothing at all.
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)
        self.assertEqual(lines.search_count([("user_id", "=", self.alice.id)]), before)
        quiet = self._run_log()
        self.assertFalse(quiet.changed)
        self.assertFalse(quiet.line_ids)
