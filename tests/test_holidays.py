# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sync holidays against the emulator: approved leaves in Outlook, refused ones gone."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from odoo import Command, fields
from odoo.addons.office365_calendar_sync.services import mapping
from odoo.addons.office365_calendar_sync.services.graph_client import EXTENDED_PROPERTY_ID
from odoo.addons.office365_calendar_sync.services.runstats import RunStats
from odoo.tests import new_test_user, tagged

from .common import Office365Case


@tagged("post_install", "-at_install")
class TestHolidays(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, mail_notrack=True))
        cls.manager = new_test_user(
            cls.env,
            login="o365_leave_manager",
            groups="base.group_user,hr_holidays.group_hr_holidays_manager",
        )
        cls.holly, cls.holly_box = cls._o365_user("o365_holly", options=("holidays",))
        cls.emp = cls.env["hr.employee"].create({"name": "Holly", "user_id": cls.holly.id})
        leave_type = cls.env["hr.leave.type"]
        common = {"requires_allocation": "no", "request_unit": "hour", "company_id": False}
        cls.type_hr = leave_type.create(
            {"name": "Paid Time Off", "leave_validation_type": "hr", **common}
        )
        cls.type_both = leave_type.create(
            {"name": "Unpaid", "leave_validation_type": "both", **common}
        )
        # The next Monday at least a week away: a working day, inside every window.
        today = fields.Date.today()
        cls.monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)

    def setUp(self):
        super().setUp()
        # The emulator lives for the class; the database rolls back after each test.
        for mailbox in self.emulator.mailboxes.values():
            with self.emulator.lock:
                mailbox.events.clear()
                mailbox.transactions.clear()
                mailbox.sync_states.clear()

    # ------------------------------------------------------------------
    def _leave(self, leave_type=None, first=None, last=None, employee=None, as_user=None, **vals):
        first = first or self.monday
        return (
            self.env["hr.leave"]
            .with_user(as_user or self.manager)
            .create(
                {
                    "name": "Summer holiday",
                    "employee_id": (employee or self.emp).id,
                    "holiday_status_id": (leave_type or self.type_hr).id,
                    "request_date_from": first,
                    "request_date_to": last or first,
                    **vals,
                }
            )
        )

    def _approved(self, **kw):
        leave = self._leave(**kw)
        leave.action_approve()
        self.assertEqual(leave.state, "validate")
        return leave

    def _move(self, leave, first, last):
        """New dates for an approved leave, as Odoo's own features do (public holidays...)."""
        leave = leave.with_context(leave_skip_state_check=True)
        leave.write({"request_date_from": first, "request_date_to": last})
        leave.flush_recordset(["date_from", "date_to"])

    def _events(self, mailbox):
        """Events of the mailbox as Graph shows them (UTC), by our Odoo reference."""
        out = {}
        for stored in self.o365_events(mailbox):
            event = mailbox.render(stored, expand_ext=True)
            ref = next(
                (
                    prop["value"]
                    for prop in event.get("singleValueExtendedProperties") or []
                    if prop["id"].lower() == EXTENDED_PROPERTY_ID.lower()
                ),
                None,
            )
            out[ref or event["id"]] = event
        return out

    def _only_event(self, mailbox, leave):
        events = self._events(mailbox)
        self.assertEqual(list(events), [f"hr.leave,{leave.id}"], "exactly the leave's event")
        return events[f"hr.leave,{leave.id}"]

    def _writes(self):
        """Event writes the emulator received since its counters were reset."""
        return [
            req
            for req in self.emulator.requests
            if req.method in ("POST", "PATCH", "DELETE") and "$batch" not in req.path
        ]

    def _log_lines(self, user, level=None):
        domain = [("user_id", "=", user.id), ("option", "=", "holidays")]
        if level:
            domain.append(("level", "=", level))
        return self.env["office365.sync.log.line"].sudo().search(domain)

    # ------------------------------------------------------------------
    def test_one_step_approval_creates_an_out_of_office_all_day_event(self):
        leave = self._leave(last=self.monday + timedelta(days=2))
        self.assertEqual(leave.state, "confirm")
        self.o365_sync(self.holly)
        self.assertFalse(list(self._events(self.holly_box)), "a leave to approve is not in Outlook")

        leave.action_approve()
        self.o365_sync(self.holly)
        event = self._only_event(self.holly_box, leave)
        values = mapping.graph_to_values(event)
        self.assertEqual(event["subject"], "Paid Time Off: Summer holiday")
        self.assertTrue(event["isAllDay"])
        self.assertEqual(event["showAs"], "oof")
        self.assertEqual(event["categories"], ["Odoo"])
        self.assertEqual(values["start"], self.monday.isoformat())
        self.assertEqual(values["end"], (self.monday + timedelta(days=3)).isoformat())
        link = self.env["office365.link"].search([("res_model", "=", "hr.leave")])
        self.assertEqual((link.res_id, link.state, link.user_id), (leave.id, "synced", self.holly))

        # A second run changes nothing (no restore loop, no duplicate).
        self.emulator.reset_counters()
        self.o365_sync(self.holly)
        self.assertEqual(len(self._events(self.holly_box)), 1)
        self.assertFalse(self._writes(), "nothing written to Outlook")

    def test_manager_and_automatic_approval_are_final_too(self):
        common = {"requires_allocation": "no", "company_id": False}
        by_manager = self.env["hr.leave.type"].create(
            {"name": "Training", "leave_validation_type": "manager", **common}
        )
        automatic = self.env["hr.leave.type"].create(
            {"name": "Remote", "leave_validation_type": "no_validation", **common}
        )
        self.emp.leave_manager_id = self.manager
        managed = self._approved(leave_type=by_manager)
        auto = self._leave(leave_type=automatic, first=self.monday + timedelta(days=1))
        self.assertEqual(auto.state, "validate", "approved on creation")
        self.o365_sync(self.holly)
        events = self._events(self.holly_box)
        self.assertEqual(
            {ref: ev["subject"] for ref, ev in events.items()},
            {
                f"hr.leave,{managed.id}": "Training: Summer holiday",
                f"hr.leave,{auto.id}": "Remote: Summer holiday",
            },
        )

    def test_two_step_approval_pushes_after_the_second_step_only(self):
        leave = self._leave(leave_type=self.type_both)
        leave.action_approve()
        self.assertEqual(leave.state, "validate1")
        self.o365_sync(self.holly)
        self.assertFalse(list(self._events(self.holly_box)), "first approval: not in Outlook")
        leave.action_validate()
        self.assertEqual(leave.state, "validate")
        self.o365_sync(self.holly)
        self.assertEqual(
            self._only_event(self.holly_box, leave)["subject"], "Unpaid: Summer holiday"
        )

    def test_refusal_deletes_the_event(self):
        leave = self._approved()
        other = self._approved(first=self.monday + timedelta(days=14))
        self.o365_sync(self.holly)
        self.assertEqual(len(self._events(self.holly_box)), 2)
        leave.action_refuse()
        self.o365_sync(self.holly)
        self.assertEqual(list(self._events(self.holly_box)), [f"hr.leave,{other.id}"])
        self.assertFalse(
            self.env["office365.link"].search(
                [("res_model", "=", "hr.leave"), ("res_id", "=", leave.id)]
            ),
            "the link of the refused leave is gone once Outlook deleted the event",
        )

    def test_cancel_reset_and_approve_again(self):
        leave = self._approved()
        self.o365_sync(self.holly)
        self._only_event(self.holly_box, leave)
        leave._force_cancel("plans changed", notify_responsibles=False)
        self.assertEqual(leave.state, "cancel")
        self.o365_sync(self.holly)
        self.assertFalse(list(self._events(self.holly_box)), "cancelled: deleted in Outlook")

        leave.action_reset_confirm()
        self.assertEqual(leave.state, "confirm")
        self.o365_sync(self.holly)
        self.assertFalse(
            list(self._events(self.holly_box)), "reset to approve: still not in Outlook"
        )
        leave.action_approve()
        self.o365_sync(self.holly)
        self._only_event(self.holly_box, leave)

        # An approved leave put back to "To Approve" leaves Outlook as well.
        leave.write({"state": "confirm"})
        self.o365_sync(self.holly)
        self.assertFalse(list(self._events(self.holly_box)))

    def test_date_change_moves_the_event(self):
        leave = self._approved()
        self.o365_sync(self.holly)
        first_id = self._only_event(self.holly_box, leave)["id"]
        new_first = self.monday + timedelta(days=7)
        self._move(leave, new_first, new_first + timedelta(days=1))
        self.o365_sync(self.holly)
        event = self._only_event(self.holly_box, leave)
        self.assertEqual(event["id"], first_id, "the same event moves (PATCH, not a new event)")
        values = mapping.graph_to_values(event)
        self.assertEqual(
            (values["start"], values["end"]),
            (new_first.isoformat(), (new_first + timedelta(days=2)).isoformat()),
        )

    def test_half_day_and_hours_are_timed_events(self):
        half = self._approved(request_unit_half=True, request_date_from_period="pm")
        hours = self._approved(
            first=self.monday + timedelta(days=1),
            request_unit_hours=True,
            request_hour_from=9,
            request_hour_to=12,
        )
        self.o365_sync(self.holly)
        events = self._events(self.holly_box)
        for leave in half | hours:
            event = events[f"hr.leave,{leave.id}"]
            values = mapping.graph_to_values(event)
            self.assertFalse(event["isAllDay"])
            self.assertEqual(event["showAs"], "oof")
            self.assertEqual(values["start"], mapping.utc_iso(leave.date_from))
            self.assertEqual(values["end"], mapping.utc_iso(leave.date_to))
        # 12:00 in the employee's zone (Brussels) that day, in UTC: 11:00 in winter, 10:00 in
        # summer.
        zone = hours.employee_id.tz
        self.assertEqual(zone, "Europe/Brussels")
        noon = datetime.combine(hours.request_date_from, time(12, 0), tzinfo=ZoneInfo(zone))
        self.assertEqual(values["end"][11:], noon.astimezone(timezone.utc).strftime("%H:%M:%S"))

    def test_start_backfills_approved_future_leaves_and_stop_stops_traffic(self):
        ivy, ivy_box = self._o365_user("o365_ivy")
        emp = self.env["hr.employee"].create({"name": "Ivy", "user_id": ivy.id})
        future = self._approved(employee=emp)
        waiting = self._leave(employee=emp, first=self.monday + timedelta(days=7))
        # Mondays, whatever today is: a leave on a day off cannot be approved.
        past = self._leave(employee=emp, first=self.monday - timedelta(weeks=3))
        past.action_approve()
        far = self._approved(employee=emp, first=self.monday + timedelta(weeks=72))
        self.assertEqual(
            (waiting.state, past.state, far.state), ("confirm", "validate", "validate")
        )
        self.assertFalse(
            self.env["office365.link"].search([("user_id", "=", ivy.id)]),
            "nothing is queued before Start",
        )

        ivy._o365_start("holidays")
        self.o365_sync(ivy)
        self.assertEqual(
            list(self._events(ivy_box)),
            [f"hr.leave,{future.id}"],
            "only the approved future leave inside the window",
        )

        ivy._o365_stop("holidays")
        future.action_refuse()
        waiting.action_approve()
        self.assertFalse(
            self.env["office365.link"].search(
                [("user_id", "=", ivy.id), ("state", "in", ("pending", "to_delete"))]
            ),
            "stopped: nothing queued",
        )
        self.emulator.reset_counters()
        self.o365_sync(ivy)
        self.assertFalse(self._writes(), "stopped: no traffic")
        self.assertEqual(list(self._events(ivy_box)), [f"hr.leave,{future.id}"])

        # Starting again brings Outlook up to date with what happened meanwhile.
        ivy._o365_start("holidays")
        self.o365_sync(ivy)
        self.assertEqual(list(self._events(ivy_box)), [f"hr.leave,{waiting.id}"])

    def test_outlook_edits_are_restored_and_logged(self):
        leave = self._approved()
        self.o365_sync(self.holly)
        event = self._only_event(self.holly_box, leave)
        later = (self.monday + timedelta(days=3)).isoformat()
        self.holly_box.update_event(
            event["id"],
            {
                "subject": "Beach!",
                "showAs": "free",
                "location": {"displayName": "X"},
                "start": {"dateTime": f"{later}T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"{later}T10:00:00", "timeZone": "UTC"},
                "isAllDay": False,
            },
        )
        self.o365_sync(self.holly)
        event = self._only_event(self.holly_box, leave)
        values = mapping.graph_to_values(event)
        self.assertEqual(event["subject"], "Paid Time Off: Summer holiday")
        self.assertEqual(event["showAs"], "oof")
        self.assertTrue(event["isAllDay"])
        self.assertEqual(
            (values["start"], values["end"]),
            (self.monday.isoformat(), (self.monday + timedelta(days=1)).isoformat()),
        )
        self.assertEqual(leave.private_name, "Summer holiday", "the leave is not changed")
        self.assertEqual((leave.request_date_from, leave.request_date_to), (self.monday,) * 2)
        self.assertEqual(leave.state, "validate")
        line = self._log_lines(self.holly, "info").filtered(
            lambda ln: ln.res_id == leave.id and "restored from Odoo" in ln.message
        )
        self.assertEqual(len(line), 1, "the restore is logged")
        for name in ("subject", "show_as", "start", "end", "all_day"):
            self.assertIn(name, line.message)
        # The restore does not bounce: the next runs write nothing.
        self.emulator.reset_counters()
        self.o365_sync(self.holly)
        self.o365_sync(self.holly)
        self.assertFalse(self._writes())

    def test_outlook_deletion_recreates_the_event(self):
        leave = self._approved()
        self.o365_sync(self.holly)
        event = self._only_event(self.holly_box, leave)
        link = self.env["office365.link"].search([("res_id", "=", leave.id)])
        self.o365_sync(self.holly)  # a later run reads the event back (our own write: no-op)
        self.holly_box.delete_event(event["id"])
        self.o365_sync(self.holly)
        again = self._only_event(self.holly_box, leave)
        self.assertNotEqual(again["id"], event["id"])
        self.assertEqual(again["subject"], "Paid Time Off: Summer holiday")
        self.assertEqual((link.state, link.generation, link.event_id), ("synced", 1, again["id"]))
        self.assertTrue(
            self._log_lines(self.holly, "info").filtered(
                lambda ln: ln.res_id == leave.id and "created again" in ln.message
            )
        )

    def test_outlook_deletion_is_final_when_creating_in_outlook_is_prevented(self):
        leave = self._approved()
        self.o365_sync(self.holly)
        self.o365_sync(self.holly)
        event = self._only_event(self.holly_box, leave)
        self.holly._o365_settings().write({"o365_prevent_outlook_create": True})
        self.holly_box.delete_event(event["id"])
        self.o365_sync(self.holly)
        self.assertFalse(list(self._events(self.holly_box)))
        link = self.env["office365.link"].search([("res_id", "=", leave.id)])
        self.assertEqual((link.state, link.event_id), ("detached", False))
        self.assertTrue(
            self._log_lines(self.holly, "warning").filtered(
                lambda ln: ln.res_id == leave.id and "prevented" in ln.message
            )
        )

    def test_update_of_an_event_gone_from_outlook_is_logged_and_recreated(self):
        leave = self._approved()
        other = self._approved(first=self.monday + timedelta(days=14))
        self.o365_sync(self.holly)
        events = self._events(self.holly_box)
        self.holly_box.delete_event(events[f"hr.leave,{leave.id}"]["id"])
        self._move(leave, self.monday, self.monday + timedelta(days=1))
        self._move(other, other.request_date_from, other.request_date_from + timedelta(days=1))
        # Push only (no pull): the PATCH meets the 404 itself.
        account = self.holly._o365_account()
        stats = RunStats()
        self.env["office365.link"]._o365_push(
            account, account._o365_graph_client(), stats, {"holidays"}
        )
        self.assertEqual(stats.counts["holidays"]["updated"], 1)
        gone = [item for item in stats.items if item.res_id == leave.id]
        self.assertEqual(len(gone), 1)
        self.assertIn("deleted in Outlook", gone[0].message)
        events = self._events(self.holly_box)
        self.assertEqual(list(events), [f"hr.leave,{other.id}"], "the other leave moved on")
        self.assertEqual(
            mapping.graph_to_values(events[f"hr.leave,{other.id}"])["end"],
            (other.request_date_to + timedelta(days=1)).isoformat(),
        )
        self.o365_sync(self.holly)
        self.assertEqual(len(self._events(self.holly_box)), 2, "the next sync recreates it")

    def test_no_double_event_for_the_leave_meeting(self):
        """A leave type that creates an Odoo meeting still gives one Outlook event."""
        self.assertTrue(self.type_hr.create_calendar_meeting)
        self.holly._o365_settings().write({"o365_activities_enabled": True})
        leave = self._approved()
        meeting = leave.meeting_id
        self.assertTrue(meeting, "Odoo created its own meeting for the leave")
        self.assertEqual((meeting.res_model, meeting.res_id), ("hr.leave", leave.id))
        self.assertEqual(self.env["hr.leave"]._o365_leave_meeting_ids(meeting), {meeting.id})
        other_meeting = self.env["calendar.event"].create(
            {
                "name": "Team lunch",
                "start": fields.Datetime.now(),
                "stop": fields.Datetime.now() + timedelta(hours=1),
            }
        )
        found = self.env["hr.leave"]._o365_leave_meeting_ids(meeting | other_meeting)
        self.assertEqual(found, {meeting.id})
        # Also recognised by meeting_id alone (an event linked to the leave afterwards).
        linked_later = other_meeting.copy({"res_model_id": False, "res_id": False})
        self.env["hr.leave"].browse(leave.id).sudo().meeting_id = linked_later
        self.assertEqual(
            self.env["hr.leave"]._o365_leave_meeting_ids(linked_later), {linked_later.id}
        )
        self.env["hr.leave"].browse(leave.id).sudo().meeting_id = meeting

        calendar_event = self.env["calendar.event"]
        if hasattr(calendar_event, "_o365_targets"):
            # The meetings sync honours the rule.
            self.assertFalse(meeting._o365_targets().get(meeting.id))
        self.o365_sync(self.holly)
        events = self._events(self.holly_box)
        self.assertEqual(list(events), [f"hr.leave,{leave.id}"], "one event: the leave's")
        self.assertFalse(
            self.env["office365.link"].search(
                [("res_model", "=", "calendar.event"), ("res_id", "=", meeting.id)]
            )
        )

    def test_bad_input_is_logged_and_the_rest_goes_on(self):
        # Employee without a user: no mailbox, a clear server log line.
        nobody = self.env["hr.employee"].create({"name": "No User"})
        with self.assertLogs(
            "odoo.addons.office365_calendar_sync.models.hr_leave", "WARNING"
        ) as logs:
            orphan = self._approved(employee=nobody)
        self.assertIn(
            f"WARNING:odoo.addons.office365_calendar_sync.models.hr_leave:Leave {orphan.id} is "
            f"approved but employee {nobody.id} has no user: no Outlook calendar to show it in.",
            logs.output,
        )

        # Leave type without a name in the user's language: another language is shown, logged.
        self.env["res.lang"]._activate_lang("fr_FR")
        self.holly.lang = "fr_FR"
        named = self._approved()
        # Leave in a company the user has no access to: a clear error for that leave only.
        other_company = self.env["res.company"].create({"name": "Other Co"})
        self.holly.company_ids = [Command.link(other_company.id)]
        emp_other = self.env["hr.employee"].create(
            {"name": "Holly abroad", "user_id": self.holly.id, "company_id": other_company.id}
        )
        foreign = self._approved(
            employee=emp_other, first=self.monday + timedelta(days=21), as_user=self.env.user
        )
        self.holly.company_ids = [Command.unlink(other_company.id)]

        self.o365_sync(self.holly)
        self.assertEqual(
            self._only_event(self.holly_box, named)["subject"], "Paid Time Off: Summer holiday"
        )
        infos = self._log_lines(self.holly, "info")
        self.assertTrue(
            infos.filtered(
                lambda ln: (
                    ln.res_model == "hr.leave.type"
                    and ln.res_id == self.type_hr.id
                    and "no name in fr_FR" in ln.message
                    and "en_US" in ln.message
                )
            )
        )
        error = self._log_lines(self.holly, "error").filtered(lambda ln: ln.res_id == foreign.id)
        self.assertEqual(len(error), 1)
        self.assertIn("company 'Other Co'", error.message)
        link = self.env["office365.link"].search([("res_id", "=", foreign.id)])
        self.assertEqual(link.state, "error")
