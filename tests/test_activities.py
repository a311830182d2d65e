# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Option "Sync ERP activities": phone calls and tasks in the assignee's Outlook calendar."""

import logging
from datetime import datetime, time, timedelta, timezone
from unittest.mock import patch
from zoneinfo import ZoneInfo

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models.office365_sync_run import SyncRun
from ..services.graph_client import EXTENDED_PROPERTY_ID
from .common import Office365Case

LOG_LINE = "office365.sync.log.line"
_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestActivities(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice, cls.alice_box = cls._o365_user("act_alice", options=("activities",))
        cls.bob, cls.bob_box = cls._o365_user("act_bob", options=("activities",))
        cls.carol, cls.carol_box = cls._o365_user("act_carol")  # connected, not syncing
        cls.company = cls.env["res.partner"].create({"name": "Acme", "is_company": True})
        cls.contact = cls.env["res.partner"].create(
            {
                "name": "Ann Lee",
                "parent_id": cls.company.id,
                "phone": "+32 2 555 01 01",
                "email": "ann.lee@acme.example",
            }
        )
        cls.todo = cls.env.ref("mail.mail_activity_data_todo")
        cls.call = cls.env.ref("mail.mail_activity_data_call")
        cls.partner_model = cls.env["ir.model"]._get_id("res.partner")
        cls.due = fields.Date.context_today(cls.alice) + timedelta(days=3)

    def setUp(self):
        super().setUp()
        # The emulator lives for the class, the database is rolled back after each test.
        for mailbox in self.emulator.mailboxes.values():
            mailbox.events.clear()
            mailbox.sync_states.clear()
            mailbox.categories.clear()
        self.o365_forget_category_checks()

    # ------------------------------------------------------------------
    def _activity(self, user=None, **vals):
        values = {
            "res_model_id": self.partner_model,
            "res_id": self.contact.id,
            "activity_type_id": self.todo.id,
            "summary": "Create a quote",
            "date_deadline": self.due,
            "user_id": (user or self.alice).id,
        }
        values.update(vals)
        return (
            self.env["mail.activity"].with_context(mail_activity_quick_update=True).create(values)
        )

    def _link(self, record, user=None):
        domain = [("res_model", "=", record._name), ("res_id", "=", record.id)]
        if user:
            domain.append(("user_id", "=", user.id))
        return self.env["office365.link"].sudo().search(domain)

    def _event(self, mailbox, record):
        link = self._link(record)
        events = [ev for ev in self.o365_events(mailbox) if ev["id"] in link.mapped("event_id")]
        self.assertEqual(len(events), 1, "exactly one Outlook event for the record")
        return events[0]

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
    def test_task_pushed_with_subject_body_category_and_identity(self):
        self.emulator.reset_counters()
        activity = self._activity(note="<p>Bring the price list</p>")
        self.assertEqual(self.emulator.counters["total"], 0, "no HTTP in the user's transaction")
        link = self._link(activity)
        self.assertEqual(link.state, "pending", "recorded in the user's transaction, no HTTP")
        self.assertFalse(self.o365_events(self.alice_box))
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["created"], 1)
        event = self._event(self.alice_box, activity)
        self.assertEqual(event["subject"], "To-Do: Create a quote")
        self.assertTrue(event["isAllDay"])
        self.assertEqual(event["start"]["dateTime"][:10], self.due.isoformat())
        self.assertEqual(event["end"]["dateTime"][:10], (self.due + timedelta(days=1)).isoformat())
        body = event["body"]["content"]
        self.assertIn("Open activity</a>", body)
        self.assertIn(f"/mail/view?model=res.partner&amp;res_id={self.contact.id}", body)
        for text in ("Ann Lee", "Acme", "+32 2 555 01 01", "ann.lee@acme.example"):
            self.assertIn(text, body)
        self.assertIn("Bring the price list", body)
        self.assertEqual(event["categories"], ["Odoo"])
        self.assertEqual(event["_ext"][EXTENDED_PROPERTY_ID], f"mail.activity,{activity.id}")
        category = [c for c in self.alice_box.categories if c["displayName"] == "Odoo"]
        self.assertEqual(len(category), 1, "the category is created in the mailbox")
        self.assertEqual(category[0]["color"], "preset9")
        link.invalidate_recordset()
        self.assertEqual(link.state, "synced")
        # The category is checked once per mailbox, not on every run.
        self._activity(summary="Second")
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertEqual(self.emulator.counters["GET /me/outlook/masterCategories"], 0)
        self.assertEqual(len(self.o365_events(self.alice_box)), 2)
        # ... whichever server process runs it: the check is kept on the account, not in
        # the process; an hour later, or for another mailbox, it is made again.
        account = self.alice._o365_account()
        self.assertTrue(account.category_checked_at)
        for stale in (
            {"category_checked_at": account.category_checked_at - timedelta(hours=2)},
            {"category_checked_for": "someone.else@example.com|" + account.email},
        ):
            account.write(stale)
            self._activity(summary="Again")
            self.emulator.reset_counters()
            self.o365_sync(self.alice)
            self.assertEqual(self.emulator.counters["GET /me/outlook/masterCategories"], 1)

    def test_user_without_admin_rights_creates_and_edits(self):
        self.alice.groups_id |= self.env.ref("base.group_partner_manager")
        model = self.env["mail.activity"].with_user(self.alice)
        activity = model.create(
            {
                "res_model_id": self.partner_model,
                "res_id": self.contact.id,
                "activity_type_id": self.todo.id,
                "summary": "My own task",
                "date_deadline": self.due,
            }
        )
        activity.write({"summary": "My own task, edited"})
        self.o365_sync(self.alice)
        self.assertEqual(
            self._event(self.alice_box, activity)["subject"], "To-Do: My own task, edited"
        )
        activity.action_done()
        self.o365_sync(self.alice)
        self.assertFalse(self.o365_events(self.alice_box))

    def test_type_selection_and_only_started_users(self):
        self.alice._o365_settings().o365_sync_phonecall = False
        call = self._activity(activity_type_id=self.call.id, summary="Call back")
        task = self._activity(summary="Send the offer")
        other = self._activity(user=self.carol, summary="Not syncing")
        self.assertFalse(self._link(call), "phone calls are not selected")
        self.assertFalse(self._link(other), "the assignee did not start the option")
        self.assertEqual(self._link(task).user_id, self.alice)
        self.alice._o365_settings().o365_sync_phonecall = True
        call.summary = "Call back today"
        self.o365_sync(self.alice)
        subjects = sorted(ev["subject"] for ev in self.o365_events(self.alice_box))
        self.assertEqual(subjects, ["Call: Call back today", "To-Do: Send the offer"])
        self.assertFalse(self.o365_events(self.carol_box))

    def test_admin_lock_on_type_choice_applies(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("office365_calendar_sync.default.o365_sync_phonecall", "False")
        params.set_param("office365_calendar_sync.lock.o365_sync_phonecall", "True")
        self.assertTrue(self.alice._o365_settings().o365_sync_phonecall, "user's own choice")
        call = self._activity(activity_type_id=self.call.id, summary="Locked out")
        self.assertFalse(self._link(call), "the administrator's lock wins")

    def test_default_time_slot_setting(self):
        self.alice._o365_settings().write(
            {"o365_activity_slot": "slot", "o365_activity_hour": 14.5, "o365_activity_duration": 1}
        )
        activity = self._activity()
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, activity)
        self.assertFalse(event["isAllDay"])
        local = datetime(
            self.due.year, self.due.month, self.due.day, 14, 30, tzinfo=ZoneInfo("Europe/Brussels")
        )
        start = local.astimezone(timezone.utc).replace(tzinfo=None)
        self.assertEqual(event["start"]["dateTime"][:19], start.isoformat())
        self.assertEqual(event["end"]["dateTime"][:19], (start + timedelta(hours=1)).isoformat())

    def test_odoo_change_updates_event_and_echo_guard(self):
        activity = self._activity()
        self.o365_sync(self.alice)
        # A sync right after the push changes nothing and writes nothing.
        self.emulator.reset_counters()
        write_date = activity.write_date
        stats = self.o365_sync(self.alice)
        self.assertEqual(self.emulator.counters["POST /$batch"], 0)
        self.assertEqual(stats.total("activities"), 0)
        activity.invalidate_recordset()
        self.assertEqual(activity.write_date, write_date)
        # An edit in Odoo sends only what changed.
        activity.write({"summary": "Create the final quote", "note": "<p>New note</p>"})
        self.assertEqual(self._link(activity).state, "pending")
        self.emulator.reset_counters()
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["updated"], 1)
        self.assertEqual(self.emulator.counters["PATCH /me/events/{id}"], 1)
        event = self._event(self.alice_box, activity)
        self.assertEqual(event["subject"], "To-Do: Create the final quote")
        self.assertIn("New note", event["body"]["content"])
        # The contact's details shown in the event follow the document.
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertEqual(self.emulator.counters["POST /$batch"], 0)

    def test_contact_details_changes_update_the_event(self):
        activity = self._activity()
        other = self._activity(res_id=self.company.id, summary="Company task")
        self.o365_sync(self.alice)
        self.contact.phone = "+32 2 555 99 99"
        self.assertEqual(self._link(activity).state, "pending")
        self.assertEqual(self._link(other).state, "synced", "other contacts are not touched")
        self.company.name = "Acme Group"
        self.o365_sync(self.alice)
        body = self._event(self.alice_box, activity)["body"]["content"]
        self.assertIn("+32 2 555 99 99", body)
        self.assertIn("Acme Group", body)
        self.assertIn("Acme Group", self._event(self.alice_box, other)["body"]["content"])

    def test_outlook_move_sets_due_date_and_keeps_outlook_times(self):
        activity = self._activity()
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, activity)
        new_day = self.due + timedelta(days=2)
        self.alice_box.update_event(
            event["id"],
            {
                "isAllDay": False,
                "start": {"dateTime": f"{new_day}T15:00:00", "timeZone": "Europe/Brussels"},
                "end": {"dateTime": f"{new_day}T16:30:00", "timeZone": "Europe/Brussels"},
            },
        )
        self.emulator.reset_counters()
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["updated"], 1)
        self.assertEqual(activity.date_deadline, new_day)
        self.assertEqual(self.emulator.counters["POST /$batch"], 0, "no ping-pong")
        moved = self._event(self.alice_box, activity)
        self.assertFalse(moved["isAllDay"], "Outlook keeps the times the user chose")
        self.assertEqual(moved["start"]["dateTime"][:16], _utc_view(new_day, time(15, 0)))
        # Nothing comes back and nothing is sent on the next runs.
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        self.assertEqual(self.emulator.counters["POST /$batch"], 0)
        # A new due date set in Odoo moves the event, keeping Outlook's time of day.
        activity.date_deadline = new_day + timedelta(days=1)
        self.o365_sync(self.alice)
        moved = self._event(self.alice_box, activity)
        next_day = new_day + timedelta(days=1)
        self.assertEqual(moved["start"]["dateTime"][:16], _utc_view(next_day, time(15, 0)))
        self.assertEqual(moved["end"]["dateTime"][:16], _utc_view(next_day, time(16, 30)))

    def test_outlook_subject_and_body_edits_are_overwritten_by_next_odoo_change(self):
        activity = self._activity()
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, activity)
        self.alice_box.update_event(
            event["id"],
            {"subject": "My own title", "body": {"contentType": "text", "content": "mine"}},
        )
        self.o365_sync(self.alice)
        self.assertEqual(activity.summary, "Create a quote", "subject does not come back")
        self.assertEqual(self._event(self.alice_box, activity)["subject"], "My own title")
        activity.note = "<p>Changed in Odoo</p>"
        self.o365_sync(self.alice)
        event = self._event(self.alice_box, activity)
        self.assertEqual(event["subject"], "To-Do: Create a quote")
        self.assertIn("Changed in Odoo", event["body"]["content"])
        self.assertNotIn("mine", event["body"]["content"])

    def test_done_and_delete_remove_the_event(self):
        keep = self.todo.copy({"name": "Follow-up", "keep_done": True})
        unlinked = self._activity(summary="Done and deleted")
        archived = self._activity(summary="Done and kept", activity_type_id=keep.id)
        deleted = self._activity(summary="Deleted")
        self.o365_sync(self.alice)
        self.assertEqual(len(self.o365_events(self.alice_box)), 3)
        unlinked.action_done()
        archived.action_done()
        self.assertFalse(archived.active, "a keep-done type archives the activity")
        self.assertFalse(unlinked.exists())
        deleted.unlink()
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["deleted"], 3)
        self.assertFalse(self.o365_events(self.alice_box))
        self.assertFalse(self._link(archived))

    def test_outlook_delete_keeps_the_activity(self):
        activity = self._activity()
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)  # the next run reads the new event back (echo)
        event = self._event(self.alice_box, activity)
        self.alice_box.delete_event(event["id"])
        self.o365_sync(self.alice)
        self.assertTrue(activity.exists() and activity.active)
        link = self._link(activity)
        self.assertEqual(link.state, "detached")
        self.assertIn("deleted in Outlook", " ".join(self._lines(activity).mapped("message")))
        # Later edits do not bring the event back.
        activity.summary = "Still here"
        self.o365_sync(self.alice)
        self.assertFalse(self.o365_events(self.alice_box))

    def test_reassignment_moves_the_event_between_mailboxes(self):
        activity = self._activity()
        self.o365_sync(self.alice)
        self.assertEqual(len(self.o365_events(self.alice_box)), 1)
        activity.user_id = self.bob
        self.o365_sync(self.alice)
        self.o365_sync(self.bob)
        self.assertFalse(self.o365_events(self.alice_box), "left the old assignee's calendar")
        self.assertEqual(self._event(self.bob_box, activity)["subject"], "To-Do: Create a quote")
        self.assertEqual(self._link(activity).user_id, self.bob)
        activity.user_id = self.carol  # does not sync
        self.o365_sync(self.bob)
        self.assertFalse(self.o365_events(self.bob_box))
        self.assertFalse(self.o365_events(self.carol_box))
        self.assertFalse(self._link(activity))

    def test_bad_input_is_logged_and_the_batch_goes_on(self):
        gone = self.env["res.partner"].create({"name": "Deleted later"})
        orphan = self._activity(res_id=gone.id, summary="Orphan")
        # The document disappears without the usual clean-up (e.g. deleted by SQL).
        self.env.flush_all()
        self.env.cr.execute("DELETE FROM mail_followers WHERE res_id = %s", [gone.id])
        self.env.cr.execute("DELETE FROM res_partner WHERE id = %s", [gone.id])
        self.env.invalidate_all()
        long_one = self._activity(summary="Quote " * 60)
        no_mail = self.env["res.partner"].create({"name": "No Mail Contact"})
        without_email = self._activity(res_id=no_mail.id, summary="Visit")
        fine = self._activity(summary="Fine")
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["created"], 3)
        self.assertEqual(stats.counts["activities"]["failed"], 1)
        self.assertEqual(self._link(orphan).state, "error")
        orphan_line = self._lines(orphan)
        self.assertEqual(orphan_line.level, "error")
        self.assertIn("no longer exists", orphan_line.message)
        event = self._event(self.alice_box, long_one)
        self.assertEqual(len(event["subject"]), 255)
        self.assertIn("Outlook keeps 255", self._lines(long_one).message)
        self.assertIn("no e-mail address", self._lines(without_email).message)
        self.assertEqual(self._event(self.alice_box, fine)["subject"], "To-Do: Fine")

    def test_404_on_update_detaches_and_logs(self):
        activity = self._activity()
        other = self._activity(summary="Other")
        self.o365_sync(self.alice)
        self.alice_box.delete_event(self._link(activity).event_id)
        activity.summary = "Changed"
        other.summary = "Other changed"
        # The event is deleted between our read of Outlook and our write.
        with patch.object(SyncRun, "pull", lambda *args: None):
            stats = self.o365_sync(self.alice)
        self.assertEqual(self._link(activity).state, "detached")
        self.assertIn("deleted in Outlook", self._lines(activity).message)
        self.assertEqual(stats.counts["activities"]["updated"], 1)
        self.assertEqual(self._event(self.alice_box, other)["subject"], "To-Do: Other changed")
        self.assertTrue(activity.exists())

    def test_outlook_move_to_invalid_date_is_put_back(self):
        activity = self._activity()
        fine = self._activity(summary="Fine")
        self.o365_sync(self.alice)
        self.o365_sync(self.alice)
        event_id = self._link(activity).event_id
        # An event whose end comes before its start (as a broken client may write it).
        stored = self.alice_box.events[event_id]
        stored["isAllDay"] = False
        stored["_start"] = stored["_start"].replace(hour=15)
        stored["_end"] = stored["_start"] - timedelta(hours=2)
        self.alice_box._touch(stored)
        self.alice_box.update_event(self._link(fine).event_id, {"subject": "Edited"})
        stats = self.o365_sync(self.alice)
        self.assertEqual(activity.date_deadline, self.due, "the due date is kept")
        line = self._lines(activity)
        self.assertIn("not applied", line.message)
        self.assertIn("before start", line.message)
        self.assertEqual(stats.counts["activities"]["failed"], 1)
        event = self._event(self.alice_box, activity)
        self.assertTrue(event["isAllDay"], "Odoo's version is sent back")
        self.assertEqual(event["start"]["dateTime"][:10], self.due.isoformat())

    def test_logged_from_outlook_is_never_pushed(self):
        inbound = (
            self.env["office365.inbound.event"]
            .sudo()
            .create({"ical_uid": "uid-logged", "occurrence_key": "uid-logged"})
        )
        meeting = self.env.ref("mail.mail_activity_data_meeting")
        logged = self._activity(activity_type_id=meeting.id, o365_inbound_event_id=inbound.id)
        self.assertFalse(self._link(logged))
        logged.summary = "Edited in Odoo"
        self.assertFalse(self._link(logged), "an edit does not push it either")
        self.o365_sync(self.alice)
        self.assertFalse(self.o365_events(self.alice_box))

    def test_start_pushes_existing_activities_in_window(self):
        dave, dave_box = self._o365_user("act_dave")
        today = fields.Date.context_today(dave)
        inside = self._activity(user=dave, date_deadline=today + timedelta(days=10))
        past = self._activity(user=dave, date_deadline=today - timedelta(days=5))
        outside = self._activity(user=dave, date_deadline=today + timedelta(days=800))
        self.assertFalse(self._link(inside), "not syncing yet")
        dave._o365_start("activities")
        self.assertTrue(self._link(inside) and self._link(past))
        self.assertFalse(self._link(outside), "outside the sync window")
        self.o365_sync(dave)
        self.assertEqual(len(self.o365_events(dave_box)), 2)

    def test_start_without_existing_and_stop(self):
        erin, erin_box = self._o365_user("act_erin", o365_push_existing=False)
        before = self._activity(user=erin)
        erin._o365_start("activities")
        self.assertFalse(self._link(before), "existing activities left out when asked")
        after = self._activity(user=erin, summary="New one")
        self.o365_sync(erin)
        self.assertEqual(len(self.o365_events(erin_box)), 1)
        erin._o365_stop("activities")
        after.summary = "Changed after stop"
        self._activity(user=erin, summary="Created after stop")
        self.emulator.reset_counters()
        self.o365_sync(erin)
        self.assertEqual(self.emulator.counters["POST /$batch"], 0, "no traffic once stopped")
        events = self.o365_events(erin_box)
        self.assertEqual([ev["subject"] for ev in events], ["To-Do: New one"], "events stay")
        self.assertEqual(self._link(after).state, "pending", "kept for a later start")
        # Starting again sends what changed meanwhile; the event was never removed.
        erin._o365_start("activities")
        self.o365_sync(erin)
        events = self.o365_events(erin_box)
        self.assertEqual([ev["subject"] for ev in events], ["To-Do: Changed after stop"])

    @mute_logger("odoo.addons.office365_calendar_sync.models.office365_account")
    def test_push_500_activities_costs_at_most_33_requests(self):
        model = self.env["res.partner"]
        partners = model.create([{"name": f"Lead {i}"} for i in range(500)])
        vals = [
            {
                "res_model_id": self.partner_model,
                "res_id": partners[i].id,
                "activity_type_id": self.todo.id,
                "summary": f"Task {i}",
                "date_deadline": self.due + timedelta(days=i % 30),
                "user_id": self.alice.id,
            }
            for i in range(500)
        ]
        self.env["mail.activity"].with_context(mail_activity_quick_update=True).create(vals)
        self.emulator.reset_counters()
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["activities"]["created"], 500)
        self.assertEqual(len(self.o365_events(self.alice_box)), 500)
        _logger.info("Graph requests for 500 new activities: %s", dict(self.emulator.counters))
        counters = dict(self.emulator.counters)
        # The push itself: 6 waves of 4 chained $batch of 20 creates, the last 20 spread over
        # 4 chains of 5 (4 writes in flight per mailbox), the category check, msal's discovery.
        reads = counters.get("GET /me/calendarView/delta", 0)
        self.assertLessEqual(counters["total"] - reads, 33, counters)
        self.assertEqual(counters["POST /$batch"], 28)
        self.assertEqual(self.emulator.throttling.refused[self.alice_box.email], 0)
        # Reading the calendar (before, and after the push when the run reads its new events
        # back) is paged by Graph, not per event.
        self.assertLessEqual(reads, 2 + 500 // 100, counters)

    def _queries(self, func):
        self.env.flush_all()
        self.env.invalidate_all()
        start = self.env.cr.sql_log_count
        func()
        self.env.flush_all()
        return self.env.cr.sql_log_count - start

    def _create_many(self, count, user):
        partners = self.env["res.partner"].create([{"name": f"Bulk {i}"} for i in range(count)])
        vals = [
            {
                "res_model_id": self.partner_model,
                "res_id": partner.id,
                "activity_type_id": self.todo.id,
                "summary": f"Bulk {partner.id}",
                "date_deadline": self.due,
                "user_id": user.id,
            }
            for partner in partners
        ]
        model = self.env["mail.activity"].with_context(mail_activity_quick_update=True)
        return self._queries(lambda: model.create(vals))

    def test_orm_work_per_activity_does_not_grow(self):
        """Our share of the ORM work is the same for 10 and 100 activities.

        Odoo's own activity creation costs a few queries per record (followers, notifications),
        so the comparison is made against the same creation for a user who does not sync.
        """
        ours = {}
        for count in (10, 100):
            plain = self._create_many(count, self.carol)
            synced = self._create_many(count, self.alice)
            pushed = self._queries(lambda: self.o365_sync(self.alice))
            ours[count] = (synced - plain, pushed)
            self.assertEqual(len(self.o365_events(self.alice_box)), 10 if count == 10 else 110)
        _logger.info("Queries (activity creation share, push run) for 10/100: %s", ours)
        self.assertLessEqual(ours[100][0], ours[10][0] + 2, ours)
        self.assertLessEqual(ours[100][1], ours[10][1] + 5, ours)


def _utc_view(day, local_time, zone="Europe/Brussels"):
    """Graph's UTC view (``YYYY-MM-DDTHH:MM``) of ``local_time`` in ``zone`` on ``day``: the
    offset depends on the season, so a test never assumes winter."""
    local = datetime.combine(day, local_time, tzinfo=ZoneInfo(zone))
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")
