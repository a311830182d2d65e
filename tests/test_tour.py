# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The preferences tour in a real headless Chromium: connect through the sign-in page of the
Graph emulator, start and stop each option, see the status change."""

from unittest.mock import patch

from odoo.tests import new_test_user, tagged
from odoo.tests.common import ChromeBrowser

from .test_oauth import Office365HttpCase

_spawn_chrome = ChromeBrowser._spawn_chrome


def _spawn_chrome_trusting_emulator(self, cmd):
    # The emulator's certificate is self-signed (made at start); the browser must follow the
    # sign-in redirect through it as it would through login.microsoftonline.com.
    return _spawn_chrome(self, [cmd[0], "--ignore-certificate-errors", *cmd[1:]])


@tagged("post_install", "-at_install")
class TestPreferencesTour(Office365HttpCase):
    def test_preferences_tour(self):
        user = new_test_user(
            self.env,
            login="tour_user",
            email="tour.user@example.com",
            groups="base.group_user",
            name="Tour User",
            tz="Europe/Brussels",
        )
        self.emulator.add_mailbox("tour.user@example.com", display_name="Tour User")
        with patch.object(ChromeBrowser, "_spawn_chrome", _spawn_chrome_trusting_emulator):
            self.start_tour("/web", "office365_preferences_tour", login="tour_user", timeout=120)
        account = user._o365_account()
        self.assertEqual(account.state, "connected")
        self.assertEqual(account.email, "tour.user@example.com")
        self.assertTrue(account.token_cache)
        settings = user._o365_settings()
        for option in ("activities", "events", "holidays"):
            self.assertFalse(settings[f"o365_{option}_enabled"], option)
        # Each Start asked the sync job for a run.
        self.assertTrue(self.env["office365.sync.request"].sudo()._o365_pending(account)[0])

    def test_admin_lock_and_locked_preferences_tours(self):
        """The admin locks a default in Settings; the user sees it greyed and their sync log."""
        user, _mailbox = self._o365_user("tour_locked")
        self.env["office365.sync.log"].create(
            {"user_id": user.id, "option": "events", "created": 4}
        )
        self.start_tour("/web", "office365_admin_settings_tour", login="admin", timeout=120)
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("office365_calendar_sync.client_id"), "tour-client-id")
        self.assertEqual(
            params.get_param("office365_calendar_sync.default.o365_same_field_rule"), "odoo"
        )
        self.assertEqual(
            params.get_param("office365_calendar_sync.lock.o365_same_field_rule"), "True"
        )
        # Saving the settings kept the stored secret.
        self.assertTrue(params.get_param("office365_calendar_sync.client_secret"))
        self.start_tour("/web", "office365_locked_preferences_tour", login="tour_locked")
