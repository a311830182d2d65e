# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The "Do not sync to Outlook" box of an activity, a meeting and a leave, checked over Graph."""

from datetime import datetime, time, timedelta
from urllib.parse import unquote

from odoo import fields
from odoo.tests import new_test_user, tagged

from .common import Office365Case


def next_monday(weeks=1):
    """A Monday at least ``weeks`` weeks away: a working day inside every sync window."""
    today = fields.Date.today()
    return today + timedelta(days=7 * weeks + (7 - today.weekday()) % 7)


class Office365KindsCase(Office365Case):
    """One user syncing activities, meetings and holidays, and the records to push."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, mail_notrack=True))
        cls.dana, cls.dana_box = cls._o365_user(
            "dns_dana", options=("activities", "holidays"), groups="base.group_user"
        )
        cls.manager = new_test_user(
            cls.env,
            login="dns_leave_manager",
            groups="base.group_user,hr_holidays.group_hr_holidays_manager",
        )
        cls.employee = cls.env["hr.employee"].create({"name": "Dana", "user_id": cls.dana.id})
        cls.leave_type = cls.env["hr.leave.type"].create(
            {
                "name": "Paid Time Off",
                "leave_validation_type": "hr",
                "requires_allocation": "no",
                "request_unit": "day",
                "company_id": False,
            }
        )
        cls.contact = cls.env["res.partner"].create(
            {"name": "Ann Lee", "email": "ann.lee@acme.example"}
        )
        cls.monday = next_monday()

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

    def _activity(self, user=None, **vals):
        return (
            self.env["mail.activity"]
            .with_context(mail_activity_quick_update=True)
            .create(
                {
                    "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                    "res_id": self.contact.id,
                    "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                    "summary": "Send the quote",
                    "date_deadline": self.monday,
                    "user_id": (user or self.dana).id,
                    **vals,
                }
            )
        )

    def _meeting(self, organizer=None, **vals):
        organizer = organizer or self.dana
        start = datetime.combine(self.monday + timedelta(days=1), time(9, 0))
        return (
            self.env["calendar.event"]
            .with_user(organizer)
            .with_context(no_mail_to_attendees=True)
            .create(
                {
                    "name": "Kick-off",
                    "start": start,
                    "stop": start + timedelta(hours=1),
                    "user_id": organizer.id,
                    "partner_ids": [(6, 0, (organizer.partner_id | self.contact).ids)],
                    **vals,
                }
            )
        )

    def _leave(self, employee=None, day=None, **vals):
        day = day or self.monday + timedelta(days=2)
        leave = (
            self.env["hr.leave"]
            .with_user(self.manager)
            .create(
                {
                    "name": "Dentist",
                    "employee_id": (employee or self.employee).id,
                    "holiday_status_id": self.leave_type.id,
                    "request_date_from": day,
                    "request_date_to": day,
                    **vals,
                }
            )
        )
        leave.action_approve()
        self.assertEqual(leave.state, "validate")
        return leave

    def _refs(self, mailbox):
        """``{"model,id": Graph event}`` of the events our sync put in ``mailbox``."""
        out = {}
        for stored in self.o365_events(mailbox):
            event = mailbox.render(stored, expand_ext=True)
            for prop in event.get("singleValueExtendedProperties") or []:
                out[prop["value"]] = event
        return out

    def _deletes(self):
        return [req for req in self.emulator.requests if req.method == "DELETE"]

    def _batches(self):
        return [req for req in self.emulator.requests if req.path.endswith("/$batch")]


@tagged("post_install", "-at_install")
class TestDoNotSync(Office365KindsCase):
    def test_ticked_record_leaves_outlook_and_comes_back_when_unticked(self):
        activity, meeting, leave = self._activity(), self._meeting(), self._leave()
        refs = [f"{rec._name},{rec.id}" for rec in (activity, meeting, leave)]
        self.o365_sync(self.dana)
        self.assertEqual(sorted(self._refs(self.dana_box)), sorted(refs))
        old_ids = {ref: ev["id"] for ref, ev in self._refs(self.dana_box).items()}

        # Ticked: nothing is sent at once (the outbox marks the links), the run deletes.
        self.emulator.reset_counters()
        activity.o365_do_not_sync = True
        meeting.with_user(self.dana).o365_do_not_sync = True
        leave.with_user(self.manager).o365_do_not_sync = True
        links = self.env["office365.link"].search([("user_id", "=", self.dana.id)])
        self.assertEqual(set(links.mapped("state")), {"to_delete"})
        self.assertEqual(self.emulator.counters["total"], 0, "no HTTP in the user's transaction")
        stats = self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {}, "all three events left Outlook")
        self.assertEqual(
            sorted(unquote(req.path.rsplit("/", 1)[-1]) for req in self._deletes()),
            sorted(old_ids.values()),
        )
        self.assertTrue(self._batches(), "the deletions went in $batch")
        self.assertEqual(stats.counts["activities"]["deleted"], 2)
        self.assertEqual(stats.counts["holidays"]["deleted"], 1)
        self.assertFalse(self.env["office365.link"].search([("user_id", "=", self.dana.id)]))

        # An edit of a ticked record sends nothing.
        self.emulator.reset_counters()
        activity.summary = "Send the revised quote"
        meeting.with_user(self.dana).name = "Kick-off (moved)"
        self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {})
        self.assertFalse(
            [r for r in self.emulator.requests if r.method in ("POST", "PATCH", "DELETE")]
        )

        # Unticked: each comes back, with its current values.
        activity.o365_do_not_sync = False
        meeting.with_user(self.dana).o365_do_not_sync = False
        leave.with_user(self.manager).o365_do_not_sync = False
        self.o365_sync(self.dana)
        events = self._refs(self.dana_box)
        self.assertEqual(sorted(events), sorted(refs))
        self.assertEqual(events[refs[0]]["subject"], "To-Do: Send the revised quote")
        self.assertEqual(events[refs[1]]["subject"], "Meeting: Kick-off (moved)")
        self.assertTrue({ev["id"] for ev in events.values()}.isdisjoint(old_ids.values()))

    def test_ticked_from_the_start_never_reaches_outlook(self):
        activity = self._activity(o365_do_not_sync=True)
        meeting = self._meeting(o365_do_not_sync=True)
        leave = self._leave(o365_do_not_sync=True)
        self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {})
        self.assertFalse(
            [r for r in self.emulator.requests if r.method == "POST" and "events" in r.path]
        )
        records = {rec._name: rec.id for rec in (activity, meeting, leave)}
        links = self.env["office365.link"].search([("user_id", "=", self.dana.id)])
        self.assertFalse(links, f"no link for {records}")

    def test_ticked_meeting_sends_odoo_invitations_again(self):
        """Outlook no longer invites the attendees of a meeting kept out of it: Odoo does."""
        synced, kept_out = self._meeting(), self._meeting(o365_do_not_sync=True)
        self.assertTrue(synced._skip_send_mail_status_update())
        self.assertFalse(kept_out._skip_send_mail_status_update())

    def test_checkbox_is_on_the_three_forms(self):
        for model, view in (
            ("mail.activity", "mail.mail_activity_view_form_popup"),
            ("calendar.event", "calendar.view_calendar_event_form"),
            ("hr.leave", "hr_holidays.hr_leave_view_form"),
        ):
            arch = self.env[model].get_view(self.env.ref(view).id, "form")["arch"]
            self.assertIn('name="o365_do_not_sync"', arch, model)

    def test_outlook_edit_of_a_ticked_leave_does_not_keep_it(self):
        """A leave's Outlook edits are normally put back; ticked, its event is deleted."""
        leave = self._leave()
        self.o365_sync(self.dana)
        link = self.env["office365.link"].search([("res_id", "=", leave.id)])
        leave.with_user(self.manager).o365_do_not_sync = True
        self.dana_box.update_event(link.event_id, {"subject": "Edited in Outlook"})
        self.emulator.reset_counters()
        self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {})
        self.assertFalse([r for r in self.emulator.requests if r.method == "PATCH"])
