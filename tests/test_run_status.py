# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a user's status says after runs: every run counts (quiet ones too), an old error goes
once a run succeeds; a wrong application setting pauses everyone without losing a sign-in, is
named by Test connection, and fixing it resumes the sync with the stored tokens."""

from datetime import timedelta

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..services.runstats import RunStats
from ..tools.emulator_setup import CLIENT_ID, connect_mailbox
from .common import rpc_call
from .test_oauth import Office365HttpCase

ACCOUNT_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_account"
STATUS = ["o365_events_last_run", "o365_events_last_error", "o365_account_state"]
PAUSED = "Paused: the application's settings are wrong, your administrator is told."


@tagged("post_install", "-at_install")
class TestRunStatus(Office365HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Log = cls.env["office365.sync.log"].sudo()

    def setUp(self):
        super().setUp()
        # The emulator outlives each test's rollback: fresh mailboxes and sign-ins per test.
        name = self._testMethodName.removeprefix("test_")[:12]
        self.ann, _box = self._o365_user(f"rs_ann_{name}", options=("events",))
        self.ben, _box = self._o365_user(f"rs_ben_{name}", options=("events",))

    _rpc = rpc_call

    def _status(self, user):
        """The status fields of ``user``'s preferences form, read as that user over RPC."""
        self.authenticate(user.login, user.login)
        return self._rpc("res.users", "read", [[user.id], STATUS])["result"][0]

    def _test_connection(self, **values):
        """Settings saved with ``values`` and tested, as the administrator over RPC."""
        self.authenticate("admin", "admin")
        settings_id = self._rpc("res.config.settings", "create", [values])["result"]
        answer = self._rpc("res.config.settings", "action_o365_test_connection", [[settings_id]])
        return answer["result"]["params"]

    def _logs(self, user):
        return self.Log.search([("user_id", "=", user.id), ("option", "=", "events")])

    # ------------------------------------------------------------------
    def test_quiet_runs_move_last_run_and_clear_an_old_error(self):
        self.o365_sync(self.ann)
        self.emulator.faults.add("revoke_refresh", mailbox=self.ann.email)
        self.emulator.faults.add("expire_access", mailbox=self.ann.email)
        with mute_logger(ACCOUNT_LOGGER):
            self.o365_sync(self.ann)
        account = self.ann._o365_account()
        self.assertEqual(account.state, "reconnect")
        failed = self._logs(self.ann)[:1]
        self.assertIn("invalid_grant", failed.message)
        # An hour later the user signs in again; two runs change nothing.
        for log in self._logs(self.ann):
            log.write({"start": log.start - timedelta(hours=1)})
        connect_mailbox(self.emulator, self.ann, self.ann.email)
        self.o365_sync(self.ann)
        self.o365_sync(self.ann)
        quiet = self._logs(self.ann)[:1]
        self.assertNotEqual(quiet, failed)
        self.assertFalse(quiet.changed)
        self.assertEqual(quiet.run_count, 2, "runs without changes share one line")
        self.assertGreater(quiet.start, failed.start)
        status = self._status(self.ann)
        self.assertEqual(status["o365_account_state"], "connected")
        self.assertFalse(status["o365_events_last_error"], status)
        self.assertEqual(status["o365_events_last_run"], str(quiet.start))
        # The log opens on runs with changes or problems: the failed run, not the quiet one.
        action = self.env.ref("office365_calendar_sync.office365_sync_log_action")
        self.assertIn("search_default_with_changes", action.context)
        shown = self.Log.search([("user_id", "=", self.ann.id), ("changed", "=", True)])
        self.assertIn(failed, shown)
        self.assertNotIn(quiet, shown)
        self.assertNotIn("one line per option", str(action.help))
        # A run with a change gets its own line; the next quiet run starts a new shared line.
        self.env["office365.sync.log"]._o365_record(
            self.ann, self._stats(created=1), quiet.start, 0.1
        )
        self.o365_sync(self.ann)
        newest = self._logs(self.ann)[:3]
        self.assertEqual(newest.mapped("changed"), [False, True, False])
        self.assertEqual(newest.mapped("run_count"), [1, 1, 2])

    def _stats(self, **counts):
        stats = RunStats()
        for what, n in counts.items():
            stats.count("events", what, n)
        return stats

    def test_wrong_client_id_pauses_then_resumes_without_sign_in(self):
        self.o365_sync(self.ann)
        self.o365_sync(self.ben)
        accounts = self.ann._o365_account() | self.ben._o365_account()
        caches = {account.id: account.sudo().token_cache for account in accounts}
        notice = self._test_connection(o365_client_id="11111111-2222-3333-4444-55555555555X")
        self.assertEqual(notice["type"], "danger")
        self.assertEqual(notice["title"], "Application (client) ID is wrong")
        self.assertIn("AADSTS700016", notice["message"])
        # The typo is saved: the next runs pause every account, tokens untouched.
        accounts.write({"next_sync_at": False})
        with mute_logger(ACCOUNT_LOGGER):
            self.env["office365.account"]._cron_sync()
        accounts.invalidate_recordset()
        self.assertEqual(set(accounts.mapped("state")), {"connected"})
        self.assertTrue(all(accounts.mapped("paused_reason")))
        self.assertEqual({a.id: a.sudo().token_cache for a in accounts}, caches)
        status = self._status(self.ben)
        self.assertTrue(status["o365_events_last_error"].startswith(PAUSED), status)
        self.assertIn("Application (client) ID", status["o365_events_last_error"])
        self.assertNotIn("Reconnect", status["o365_events_last_error"])
        told = self.env["mail.message"].search(
            [("subject", "=", "Office 365 calendar sync paused: application settings refused")]
        )
        self.assertEqual(len(told), 1, "the administrators are told once, not per account")
        self.assertIn(self.env.ref("base.user_admin").partner_id, told.notified_partner_ids)
        # Paused: a "Sync Now" does not make the account due before its rare retry.
        accounts._o365_request_sync()
        self.assertEqual(self.env["office365.account"]._o365_count_due(), 0)
        # The administrator fixes the id: Test connection says so, the accounts resume.
        notice = self._test_connection(o365_client_id=CLIENT_ID)
        self.assertEqual(notice["type"], "success", notice)
        self.assertIn("2 paused account(s) resume now", notice["message"])
        self.env["office365.account"]._cron_sync()
        accounts.invalidate_recordset()
        self.assertFalse(any(accounts.mapped("paused_reason")))
        self.assertFalse(any(accounts.mapped("last_error")))
        for user in (self.ann, self.ben):
            status = self._status(user)
            self.assertEqual(status["o365_account_state"], "connected")
            self.assertFalse(status["o365_events_last_error"], status)

    def test_test_connection_names_the_tenant_and_the_secret(self):
        notice = self._test_connection(o365_tenant="00000000-0000-0000-0000-000000000000")
        self.assertEqual(notice["title"], "Tenant is wrong")
        self.assertIn("AADSTS90002", notice["message"])
        tenant = self.emulator.tenant_id
        notice = self._test_connection(o365_tenant=tenant, o365_client_secret="typo")
        self.assertEqual(notice["title"], "Client secret is wrong")
        self.assertIn("AADSTS7000215", notice["message"])

    def test_revoked_consent_still_says_reconnect(self):
        self.o365_sync(self.ben)
        self.emulator.faults.add("revoke_refresh", mailbox=self.ben.email)
        self.emulator.faults.add("expire_access", mailbox=self.ben.email)
        with mute_logger(ACCOUNT_LOGGER):
            self.o365_sync(self.ben)
        account = self.ben._o365_account()
        self.assertEqual(account.state, "reconnect")
        self.assertFalse(account.paused_reason)
        status = self._status(self.ben)
        self.assertEqual(status["o365_account_state"], "reconnect")
        self.assertIn("AADSTS50173", status["o365_events_last_error"])

    def test_test_connection_is_refused_to_users(self):
        self.authenticate("admin", "admin")
        settings_id = self._rpc("res.config.settings", "create", [{}])["result"]
        self.authenticate(self.ann.login, self.ann.login)
        with mute_logger("odoo.http"):
            created = self._rpc("res.config.settings", "create", [{"o365_client_id": "x"}])
            tested = self._rpc(
                "res.config.settings", "action_o365_test_connection", [[settings_id]]
            )
        self.assertIn("error", created)
        self.assertIn("error", tested)
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param("office365_calendar_sync.client_id"),
            CLIENT_ID,
        )
