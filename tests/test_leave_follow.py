# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Leave events follow the people: the employee's new user, the leave type's new name."""

from datetime import timedelta

from odoo.tests import tagged

from ..services.batching import MAILBOX_CONCURRENCY
from .test_do_not_sync import Office365KindsCase


@tagged("post_install", "-at_install")
class TestLeaveFollow(Office365KindsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eric, cls.eric_box = cls._o365_user("follow_eric", options=("holidays",))
        cls.fay, cls.fay_box = cls._o365_user("follow_fay")  # connected, not syncing holidays

    def test_new_user_gets_the_leave_events_the_old_one_loses_them(self):
        first, second = self._leave(), self._leave(day=self.monday + timedelta(days=3))
        self.o365_sync(self.dana)
        refs = sorted(f"hr.leave,{leave.id}" for leave in (first, second))
        self.assertEqual(sorted(self._refs(self.dana_box)), refs)

        self.emulator.reset_counters()
        self.employee.user_id = self.eric
        self.assertEqual(self.emulator.counters["total"], 0, "no HTTP in the user's transaction")
        self.assertEqual(first.user_id, self.eric)
        self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {}, "gone from the old user's calendar")
        self.assertEqual(len(self._deletes()), 2)
        self.o365_sync(self.eric)
        events = self._refs(self.eric_box)
        self.assertEqual(sorted(events), refs, "shown in the new user's calendar")
        self.assertEqual(events[refs[0]]["showAs"], "oof")
        links = self.env["office365.link"].search([("res_model", "=", "hr.leave")])
        self.assertEqual(set(links.mapped("user_id")), {self.eric})
        self.assertEqual(set(links.mapped("state")), {"synced"})

    def test_new_user_without_sync_holidays_takes_them_out_of_outlook(self):
        leave = self._leave()
        self.o365_sync(self.dana)
        self.assertEqual(list(self._refs(self.dana_box)), [f"hr.leave,{leave.id}"])
        self.employee.user_id = self.fay
        self.o365_sync(self.dana)
        self.o365_sync(self.fay)
        self.assertEqual(self._refs(self.dana_box), {})
        self.assertEqual(self._refs(self.fay_box), {})
        self.assertFalse(self.env["office365.link"].search([("res_model", "=", "hr.leave")]))

    def test_employee_without_user_any_more(self):
        self._leave()
        self.o365_sync(self.dana)
        self.employee.user_id = False
        self.o365_sync(self.dana)
        self.assertEqual(self._refs(self.dana_box), {})

    def test_renaming_the_leave_type_updates_the_subjects_in_one_batch(self):
        leaves = self._leave() | self._leave(day=self.monday + timedelta(days=3))
        other_type = self.leave_type.create({"name": "Sick Time Off", "requires_allocation": "no"})
        other = self._leave(day=self.monday + timedelta(days=4), holiday_status_id=other_type.id)
        self.o365_sync(self.dana)
        subjects = {ref: ev["subject"] for ref, ev in self._refs(self.dana_box).items()}
        self.assertEqual(
            set(subjects.values()), {"Paid Time Off: Dentist", "Sick Time Off: Dentist"}
        )

        self.emulator.reset_counters()
        self.leave_type.name = "Vacation"
        links = self.env["office365.link"].search([("res_model", "=", "hr.leave")])
        by_leave = {link.res_id: link.state for link in links}
        self.assertEqual(by_leave, {**dict.fromkeys(leaves.ids, "pending"), other.id: "synced"})
        self.assertEqual(self.emulator.counters["total"], 0, "no HTTP in the user's transaction")
        self.o365_sync(self.dana)
        events = self._refs(self.dana_box)
        for leave in leaves:
            self.assertEqual(events[f"hr.leave,{leave.id}"]["subject"], "Vacation: Dentist")
        self.assertEqual(events[f"hr.leave,{other.id}"]["subject"], "Sick Time Off: Dentist")
        patches = [req for req in self.emulator.requests if req.method == "PATCH"]
        self.assertEqual(len(patches), 2, "one update per event of the renamed type")
        self.assertEqual(
            len(self._batches()),
            min(2, MAILBOX_CONCURRENCY),
            "in $batch requests (parallel chains, see services/batching.py)",
        )
