# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Change notifications: handshake, authentication, lifecycle events, renewal, polling fallback
and burst coalescing, through Odoo's HTTP server and the Graph emulator."""

import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.addons.office365_calendar_sync.models.office365_subscription import (
    LIFECYCLE_PATH,
    MAX_LIFETIME_MINUTES,
    NOTIFY_PATH,
)
from odoo.addons.office365_calendar_sync.services.graph_client import GraphClient
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import PARAM, Office365Case

SUB_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_subscription"


@tagged("post_install", "-at_install")
class TestWebhook(Office365Case, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            PARAM + "public_base_url", cls.base_url() + "/"
        )
        cls.user, cls.mailbox = cls._o365_user("hook_alice", options=("activities",))
        cls.account = cls.user._o365_account()
        cls.cron = cls.env.ref("office365_calendar_sync.ir_cron_office365_sync")
        cls.subs = cls.env["office365.subscription"].sudo()
        cls.requests = cls.env["office365.sync.request"].sudo()
        # Start queued a run; the tests begin once it was served (no pending request).
        cls.requests.search([]).unlink()

    # ------------------------------------------------------------------
    def _subscribe(self):
        self.assertTrue(self.subs._o365_maintain(self.account))
        sub = self.subs.search([("account_id", "=", self.account.id)])
        self.assertEqual(len(sub), 1)
        self.env.flush_all()  # the HTTP requests read it with SQL
        return sub

    def _triggers(self):
        return self.env["ir.cron.trigger"].sudo().search_count([("cron_id", "=", self.cron.id)])

    def _post(self, path, items):
        return self.url_open(
            path,
            data=json.dumps({"value": items}),
            headers={"Content-Type": "application/json"},
        )

    def _item(self, sub, client_state=None, **extra):
        item = {
            "subscriptionId": sub.graph_id,
            "clientState": sub.client_state if client_state is None else client_state,
            "changeType": "updated",
            "resource": "Users/x/Events/y",
        }
        item.update(extra)
        return item

    def _count_syncs(self):
        calls = []
        original = type(self.account)._o365_sync

        def counting(account, options=None):
            calls.append(account.id)
            return original(account, options)

        patcher = patch.object(type(self.account), "_o365_sync", counting)
        patcher.start()
        self.addCleanup(patcher.stop)
        return calls

    # ------------------------------------------------------------------
    def test_validation_handshake_answers_the_token_as_plain_text(self):
        token = "Validation: Testing client application reachability <b>&1</b>"
        for path in (NOTIFY_PATH, LIFECYCLE_PATH):
            response = self.opener.post(
                self.base_url() + path, params={"validationToken": token}, timeout=10
            )
            self.assertEqual(response.status_code, 200)
            self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
            self.assertEqual(response.text, token)
        self.assertFalse(self.requests.search_count([]))

    def test_subscription_created_through_the_graph_handshake(self):
        self.assertEqual(self.account.subscription_status, "polling")
        sub = self._subscribe()
        remote = self.emulator.subscriptions[sub.graph_id]
        base = self.base_url()
        self.assertEqual(remote["notificationUrl"], base + NOTIFY_PATH)
        self.assertEqual(remote["lifecycleNotificationUrl"], base + LIFECYCLE_PATH)
        self.assertEqual(remote["changeType"], "created,updated,deleted")
        self.assertEqual(remote["resource"], "me/events")
        self.assertEqual(remote["clientState"], sub.client_state)
        self.assertLessEqual(len(sub.client_state), 128)
        self.assertGreaterEqual(len(sub.client_state), 64)
        lifetime = sub.expiration - fields.Datetime.now()
        self.assertLessEqual(lifetime, timedelta(minutes=MAX_LIFETIME_MINUTES))
        self.assertGreater(lifetime, timedelta(days=6))
        self.account.invalidate_recordset(["subscription_status"])
        self.assertEqual(self.account.subscription_status, "live")
        # Each subscription gets its own secret.
        other, _box = self._o365_user("hook_bob", options=("activities",))
        self.assertTrue(self.subs._o365_maintain(other._o365_account()))
        other_sub = self.subs.search([("account_id", "=", other._o365_account().id)])
        self.assertNotEqual(other_sub.client_state, sub.client_state)

    def test_authenticated_notification_queues_a_sync_and_never_syncs_inline(self):
        sub = self._subscribe()
        event = self.mailbox.create_event(
            {
                "subject": "From Outlook",
                "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
            }
        )
        triggers = self._triggers()
        self.emulator.reset_counters()
        syncs = self._count_syncs()
        answer = self.emulator.post_change_notifications(sub.graph_id, "created", event["id"])
        self.assertEqual(answer.status, 202)
        self.assertEqual(self.requests.search([]).mapped("account_id"), self.account)
        self.assertEqual(self.requests.search([]).kind, "change")
        self.assertEqual(self._triggers(), triggers + 1)
        self.assertEqual(syncs, [], "a notification must not sync in the request")
        self.assertEqual(self.emulator.counters["total"], 0, "no Graph call in the request")

    def test_refused_notifications_trigger_nothing(self):
        sub = self._subscribe()
        triggers = self._triggers()
        with mute_logger("odoo.addons.office365_calendar_sync.models.office365_subscription"):
            wrong = self._post(NOTIFY_PATH, [self._item(sub, client_state="guessed")])
            missing = self._post(NOTIFY_PATH, [self._item(sub, client_state=False)])
            unknown = self._post(
                NOTIFY_PATH,
                [dict(self._item(sub), subscriptionId="6e1c0a5e-unknown")],
            )
            longer = self._post(NOTIFY_PATH, [self._item(sub, client_state=sub.client_state + "x")])
            lifecycle = self._post(
                LIFECYCLE_PATH,
                [self._item(sub, client_state="guessed", lifecycleEvent="missed")],
            )
        for response in (wrong, missing, unknown, longer, lifecycle):
            self.assertEqual(response.status_code, 403)
        with mute_logger("odoo.addons.office365_calendar_sync.controllers.webhook"):
            garbage = self.url_open(
                NOTIFY_PATH, data="not json", headers={"Content-Type": "application/json"}
            )
        self.assertEqual(garbage.status_code, 400)
        self.assertFalse(self.requests.search_count([]))
        self.assertEqual(self._triggers(), triggers)
        # A mixed payload: only the authenticated item counts.
        with mute_logger(SUB_LOGGER):
            mixed = self._post(
                NOTIFY_PATH, [self._item(sub, client_state="guessed"), self._item(sub)]
            )
        self.assertEqual(mixed.status_code, 202)
        self.assertEqual(self.requests.search_count([]), 1)

    def test_lifecycle_reauthorization_required_renews(self):
        sub = self._subscribe()
        sub.expiration = fields.Datetime.now() + timedelta(days=5)
        self.emulator.reset_counters()
        answer = self.emulator.post_lifecycle(sub.graph_id, "reauthorizationRequired")
        self.assertEqual(answer.status, 202)
        self.assertEqual(self.requests.search([]).kind, "renew")
        self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertEqual(self.emulator.counters["PATCH /subscriptions/{id}"], 1)
        self.assertGreater(sub.expiration, fields.Datetime.now() + timedelta(days=6))
        self.assertFalse(self.requests.search_count([]))

    def test_lifecycle_subscription_removed_recreates_then_resyncs_with_delta(self):
        sub = self._subscribe()
        old_id = sub.graph_id
        self.env["office365.account"]._cron_sync()  # first delta round: keeps a delta link
        self.assertTrue(self.account.sudo().delta_link)
        self.emulator.reset_counters()
        calls = []
        original_maintain = type(self.subs)._o365_maintain
        original_sync = type(self.account)._o365_sync

        def maintain(model, account, kinds=frozenset()):
            calls.append("subscription")
            return original_maintain(model, account, kinds)

        def sync(account, options=None):
            calls.append("sync")
            return original_sync(account, options)

        answer = self.emulator.post_lifecycle(old_id, "subscriptionRemoved")
        self.assertEqual(answer.status, 202)
        self.assertNotIn(old_id, self.emulator.subscriptions)
        with (
            patch.object(type(self.subs), "_o365_maintain", maintain),
            patch.object(type(self.account), "_o365_sync", sync),
        ):
            self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertEqual(calls, ["subscription", "sync"])
        self.assertNotEqual(sub.graph_id, old_id)
        self.assertIn(sub.graph_id, self.emulator.subscriptions)
        self.assertEqual(self.emulator.counters["POST /subscriptions"], 1)
        delta_calls = sum(count for key, count in self.emulator.counters.items() if "/delta" in key)
        self.assertGreaterEqual(delta_calls, 1)

    def test_lifecycle_missed_resyncs(self):
        sub = self._subscribe()
        self.env["office365.account"]._cron_sync()
        self.env["office365.account"]._cron_sync()
        syncs = self._count_syncs()
        self.assertEqual(self.env["office365.account"]._cron_sync(), 0, "nothing due")
        answer = self.emulator.post_lifecycle(sub.graph_id, "missed")
        self.assertEqual(answer.status, 202)
        self.assertEqual(self.requests.search([]).kind, "missed")
        self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertEqual(syncs, [self.account.id])

    def test_renewal_cron_renews_before_expiry_and_drops_when_polling(self):
        sub = self._subscribe()
        sub.expiration = fields.Datetime.now() + timedelta(hours=2)
        self.emulator.reset_counters()
        self.assertEqual(self.subs._cron_renew(), 1)
        self.assertEqual(self.emulator.counters["PATCH /subscriptions/{id}"], 1)
        self.assertGreater(sub.expiration, fields.Datetime.now() + timedelta(days=6))
        # Far from expiry: nothing to do.
        self.assertEqual(self.subs._cron_renew(), 0)
        # A subscription Graph no longer knows is created again.
        self.emulator.subscriptions.clear()
        sub.expiration = fields.Datetime.now() + timedelta(hours=2)
        self.assertEqual(self.subs._cron_renew(), 1)
        self.assertIn(sub.graph_id, self.emulator.subscriptions)
        # No public URL any more: the subscription is deleted, the account polls.
        graph_id = sub.graph_id
        self.env["ir.config_parameter"].sudo().set_param(PARAM + "public_base_url", "")
        self.assertEqual(self.subs._cron_renew(), 1)
        self.assertNotIn(graph_id, self.emulator.subscriptions)
        self.assertFalse(sub.exists())
        self.account.invalidate_recordset(["subscription_status"])
        self.assertEqual(self.account.subscription_status, "polling")

    def test_failed_subscription_is_retried_later_and_sync_polls_meanwhile(self):
        self.env["ir.config_parameter"].sudo().set_param(
            PARAM + "public_base_url", "http://127.0.0.1:9/unreachable"
        )
        with self.assertLogs(SUB_LOGGER, "WARNING") as logs:
            self.assertFalse(self.subs._o365_maintain(self.account))
        self.assertIn("polling meanwhile", logs.output[0])
        sub = self.subs.search([("account_id", "=", self.account.id)])
        self.assertEqual(sub.state, "failed")
        self.assertTrue(sub.retry_at)
        self.emulator.reset_counters()
        self.assertFalse(self.subs._o365_maintain(self.account))
        self.assertEqual(self.emulator.counters["POST /subscriptions"], 0, "retried later only")

    def test_polling_fallback_without_public_base_url(self):
        self.env["ir.config_parameter"].sudo().set_param(PARAM + "public_base_url", "")
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "sync_interval_minutes", "7")
        self.emulator.reset_counters()
        before = fields.Datetime.now()
        self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertEqual(self.emulator.counters["POST /subscriptions"], 0)
        self.assertFalse(self.subs.search_count([]))
        self.assertEqual(self.account.subscription_status, "polling")
        next_sync = self.account.next_sync_at
        self.assertGreaterEqual(next_sync, before + timedelta(minutes=7) - timedelta(seconds=1))
        self.assertLessEqual(next_sync, fields.Datetime.now() + timedelta(minutes=7))
        # With a public URL the next run subscribes and only a safety poll is scheduled.
        self.env["ir.config_parameter"].sudo().set_param(PARAM + "public_base_url", self.base_url())
        self.account.next_sync_at = fields.Datetime.now() - timedelta(seconds=1)
        self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.account.invalidate_recordset(["subscription_status"])
        self.assertEqual(self.account.subscription_status, "live")
        self.assertGreater(self.account.next_sync_at, fields.Datetime.now() + timedelta(hours=1))

    def test_burst_of_notifications_makes_one_trigger_and_one_sync(self):
        sub = self._subscribe()
        self.env["office365.account"]._cron_sync()
        triggers = self._triggers()
        syncs = self._count_syncs()
        statuses = []
        for index in range(100):
            answer = self.emulator.post_change_notifications(
                sub.graph_id, "updated", f"event-{index}"
            )
            statuses.append(answer.status)
        self.assertEqual(statuses, [202] * 100)
        self.assertEqual(self.requests.search_count([]), 100)
        self.assertEqual(self._triggers(), triggers + 1, "one pending trigger for the burst")
        self.assertEqual(syncs, [])
        self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertEqual(syncs, [self.account.id], "100 notifications, one sync")
        self.assertFalse(self.requests.search_count([]))
        self.assertEqual(self.env["office365.account"]._cron_sync(), 0)

    def test_requests_arriving_during_a_run_are_kept_for_the_next_one(self):
        sub = self._subscribe()
        self.env["office365.account"]._cron_sync()
        original = type(self.account)._o365_sync

        def sync_with_late_change(account, options=None):
            stats = original(account, options)
            # Outlook changed again after the delta read of this run.
            self.assertEqual(
                self.emulator.post_change_notifications(sub.graph_id, "updated", "late").status,
                202,
            )
            return stats

        self.emulator.post_change_notifications(sub.graph_id, "updated", "first")
        with patch.object(type(self.account), "_o365_sync", sync_with_late_change):
            self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertEqual(self.requests.search_count([]), 1, "the late change waits")
        self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        self.assertFalse(self.requests.search_count([]))

    def test_unexpected_subscription_answer_never_stops_the_sync(self):
        with (
            patch.object(GraphClient, "create_subscription", lambda *args, **kwargs: {}),
            self.assertLogs(SUB_LOGGER, "ERROR"),
        ):
            self.assertEqual(self.env["office365.account"]._cron_sync(), 1)
        sub = self.subs.search([("account_id", "=", self.account.id)])
        self.assertEqual(sub.state, "failed")
        self.assertIn("KeyError", sub.last_error)
        self.assertTrue(self.account.last_sync_at, "the mailbox was synced all the same")
        self.assertEqual(self.account.subscription_status, "polling")

    def test_renewal_cron_forgets_requests_of_disconnected_mailboxes(self):
        other, _box = self._o365_user("hook_carol", options=("activities",))
        gone = other._o365_account()
        self.requests._o365_add({gone.id: {"change"}, self.account.id: {"change"}})
        gone.state = "reconnect"
        self.env.flush_all()
        self.subs._cron_renew()
        self.assertEqual(self.requests.search([]).account_id, self.account)
