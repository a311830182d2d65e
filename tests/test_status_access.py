# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A user's Office 365 status, buttons and locked settings, attacked through JSON-RPC by other
users: status fields (last error, items synced, connected mailbox) are computed for the user
themself and administrators only; another user's buttons and locked settings are refused."""

import json

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import PARAM, rpc_call
from .test_oauth import Office365HttpCase

OPTIONS = ("activities", "events", "holidays")
STATUS = [
    f"o365_{option}_{key}"
    for option in OPTIONS
    for key in ("last_run", "next_run", "items", "last_error")
] + ["o365_account_email", "o365_account_state"]
ACCOUNT_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_account"


@tagged("post_install", "-at_install")
class TestStatusAccess(Office365HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Status company B"})
        cls.alice, _box = cls._o365_user("st_alice", options=("events",))
        cls.bob, cls.bob_box = cls._o365_user("st_bob", options=("events", "holidays"))
        cls.carl, _box = cls._o365_user(
            "st_carl",
            options=("events",),
            groups="base.group_user",
        )
        cls.carl.write({"company_ids": [(4, cls.company_b.id)], "company_id": cls.company_b.id})
        cls.carl.write({"company_ids": [(3, cls.env.company.id)]})
        cls.user_b = new_test_user(
            cls.env,
            login="st_user_b",
            groups="base.group_user",
            company_id=cls.company_b.id,
            company_ids=[(6, 0, cls.company_b.ids)],
        )
        for user in (cls.alice, cls.bob, cls.carl):
            user._o365_account()._o365_sync()
        # Bob's and Carl's grants are revoked: their status holds Graph's error text.
        for user in (cls.bob, cls.carl):
            cls.emulator.faults.add("revoke_refresh", mailbox=user.email)
            cls.emulator.faults.add("expire_access", mailbox=user.email)
            with mute_logger(ACCOUNT_LOGGER):
                user._o365_account()._o365_sync()

    _rpc = rpc_call

    def _leaks(self, rows):
        """Status values that say something (anything but empty / zero / not connected)."""
        return {
            (row["id"], name): row[name]
            for row in rows
            for name in STATUS
            if name in row and row[name] not in (False, 0, "disconnected")
        }

    # ------------------------------------------------------------------
    def test_own_status_and_administrators(self):
        self.assertTrue(self.bob.o365_events_last_error)  # the set-up did fail
        self.authenticate("st_bob", "st_bob")
        answer = self._rpc("res.users", "read", [[self.bob.id], STATUS])
        row = answer["result"][0]
        self.assertIn("invalid_grant", row["o365_events_last_error"])
        self.assertEqual(row["o365_account_email"], self.bob.email)
        self.authenticate("admin", "admin")
        answer = self._rpc("res.users", "read", [[self.bob.id, self.carl.id], STATUS])
        self.assertGreater(len(self._leaks(answer["result"])), 4, answer)
        self.assertTrue(all(row["o365_events_last_error"] for row in answer["result"]))

    def test_plain_user_reads_nothing_of_anothers_status(self):
        self.authenticate("st_alice", "st_alice")
        for method, args, kwargs in (
            ("read", [[self.bob.id], STATUS], {}),
            ("search_read", [[("id", "in", [self.bob.id, self.carl.id])]], {"fields": STATUS}),
            (
                "web_read",
                [[self.bob.id]],
                {"specification": {name: {} for name in STATUS}},
            ),
        ):
            with mute_logger("odoo.http"):
                answer = self._rpc("res.users", method, args, kwargs)
            self.assertFalse(self._leaks(answer.get("result") or []), (method, answer))
            self.assertNotIn("invalid_grant", json.dumps(answer))
        # Her own status is still hers to read, in the same request as another's.
        answer = self._rpc("res.users", "read", [[self.alice.id, self.bob.id], STATUS])
        rows = {row["id"]: row for row in answer["result"]}
        self.assertEqual(rows[self.alice.id]["o365_account_state"], "connected")
        self.assertEqual(rows[self.bob.id]["o365_account_state"], "disconnected")
        self.assertFalse(rows[self.bob.id]["o365_events_last_error"])

    def test_plain_user_reads_nothing_of_anothers_preferences(self):
        self.bob._o365_settings().write(
            {"o365_include_categories": "Board, Acquisitions", "o365_include_private": True}
        )
        fields = ["o365_include_categories", "o365_include_private", "o365_calendar_choice_id"]
        self.authenticate("st_alice", "st_alice")
        answer = self._rpc("res.users", "read", [[self.bob.id], fields])
        row = answer["result"][0]
        self.assertFalse(row["o365_include_categories"] or row["o365_include_private"], row)
        self.authenticate("st_bob", "st_bob")
        answer = self._rpc("res.users", "read", [[self.bob.id], fields])
        self.assertEqual(answer["result"][0]["o365_include_categories"], "Board, Acquisitions")

    def test_other_company_user_reads_nothing(self):
        self.authenticate("st_user_b", "st_user_b")
        for user in (self.carl, self.bob):
            with mute_logger("odoo.http"):
                answer = self._rpc("res.users", "read", [[user.id], STATUS])
            self.assertFalse(self._leaks(answer.get("result") or []), answer)
            self.assertNotIn("invalid_grant", json.dumps(answer))
            self.assertNotIn("AADSTS", json.dumps(answer))

    def test_buttons_on_another_user_are_refused(self):
        self.authenticate("st_alice", "st_alice")
        context = {"context": {"office365_calendar_sync_option": "events"}}
        for method in (
            "action_o365_start",
            "action_o365_stop",
            "action_o365_sync_now",
            "action_o365_connect",
            "action_o365_disconnect",
            "action_o365_load_calendars",
            "action_o365_open_preferences",
        ):
            with mute_logger("odoo.http"):
                answer = self._rpc("res.users", method, [[self.bob.id]], context)
            self.assertIn("error", answer, method)
        settings = self.bob._o365_settings()
        self.assertTrue(settings.o365_events_enabled and settings.o365_holidays_enabled)
        self.assertEqual(self.bob._o365_account().email, self.bob.email)

    def test_locked_setting_refused_through_rpc(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(f"{PARAM}lock.o365_past_days", "True")
        params.set_param(f"{PARAM}default.o365_past_days", "7")
        self.authenticate("st_alice", "st_alice")
        settings = self.alice._o365_settings()
        for model, ids in (("res.users", [self.alice.id]), ("res.users.settings", settings.ids)):
            with mute_logger("odoo.http"):
                answer = self._rpc(model, "write", [ids, {"o365_past_days": 365}])
            self.assertIn("error", answer, model)
        settings.invalidate_recordset()
        self.assertEqual(settings._o365_effective("o365_past_days"), 7)
        self.assertNotEqual(settings.o365_past_days, 365)
