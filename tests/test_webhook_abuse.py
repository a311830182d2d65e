# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Hostile posts to the notification URLs, through Odoo's HTTP server: oversized and chunked
bodies, malformed ids, deep nesting, log flooding, and replayed lifecycle notifications."""

import json
import logging
import socket
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo.addons.office365_calendar_sync.controllers.webhook import MAX_BODY
from odoo.addons.office365_calendar_sync.models.office365_subscription import (
    LIFECYCLE_PATH,
    NOTIFY_PATH,
    REFUSAL_LOG,
)
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import PARAM, Office365Case

SUB_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_subscription"
HOOK_LOGGER = "odoo.addons.office365_calendar_sync.controllers.webhook"


@tagged("post_install", "-at_install")
class TestWebhookAbuse(Office365Case, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(PARAM + "public_base_url", cls.base_url())
        cls.user, cls.mailbox = cls._o365_user("abuse_alice", options=("activities",))
        cls.account = cls.user._o365_account()
        cls.subs = cls.env["office365.subscription"].sudo()
        cls.requests = cls.env["office365.sync.request"].sudo()
        cls.requests.search([]).unlink()

    def setUp(self):
        super().setUp()
        REFUSAL_LOG.reset()
        self.addCleanup(REFUSAL_LOG.reset)
        # Each test starts with no subscription in Graph (the database is rolled back).
        self.emulator.subscriptions.clear()

    def _subscribe(self):
        self.assertTrue(self.subs._o365_maintain(self.account))
        sub = self.subs.search([("account_id", "=", self.account.id)])
        self.env.flush_all()
        return sub

    def _post(self, path, body):
        # opener.post: url_open would send a GET for an empty body.
        return self.opener.post(
            self.base_url() + path,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=12,
        )

    def _raw(self, head, chunks=(), read_timeout=10):
        """Send ``head`` (request line and headers) and ``chunks`` over a raw socket, without
        finishing the body; return the status line the server answers with."""
        self.env.flush_all()
        self.cr.flush()
        self.cr.clear()
        url = urlsplit(self.base_url())
        with socket.create_connection((url.hostname, url.port), timeout=read_timeout) as sock:
            sock.sendall(head.encode())
            for chunk in chunks:
                try:
                    sock.sendall(chunk)
                except OSError:
                    break  # the server answered and closed: it stopped reading
            answer = b""
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        return answer.split(b"\r\n", 1)[0].decode()

    # ------------------------------------------------------------------
    # Size
    # ------------------------------------------------------------------
    def test_declared_oversized_body_refused_before_it_is_read(self):
        # 126 MB announced, not a byte of it sent: the answer can only come before any read.
        head = (
            f"POST {NOTIFY_PATH} HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/json\r\nContent-Length: 132120576\r\n\r\n"
        )
        with mute_logger("werkzeug"):
            status = self._raw(head)
        self.assertIn(" 413 ", status)
        self.assertFalse(self.requests.search_count([]))

    def test_chunked_body_capped_while_streaming(self):
        # No length: 1 MiB + 64 KiB of chunks, then the client stalls without ending the body.
        # Only a server that stops reading at the limit can answer.
        piece = b"[" * 65536
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        head = (
            f"POST {LIFECYCLE_PATH} HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        with mute_logger("werkzeug", HOOK_LOGGER):
            status = self._raw(head, [chunk] * (MAX_BODY // len(piece) + 1))
        self.assertIn(" 413 ", status)
        # The same cap holds for form bodies, parsed by Odoo before the controller runs.
        head_form = head.replace("application/json", "application/x-www-form-urlencoded")
        piece_form = b"a" * 65536
        chunk_form = b"%x\r\n%s\r\n" % (len(piece_form), piece_form)
        with mute_logger("werkzeug", HOOK_LOGGER):
            status = self._raw(head_form, [chunk_form] * (MAX_BODY // len(piece_form) + 1))
        self.assertIn(" 413 ", status)
        self.assertFalse(self.requests.search_count([]))

    def test_small_chunked_notification_still_served(self):
        sub = self._subscribe()
        body = json.dumps(
            {"value": [{"subscriptionId": sub.graph_id, "clientState": sub.client_state}]}
        ).encode()

        def chunks():
            yield body[:10]
            yield body[10:]

        answer = self.url_open(
            NOTIFY_PATH, data=chunks(), headers={"Content-Type": "application/json"}
        )
        self.assertEqual(answer.status_code, 202)
        self.assertEqual(self.requests.search_count([]), 1)

    # ------------------------------------------------------------------
    # Malformed bodies: 4xx, never 500
    # ------------------------------------------------------------------
    def test_malformed_bodies_get_400_never_500(self):
        sub = self._subscribe()
        deep = "[" * 200000 + "]" * 200000
        bodies = {
            "list as id": '{"value":[{"subscriptionId":["a"]}]}',
            # Beside a string id, the list reached a dict lookup: unhashable, a 500.
            "list as id beside a known one": json.dumps(
                {"value": [{"subscriptionId": ["a"]}, {"subscriptionId": sub.graph_id}]}
            ),
            "object as id": '{"value":[{"subscriptionId":{"a":1},"clientState":"x"}]}',
            "number as id": '{"value":[{"subscriptionId":7}]}',
            "item not an object": '{"value":[["a"]]}',
            "deep nesting": deep,
            "deep nesting in value": '{"value":[' + deep + "]}",
            "overlong id": json.dumps({"value": [{"subscriptionId": "a" * 5000}]}),
            "invalid utf-8": b'{"value":[{"subscriptionId":"\xff\xfe"}]}',
            "empty": "",
        }
        with mute_logger(HOOK_LOGGER, SUB_LOGGER):
            for label, body in bodies.items():
                for path in (NOTIFY_PATH, LIFECYCLE_PATH):
                    answer = self._post(path, body)
                    self.assertEqual(answer.status_code, 400, f"{label} on {path}")
        # Odd but well-typed fields of an authenticated item are no 500 either.
        odd = {
            "subscriptionId": sub.graph_id,
            "clientState": sub.client_state,
            "lifecycleEvent": ["subscriptionRemoved"],
        }
        with mute_logger(SUB_LOGGER):
            answer = self._post(LIFECYCLE_PATH, json.dumps({"value": [odd]}))
            forged = self._post(
                NOTIFY_PATH,
                json.dumps({"value": [{"subscriptionId": sub.graph_id, "clientState": ["x"]}]}),
            )
        self.assertEqual(answer.status_code, 202)  # authentic, unknown event: ignored
        self.assertEqual(forged.status_code, 403)
        self.assertFalse(self.requests.search_count([]))

    def test_validation_token_echoed_as_plain_text_only(self):
        token = "<script>alert(document.cookie)</script>"
        answer = self.opener.post(
            self.base_url() + NOTIFY_PATH, params={"validationToken": token}, timeout=10
        )
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.text, token)
        self.assertTrue(answer.headers["Content-Type"].startswith("text/plain"))
        self.assertEqual(answer.headers["X-Content-Type-Options"], "nosniff")
        overlong = self.opener.post(
            self.base_url() + LIFECYCLE_PATH, params={"validationToken": "a" * 1025}, timeout=10
        )
        self.assertEqual(overlong.status_code, 400)
        self.assertFalse(self.requests.search_count([]))

    # ------------------------------------------------------------------
    # Log flooding
    # ------------------------------------------------------------------
    def test_refusal_warnings_are_rate_limited(self):
        sub = self._subscribe()
        forged = json.dumps({"value": [{"subscriptionId": sub.graph_id, "clientState": "guess"}]})
        now = [1000.0]
        with (
            patch.object(REFUSAL_LOG, "clock", lambda: now[0]),
            self.assertLogs(SUB_LOGGER, logging.WARNING) as logs,
        ):
            for _index in range(20):
                self.assertEqual(self._post(NOTIFY_PATH, forged).status_code, 403)
            self.assertEqual(len(logs.output), 1, "one warning for 20 forged posts")
            now[0] += 61
            self.assertEqual(self._post(NOTIFY_PATH, forged).status_code, 403)
        self.assertEqual(len(logs.output), 2)
        self.assertIn("19 more like it", logs.output[1])
        # Each reason has its own budget: an unreadable body still gets its first warning.
        with (
            patch.object(REFUSAL_LOG, "clock", lambda: now[0]),
            self.assertLogs(HOOK_LOGGER, logging.WARNING) as hook_logs,
        ):
            for _index in range(5):
                self.assertEqual(self._post(NOTIFY_PATH, "not json").status_code, 400)
        self.assertEqual(len(hook_logs.output), 1)
        self.assertFalse(self.requests.search_count([]))

    # ------------------------------------------------------------------
    # Replayed lifecycle notifications
    # ------------------------------------------------------------------
    def _live_for_mailbox(self):
        return [
            sub_id
            for sub_id, remote in self.emulator.subscriptions.items()
            if remote["_user_id"] == self.mailbox.user_id
        ]

    def test_replayed_subscription_removed_never_multiplies_subscriptions(self):
        sub = self._subscribe()
        self.assertEqual(self._live_for_mailbox(), [sub.graph_id])
        # Captured in transit: a notification of the live subscription carries its clientState.
        captured = {
            "subscriptionId": sub.graph_id,
            "clientState": sub.client_state,
            "lifecycleEvent": "subscriptionRemoved",
            "tenantId": self.emulator.tenant_id,
        }
        statuses = []
        for _replay in range(3):
            with mute_logger(SUB_LOGGER):
                statuses.append(self._post(LIFECYCLE_PATH, json.dumps({"value": [captured]})))
            self.env["office365.account"]._cron_sync()
            live = self._live_for_mailbox()
            self.assertEqual(len(live), 1, f"exactly one live subscription, got {live}")
            self.assertEqual(live, [sub.graph_id], "the live one is the one stored")
        self.assertEqual(statuses[0].status_code, 202)
        # The new subscription has a new secret: the captured one no longer authenticates.
        self.assertNotEqual(sub.client_state, captured["clientState"])
        self.assertEqual([s.status_code for s in statuses[1:]], [403, 403])

    def test_subscription_removed_waits_for_the_old_one_to_be_deleted(self):
        sub = self._subscribe()
        old_id = sub.graph_id
        # Graph cannot delete it right now: no second subscription may be created meanwhile.
        self.emulator.faults.add("unavailable", count=20, path_contains="/subscriptions/")
        self.requests._o365_add({self.account.id: {"recreate"}})
        self.emulator.reset_counters()
        with mute_logger(SUB_LOGGER, "odoo.addons.office365_calendar_sync.services.graph_client"):
            self.env["office365.account"]._cron_sync()
        self.assertEqual(self.emulator.counters["POST /subscriptions"], 0)
        self.assertEqual(self._live_for_mailbox(), [old_id])
        self.assertEqual(sub.state, "failed")
        # Once Graph answers again, the retry keeps one subscription: the old one renewed
        # (it was still live) and nothing created beside it.
        self.emulator.faults.clear()
        sub.retry_at = False
        self.subs._cron_renew()
        self.assertEqual(self._live_for_mailbox(), [sub.graph_id])
        self.assertEqual(sub.state, "active")
