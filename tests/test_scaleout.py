# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Several cron workers on the same users, each with its own database connection.

These tests commit on cursors of their own (a TransactionCase's cursor cannot show uncommitted
rows to another connection), so the data they create is removed again at the end.
"""

import logging
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.addons.office365_calendar_sync.models.office365_account import CTX_COMMIT
from odoo.addons.office365_calendar_sync.services.pacing import slot_keys
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import Office365Case

_logger = logging.getLogger(__name__)

USERS = 8
# SQL queries per user of a no-change cycle (the claim, the run, its log; the cycle's own
# queries spread over its users).
QUIET_QUERIES = 12  # measured 10.4 (8 users); the bench target is 15


@tagged("post_install", "-at_install")
class TestScaleOut(Office365Case):
    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        self.user_ids = []
        # The workers' connections cannot see the test transaction's configuration (and must
        # not wait on its row locks): they get the same values from the config method.
        config = self.env["office365.account"]._o365_config()
        account_class = type(self.env["office365.account"])
        patcher = patch.object(account_class, "_o365_config", lambda _self: dict(config))
        patcher.start()
        self.addCleanup(patcher.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            for index in range(USERS):
                login = f"scale_{self.tag}_{index}"
                user = new_test_user(env, login=login, email=f"{login}@example.com", name=login)
                self.emulator.add_mailbox(user.email, display_name=login)
                self._o365_connect(user, user.email)
                user._o365_settings().write({"o365_activities_enabled": True})
                self.user_ids.append(user.id)
        self.addCleanup(self._cleanup)
        self.registry.clear_cache()

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            accounts = env["office365.account"].search([("user_id", "in", self.user_ids)])
            env["office365.sync.log"].search([("user_id", "in", self.user_ids)]).unlink()
            env["office365.link"].search([("user_id", "in", self.user_ids)]).unlink()
            env["office365.subscription"].search([("account_id", "in", accounts.ids)]).unlink()
            env["res.users.settings"].search([("user_id", "in", self.user_ids)]).write(
                {"o365_activities_enabled": False}
            )
            accounts.unlink()
            users = env["res.users"].browse(self.user_ids)
            try:
                with cr.savepoint(), mute_logger("odoo.sql_db"):
                    partners = users.partner_id
                    users.unlink()
                    partners.unlink()
            except Exception:  # referenced elsewhere: keep them, inactive
                users.write({"active": False})
        self.registry.clear_cache()

    def _env(self, cr, context=None):
        """An environment on ``cr`` usable from any thread: the registry is given, not looked
        up (the lookup waits for the registry lock, held while the tests run)."""
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, context or {})

    def _accounts(self, env):
        return env["office365.account"].search([("user_id", "in", self.user_ids)])

    def _run_worker(self, name, results, barrier=None):
        """One cron worker: its own connection, committing per account like the real cron."""
        try:
            with self.registry.cursor() as cr:
                env = self._env(cr, {CTX_COMMIT: True})
                if barrier:
                    barrier.wait(timeout=10)
                results[name] = env["office365.account"]._cron_sync()
        except Exception as exc:  # reported by the test thread
            results[name] = exc

    def _recording_sync(self, log, overlaps, delay=0.15):
        original = type(self.env["office365.account"])._o365_sync
        running = set()
        guard = threading.Lock()

        def sync(account, options=None):
            with guard:
                if account.id in running:
                    overlaps.append(account.id)
                running.add(account.id)
                log.append((threading.current_thread().name, account.id))
            try:
                time.sleep(delay)  # keep the row locked while the other worker claims
                return original(account, options)
            finally:
                with guard:
                    running.discard(account.id)

        return patch.object(type(self.env["office365.account"]), "_o365_sync", sync)

    # ------------------------------------------------------------------
    def test_two_concurrent_workers_share_users_without_syncing_one_twice(self):
        log, overlaps, results = [], [], {}
        barrier = threading.Barrier(2)
        with self._recording_sync(log, overlaps):
            threads = [
                threading.Thread(target=self._run_worker, args=(name, results, barrier), name=name)
                for name in ("worker-a", "worker-b")
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        for name in ("worker-a", "worker-b"):
            self.assertNotIsInstance(results.get(name), Exception, results.get(name))
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            accounts = self._accounts(env)
            synced = [account_id for _worker, account_id in log if account_id in accounts.ids]
            self.assertEqual(sorted(synced), sorted(accounts.ids), "each user synced exactly once")
            self.assertFalse(overlaps)
            workers = {worker for worker, account_id in log if account_id in accounts.ids}
            self.assertEqual(workers, {"worker-a", "worker-b"}, "both workers took users")
            self.assertTrue(all(accounts.mapped("last_sync_at")))
            self.assertTrue(all(a.next_sync_at > fields.Datetime.now() for a in accounts))
        self.assertEqual(sum(results.values()), len(synced))

    def test_a_no_change_cycle_costs_one_request_and_few_queries_per_user(self):
        """A quiet tenant (every user due for its periodic poll, nothing changed anywhere):
        one Graph request (the delta read) and at most QUIET_QUERIES SQL queries per user.
        Counted, not timed: every statement the cron worker's thread sends."""
        results = {}
        self._run_worker("first", results)  # first delta rounds, categories: not measured
        self.assertNotIsInstance(results["first"], Exception, results["first"])
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            accounts = self._accounts(env)
            accounts.write({"next_sync_at": fields.Datetime.now() - timedelta(minutes=1)})
            self.assertFalse(
                env["office365.link"].search_count(
                    [("user_id", "in", self.user_ids), ("state", "in", ("pending", "to_delete"))]
                )
            )
        statements = []
        cursor_class = type(self.env.cr)
        execute = cursor_class.execute

        def recording_execute(cr, query, params=None, log_exceptions=True):
            if threading.current_thread().name == "quiet":
                statements.append(str(query.code if hasattr(query, "code") else query))
            return execute(cr, query, params, log_exceptions)

        requests0 = self.emulator.counters["total"]
        with patch.object(cursor_class, "execute", recording_execute):
            worker = threading.Thread(
                target=self._run_worker, args=("quiet", results), name="quiet"
            )
            worker.start()
            worker.join(timeout=120)
        self.assertNotIsInstance(results["quiet"], Exception, results["quiet"])
        self.assertGreaterEqual(results["quiet"], USERS)
        self.assertEqual(self.emulator.counters["total"] - requests0, results["quiet"])
        per_user = len(statements) / results["quiet"]
        _logger.info("No-change cycle: %d queries for %d users", len(statements), results["quiet"])
        counts = Counter(" ".join(text.split())[:160] for text in statements)
        listing = "\n".join(f"{n:3d} {text}" for text, n in counts.most_common())
        self.assertLessEqual(
            per_user,
            QUIET_QUERIES,
            f"{len(statements)} queries for {results['quiet']} users:\n{listing}",
        )
        # Nobody asked for these polls and they did nothing: no message to the users' pages.
        self.assertFalse([text for text in statements if "bus_bus" in text], listing)
        # What the claim said (nothing queued) was true of that cycle only: a phone call planned
        # since goes out in the next one, with the user's own run only.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            user = env["res.users"].browse(self.user_ids[0])
            email = user.email
            env["mail.activity"].create(
                {
                    "res_model_id": env["ir.model"]._get_id("res.partner"),
                    "res_id": user.partner_id.id,
                    "activity_type_id": env.ref("mail.mail_activity_data_call").id,
                    "summary": "Call after the quiet cycle",
                    "date_deadline": fields.Date.today() + timedelta(days=1),
                    "user_id": user.id,
                }
            )
        self._run_worker("after", results)
        self.assertEqual(results["after"], 1, "only the user with a queued change is due")
        subjects = [ev["subject"] for ev in self.emulator.mailbox(email).events.values()]
        self.assertEqual(len([s for s in subjects if "Call after the quiet cycle" in s]), 1)

    def test_a_crashed_workers_user_is_picked_up_by_the_next_run(self):
        crashed = self.registry.cursor()
        try:
            env = api.Environment(crashed, SUPERUSER_ID, {})
            account_model = env["office365.account"]
            held = account_model._o365_claim_next(
                skip_ids=account_model.search([("user_id", "not in", self.user_ids)]).ids
            )
            self.assertIn(held.user_id.id, self.user_ids)
            held.write({"last_error": "worker died here"})
            env.flush_all()
            # Another worker runs meanwhile: it skips the locked user, syncs the others.
            log, overlaps, results = [], [], {}
            with self._recording_sync(log, overlaps, delay=0):
                worker = threading.Thread(
                    target=self._run_worker, args=("worker-b", results), name="worker-b"
                )
                worker.start()
                worker.join(timeout=120)
            self.assertNotIsInstance(results["worker-b"], Exception, results["worker-b"])
            synced = {account_id for _name, account_id in log}
            self.assertNotIn(held.id, synced)
            self.assertEqual(len(synced & set(self._accounts(env).ids)), USERS - 1)
        finally:
            # The worker dies: its transaction is gone, PostgreSQL drops its row lock.
            crashed.rollback()
            crashed.close()
        log, results = [], {}
        with self._recording_sync(log, [], delay=0):
            self._run_worker("worker-c", results)
        self.assertEqual([account_id for _name, account_id in log], [held.id])
        with self.registry.cursor() as cr:
            account = api.Environment(cr, SUPERUSER_ID, {})["office365.account"].browse(held.id)
            self.assertTrue(account.last_sync_at)
            self.assertFalse(account.last_error)

    def test_notification_never_waits_for_the_worker_holding_the_account(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = self._accounts(env)[0]
            env["office365.subscription"].create(
                {
                    "account_id": account.id,
                    "graph_id": f"sub-{self.tag}",
                    "client_state": "s" * 86,
                    "state": "active",
                }
            )
        worker = self.registry.cursor()
        try:
            env = api.Environment(worker, SUPERUSER_ID, {})
            # A running sync: the account row is claimed and written, not committed.
            claimed = env["office365.account"]._o365_lock(account.id)
            self.assertEqual(claimed, account.with_env(env))
            claimed.write({"last_error": "syncing"})
            env.flush_all()
            with self.registry.cursor() as hook_cr:
                # Waiting for the worker's row lock would fail here, not only be slow.
                hook_cr.execute("SET LOCAL lock_timeout = '2s'")
                hook_env = api.Environment(hook_cr, SUPERUSER_ID, {})
                item = {"subscriptionId": f"sub-{self.tag}", "clientState": "s" * 86}
                accepted = hook_env["office365.subscription"]._o365_receive([item] * 3)
                # "Sync now" from the user's side does not wait either.
                hook_env["office365.account"].browse(account.id)._o365_request_sync()
            self.assertEqual(accepted, 3)
            # Skipped by a second worker while held, and claimed with its requests after.
            with self.registry.cursor() as other:
                other_env = api.Environment(other, SUPERUSER_ID, {})
                self.assertFalse(other_env["office365.account"]._o365_lock(account.id))
        finally:
            worker.rollback()
            worker.close()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            pending = env["office365.sync.request"].search([("account_id", "=", account.id)])
            self.assertEqual(len(pending), 2, "one row per notification POST and per request")
            pending.unlink()

    def test_throttled_mailbox_is_left_alone_until_its_time(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            accounts = self._accounts(env)
            accounts[0]._o365_mark_throttled(600)
            throttled = accounts[0].id
        log, results = [], {}
        with self._recording_sync(log, [], delay=0):
            self._run_worker("worker-a", results)
        synced = {account_id for _name, account_id in log}
        self.assertNotIn(throttled, synced)
        self.assertEqual(len(synced & set(self.user_account_ids())), USERS - 1)

    def user_account_ids(self):
        with self.registry.cursor() as cr:
            return self._accounts(api.Environment(cr, SUPERUSER_ID, {})).ids


@tagged("post_install", "-at_install")
class TestMailboxPacing(Office365Case):
    """Graph's per-mailbox limits, across workers: 4 concurrent requests, 429 for one mailbox."""

    ACCOUNT_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_account"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice, cls.alice_box = cls._o365_user("pace_alice", options=("activities",))
        cls.bob, cls.bob_box = cls._o365_user("pace_bob", options=("activities",))
        cls.accounts = cls.env["office365.account"]

    def _advisory_locks(self):
        self.env.cr.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        return self.env.cr.fetchone()[0]

    def test_429_for_one_mailbox_slows_that_mailbox_only(self):
        self.emulator.faults.add("throttle", count=1, mailbox=self.alice_box.email, retry_after=120)
        with self.assertLogs(self.ACCOUNT_LOGGER, "ERROR") as logs:
            self.assertEqual(self.accounts._cron_sync(), 2)
        self.assertIn("throttling", logs.output[0])
        alice, bob = self.alice._o365_account(), self.bob._o365_account()
        now = fields.Datetime.now()
        self.assertGreater(alice.throttled_until, now + timedelta(seconds=100))
        self.assertLessEqual(alice.throttled_until, now + timedelta(seconds=121))
        self.assertFalse(bob.throttled_until)
        self.assertTrue(bob.last_sync_at)
        # Alice asks again: nobody claims her mailbox before Graph allows it; Bob goes on.
        (alice | bob)._o365_request_sync()
        synced = []
        original = type(alice)._o365_sync

        def sync(account, options=None):
            synced.append(account.id)
            return original(account, options)

        with patch.object(type(alice), "_o365_sync", sync):
            self.accounts._cron_sync()
            self.assertEqual(synced, [bob.id])
            alice.throttled_until = now - timedelta(seconds=1)
            self.accounts._cron_sync()
        self.assertEqual(synced, [bob.id, alice.id])

    def test_at_most_four_requests_per_mailbox_across_connections(self):
        alice = self.alice._o365_account()
        seen = []
        client = alice._o365_graph_client()
        release = client.on_request

        def after(*args):
            seen.append(self._advisory_locks())
            release(*args)

        client.on_request = after
        client.get_me()
        self.assertEqual(seen, [1], "one slot held during the request")
        self.assertEqual(self._advisory_locks(), 0, "and given back after it")
        other = self.registry.cursor()
        try:
            # Another worker (another connection) has all 4 requests of Alice's mailbox in flight.
            for key in slot_keys(alice.email):
                other.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
                self.assertTrue(other.fetchone()[0])
            with (
                patch.object(type(alice), "_o365_pacing_timeout", 0.3),
                self.assertLogs(self.ACCOUNT_LOGGER, "ERROR") as logs,
            ):
                self.assertEqual(self.accounts._cron_sync(), 2)
            self.assertIn("request slots of the mailbox stayed busy", logs.output[0])
            self.assertIn("Microsoft Graph is throttling", alice.last_error)
            self.assertFalse(self.bob._o365_account().last_error, "Bob is not slowed")
            self.assertEqual(self._advisory_locks(), 0)
            other.execute("SELECT pg_advisory_unlock_all()")
            alice._o365_request_sync()
            self.assertEqual(self.accounts._cron_sync(), 1)
            self.assertFalse(alice.last_error)
        finally:
            other.rollback()
            other.close()


@tagged("post_install", "-at_install")
class TestCronBatches(Office365Case):
    """The sync cron works in batches and reports them to Odoo's cron progress API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for index in range(3):
            cls._o365_user(f"batch_{index}", options=("activities",))
        cls.cron = cls.env.ref("office365_calendar_sync.ir_cron_office365_sync")

    def test_batches_report_progress_until_nothing_remains(self):
        accounts = self.env["office365.account"]
        _cron, progress = self.cron._add_progress()
        runner = accounts.with_context(ir_cron_progress_id=progress.id)
        self.assertEqual(runner._cron_sync(max_accounts=2), 2)
        self.assertEqual((progress.done, progress.remaining), (2, 1), "Odoo runs it again")
        _cron, progress = self.cron._add_progress()
        runner = accounts.with_context(ir_cron_progress_id=progress.id)
        self.assertEqual(runner._cron_sync(max_accounts=2), 1)
        self.assertEqual((progress.done, progress.remaining), (1, 0), "fully done")

    def test_the_cron_action_runs_the_sync(self):
        self.cron.method_direct_trigger()
        synced = self.env["office365.account"].search([("last_sync_at", "!=", False)])
        self.assertEqual(len(synced), 3)
        progress = self.env["ir.cron.progress"].search(
            [("cron_id", "=", self.cron.id)], order="id desc", limit=1
        )
        self.assertEqual((progress.done, progress.remaining), (3, 0))

    def test_notified_accounts_come_before_periodic_polls(self):
        accounts = self.env["office365.account"].search([("user_id.login", "like", "batch_%")])
        past = fields.Datetime.now() - timedelta(minutes=1)
        accounts.write({"next_sync_at": past})
        requests = self.env["office365.sync.request"].sudo()
        requests.search([("account_id", "in", accounts.ids)]).unlink()  # Start's runs served
        notified = accounts.sorted("id")[-1]
        self.env["office365.sync.request"]._o365_add({notified.id: {"change"}})
        self.assertEqual(self.env["office365.account"]._o365_claim_next(), notified)

    def test_a_stopped_options_waiting_change_does_not_keep_the_account_due(self):
        """Stop Syncing (events left in Outlook) while a change waits to be pushed: the change
        is not sent, and it must not make the account due again and again (each batch would
        claim it and read its delta); Start Syncing sends it."""
        user = self.env["res.users"].search([("login", "=", "batch_0")])
        account = user._o365_account()
        accounts = self.env["office365.account"]
        accounts._cron_sync()
        partner = self.env["res.partner"].create({"name": "Stopped Co"})
        activity = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": partner.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                "summary": "Waiting",
                "user_id": user.id,
            }
        )
        link = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", "mail.activity"), ("res_id", "=", activity.id)])
        )
        self.assertEqual(link.state, "pending")
        user._o365_stop("activities")
        self.env["office365.sync.request"].sudo().search([]).unlink()
        accounts._cron_sync()  # the polls due anyway
        self.assertEqual(link.state, "pending", "not sent while stopped")
        self.assertEqual(accounts._o365_count_due(), 0)
        self.assertFalse(accounts._o365_claim_next())
        user._o365_start("activities")
        self.assertEqual(accounts._o365_claim_next(), account)
        account._o365_run_claimed()
        self.assertEqual(link.state, "synced")
