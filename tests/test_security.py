# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Security: forged change notifications, users' isolation (ORM and RPC), no secret in the logs.

Every log record written while this class runs (set-up included: sign-ins, token refreshes,
revoked grants, sync runs) is captured by a handler on the root logger, with the addon's, msal's
and urllib3's loggers opened down to DEBUG; the last test scans them for every access and
refresh token the emulator issued and for the client secret.
"""

import json
import logging

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import CLIENT_SECRET, PARAM, Office365Case, rpc_call

DEBUG_LOGGERS = ("odoo.addons.office365_calendar_sync", "msal", "urllib3", "requests")


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:  # a broken record is still scanned by its raw parts
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.levelname} {record.name}: {text}")


class _DropOpenedDebug(logging.Filter):
    """Keep the server's own handlers as quiet as before for the loggers opened to DEBUG."""

    def __init__(self, levels):
        super().__init__()
        self.levels = levels

    def filter(self, record):
        for name, level in self.levels.items():
            if record.name == name or record.name.startswith(name + "."):
                return record.levelno >= (level or logging.WARNING)
        return True


@tagged("post_install", "-at_install")
class TestSecurity(Office365Case, HttpCase):
    @classmethod
    def setUpClass(cls):
        cls._o365_capture = _Capture()
        root = logging.getLogger()
        cls._o365_levels = {
            name: logging.getLogger(name).getEffectiveLevel() for name in DEBUG_LOGGERS
        }
        cls._o365_filter = _DropOpenedDebug(cls._o365_levels)
        for handler in root.handlers:
            handler.addFilter(cls._o365_filter)
        root.addHandler(cls._o365_capture)
        cls._o365_saved = {}
        for name in DEBUG_LOGGERS:
            logger = logging.getLogger(name)
            cls._o365_saved[name] = logger.level
            logger.setLevel(logging.DEBUG)
        cls.addClassCleanup(cls._o365_stop_capture)
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            PARAM + "public_base_url", cls.base_url() + "/"
        )
        cls.alice, cls.alice_box = cls._o365_user("sec_alice", options=("activities", "events"))
        cls.bob, cls.bob_box = cls._o365_user("sec_bob", options=("activities", "events"))
        partner = cls.env["res.partner"].create({"name": "Secure Customer"})
        model_id = cls.env["ir.model"]._get_id("res.partner")
        todo = cls.env.ref("mail.mail_activity_data_todo")
        for user in (cls.alice, cls.bob):
            cls.env["mail.activity"].with_context(mail_activity_quick_update=True).create(
                {
                    "res_model_id": model_id,
                    "res_id": partner.id,
                    "activity_type_id": todo.id,
                    "summary": f"Call for {user.login}",
                    "user_id": user.id,
                }
            )
            user._o365_account()._o365_sync()
        links = cls.env["office365.link"].sudo()
        cls.alice_link = links.search([("user_id", "=", cls.alice.id)], limit=1)
        cls.bob_link = links.search([("user_id", "=", cls.bob.id)], limit=1)
        logs = cls.env["office365.sync.log"].sudo()
        cls.bob_log = logs.search([("user_id", "=", cls.bob.id)], limit=1)
        # The item Bob's run created: his record's name and his event's subject.
        cls.bob_line = (
            cls.env["office365.sync.log.line"]
            .sudo()
            .search([("user_id", "=", cls.bob.id), ("operation", "=", "created")], limit=1)
        )
        cls.bob_account = cls.bob._o365_account()

    @classmethod
    def _o365_stop_capture(cls):
        root = logging.getLogger()
        root.removeHandler(cls._o365_capture)
        for handler in root.handlers:
            handler.removeFilter(cls._o365_filter)
        for name, level in cls._o365_saved.items():
            logging.getLogger(name).setLevel(level)

    # ------------------------------------------------------------------
    _rpc = rpc_call

    def _post(self, items):
        from odoo.addons.office365_calendar_sync.models.office365_subscription import (  # noqa: PLC0415
            NOTIFY_PATH,
        )

        return self.url_open(
            NOTIFY_PATH,
            data=json.dumps({"value": items}),
            headers={"Content-Type": "application/json"},
        )

    # ------------------------------------------------------------------
    def test_notification_with_wrong_or_missing_client_state_triggers_nothing(self):
        subs = self.env["office365.subscription"].sudo()
        account = self.alice._o365_account()
        self.assertTrue(subs._o365_maintain(account))
        sub = subs.search([("account_id", "=", account.id)])
        self.assertEqual(len(sub), 1)
        self.env.flush_all()
        cron = self.env.ref("office365_calendar_sync.ir_cron_office365_sync")
        triggers = self.env["ir.cron.trigger"].sudo()
        requests = self.env["office365.sync.request"].sudo()
        before = triggers.search_count([("cron_id", "=", cron.id)])
        queued = requests.search_count([("account_id", "=", account.id)])
        item = {
            "subscriptionId": sub.graph_id,
            "changeType": "updated",
            "resource": f"Users/{self.alice_box.user_id}/Events/x",
        }
        forged = [
            [{**item, "clientState": sub.client_state[:-1] + "x"}],  # wrong
            [item],  # missing
            [{**item, "clientState": ""}],  # empty
            [{**item, "clientState": None}],
            [{**item, "clientState": sub.client_state, "subscriptionId": "unknown"}],
        ]
        with mute_logger(
            "odoo.addons.office365_calendar_sync.controllers.webhook",
            "odoo.addons.office365_calendar_sync.models.office365_subscription",
        ):
            for items in forged:
                answer = self._post(items)
                self.assertEqual(answer.status_code, 403, items)
        self.assertEqual(requests.search_count([("account_id", "=", account.id)]), queued)
        self.assertEqual(triggers.search_count([("cron_id", "=", cron.id)]), before)
        # The genuine notification does queue a sync (the refusals above were not a fluke).
        answer = self._post([{**item, "clientState": sub.client_state}])
        self.assertEqual(answer.status_code, 202)
        self.assertGreater(requests.search_count([("account_id", "=", account.id)]), queued)

    def test_user_cannot_reach_another_users_data_through_the_orm(self):
        alice_env = self.env(user=self.alice)
        links = alice_env["office365.link"]
        self.assertEqual(links.search([]).user_id, self.alice)
        self.assertFalse(links.search([("id", "=", self.bob_link.id)]))
        with self.assertRaises(AccessError):
            links.browse(self.bob_link.id).read(["event_id", "synced_values"])
        with self.assertRaises(AccessError):
            links.browse(self.bob_link.id).write({"state": "pending"})
        with self.assertRaises(AccessError):
            links.browse(self.alice_link.id).write({"user_id": self.bob.id})
        with self.assertRaises(AccessError):
            links.browse(self.bob_link.id).unlink()
        with self.assertRaises(AccessError):
            links.create(
                {
                    "kind": "activity",
                    "res_model": "res.partner",
                    "res_id": 1,
                    "user_id": self.bob.id,
                }
            )
        logs = alice_env["office365.sync.log"]
        self.assertTrue(logs.search([]))
        self.assertEqual(logs.search([]).user_id, self.alice)
        with self.assertRaises(AccessError):
            logs.browse(self.bob_log.id).read(["message"])
        with self.assertRaises(AccessError):
            logs.browse(self.bob_log.id).write({"message": "forged"})
        lines = alice_env["office365.sync.log.line"]
        self.assertFalse(lines.search([("user_id", "=", self.bob.id)]))
        accounts = alice_env["office365.account"]
        with self.assertRaises(AccessError):
            accounts.search([])
        with self.assertRaises(AccessError):
            accounts.browse(self.bob_account.id).read(["email", "token_cache", "delta_link"])
        with self.assertRaises(AccessError):
            accounts.browse(self.bob_account.id).write({"token_cache": "stolen"})
        for model in ("office365.subscription", "office365.sync.request"):
            with self.assertRaises(AccessError):
                alice_env[model].search([])
        # Nothing of Bob's changed.
        self.bob_link.invalidate_recordset()
        self.assertEqual(self.bob_link.state, "synced")
        self.assertEqual(self.bob_link.user_id, self.bob)
        self.assertTrue(self.bob_account.sudo().token_cache)

    def test_user_cannot_reach_another_users_data_through_rpc(self):
        self.authenticate("sec_alice", "sec_alice")
        answer = self._rpc("office365.link", "search_read", [[]], {"fields": ["user_id"]})
        self.assertIn("result", answer, answer)
        self.assertEqual({row["user_id"][0] for row in answer["result"]}, {self.alice.id})
        for model, method, args, kwargs in (
            ("office365.link", "read", [[self.bob_link.id], ["event_id"]], {}),
            ("office365.link", "write", [[self.bob_link.id], {"state": "pending"}], {}),
            ("office365.link", "unlink", [[self.bob_link.id]], {}),
            ("office365.sync.log", "read", [[self.bob_log.id], ["message"]], {}),
            ("office365.sync.log", "write", [[self.bob_log.id], {"message": "forged"}], {}),
            (
                "office365.sync.log.line",
                "read",
                [[self.bob_line.id], ["subject", "res_name", "record_link", "message"]],
                {},
            ),
            ("office365.sync.log.line", "write", [[self.bob_line.id], {"subject": "x"}], {}),
            ("office365.account", "search_read", [[]], {"fields": ["token_cache"]}),
            ("office365.account", "read", [[self.bob_account.id], ["token_cache"]], {}),
            ("office365.account", "write", [[self.bob_account.id], {"token_cache": "x"}], {}),
            ("office365.account", "_o365_read_token_cache", [[self.bob_account.id]], {}),
            ("office365.account", "_o365_sync", [[self.bob_account.id]], {}),
        ):
            with mute_logger("odoo.http"):
                answer = self._rpc(model, method, args, kwargs)
            self.assertIn("error", answer, (model, method))
            self.assertNotIn("result", answer, (model, method))
        answer = self._rpc("office365.sync.log", "search_read", [[]], {"fields": ["user_id"]})
        self.assertEqual({row["user_id"][0] for row in answer["result"]}, {self.alice.id})
        self.assertTrue(self.bob_line.subject, "Bob's run listed his item")
        answer = self._rpc(
            "office365.sync.log.line",
            "search_read",
            [[]],
            {"fields": ["user_id", "subject", "res_name"]},
        )
        rows = answer["result"]
        self.assertTrue(rows, "Alice reads the items of her own runs")
        self.assertEqual({row["user_id"][0] for row in rows}, {self.alice.id})
        self.assertNotIn(self.bob_line.subject, {row["subject"] for row in rows})
        self.bob_link.invalidate_recordset()
        self.assertEqual(self.bob_link.state, "synced")

    def test_zz_no_token_or_client_secret_in_any_log_line(self):
        """Runs last in the class (alphabetical order): scans every line logged so far."""
        # Exercise the noisy paths too: a refused access token (refresh), a revoked grant.
        self.emulator.faults.add("expire_access", mailbox=self.alice_box.email)
        self.alice._o365_account()._o365_sync()
        self.emulator.faults.add("revoke_refresh", mailbox=self.bob_box.email)
        self.emulator.faults.add("expire_access", mailbox=self.bob_box.email)
        with mute_logger("odoo.addons.office365_calendar_sync.models.office365_account"):
            stats = self.bob._o365_account()._o365_sync()
        self.assertIn("Reconnect", stats.fatal or "")
        auth = self.emulator.auth
        secrets_issued = [*auth.access, *auth.refresh]
        self.assertGreaterEqual(len(auth.refresh), 3, "sign-ins and a refresh issued tokens")
        text = "\n".join(self._o365_capture.lines)
        self.assertGreater(len(self._o365_capture.lines), 20, "the capture saw the run's logs")
        leaks = [secret[:12] + "..." for secret in secrets_issued if secret in text]
        self.assertFalse(leaks, "tokens found in log lines")
        self.assertNotIn(CLIENT_SECRET, text)
        # Neither in the sync log records users and administrators read.
        stored = "\n".join(
            [
                msg or ""
                for msg in self.env["office365.sync.log.line"].sudo().search([]).mapped("message")
            ]
            + [
                str(msg)
                for msg in self.env["office365.sync.log"].sudo().search([]).mapped("message")
            ]
        )
        for secret in [*secrets_issued, CLIENT_SECRET]:
            self.assertNotIn(secret, stored)
