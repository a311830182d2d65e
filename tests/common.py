# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the Odoo tests: a Graph emulator, the addon pointed at it, connected users."""

import json
import os

from odoo.addons.office365_calendar_sync.emulator import GraphEmulator
from odoo.addons.office365_calendar_sync.services.constants import PARAM
from odoo.addons.office365_calendar_sync.tools.emulator_setup import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    configure,
    connect_mailbox,
)
from odoo.tests import TransactionCase, new_test_user
from odoo.tools import config

# What the test modules take from here besides the case.
__all__ = ["CLIENT_ID", "CLIENT_SECRET", "PARAM", "REDIRECT_URI", "Office365Case"]
# The server key that encrypts stored tokens (office365_token_key), when the server running the
# tests has none: tests store tokens the way production does, never with the database's key.
TEST_TOKEN_KEY = "test-only-office365-token-key-0123456789abcdef"


def rpc_call(case, model, method, args, kwargs=None):
    """Call ``model.method`` through JSON-RPC as the user ``case`` (an HttpCase) is logged in
    as; the decoded answer (``result`` or ``error``). Attack tests use it as ``_rpc``."""
    answer = case.url_open(
        f"/web/dataset/call_kw/{model}/{method}",
        data=json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
            }
        ),
        headers={"Content-Type": "application/json"},
    )
    return answer.json()


class Office365Case(TransactionCase):
    """TransactionCase with a started Graph emulator and the addon configured to use it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._o365_server_key()
        cls.emulator = GraphEmulator().start()
        cls.addClassCleanup(cls.emulator.stop)
        configure(cls.env, cls.emulator)

    @classmethod
    def _o365_server_key(cls):
        """Give the server a token key for this class if it has none (restored after)."""
        if config.get("office365_token_key") or os.environ.get("O365_TOKEN_KEY"):
            return
        config["office365_token_key"] = TEST_TOKEN_KEY
        cls.addClassCleanup(config.options.pop, "office365_token_key", None)

    @classmethod
    def _o365_user(cls, login, email=None, options=(), groups="base.group_user", **settings):
        """A user with a connected emulator mailbox, its settings, and ``options`` started."""
        email = email or f"{login}@example.com"
        user = new_test_user(
            cls.env, login=login, email=email, groups=groups, tz="Europe/Brussels", name=login
        )
        mailbox = cls.emulator.add_mailbox(email, display_name=login)
        cls._o365_connect(user, email)
        if settings:
            user._o365_settings().write(settings)
        for option in options:
            user._o365_start(option)
        return user, mailbox

    @classmethod
    def _o365_connect(cls, user, email):
        """Run the real authorization-code flow (PKCE) against the emulator for ``user``."""
        return connect_mailbox(cls.emulator, user, email)

    def o365_forget_category_checks(self):
        """The emulator's mailboxes lost their categories: the next push checks them again."""
        self.env["office365.account"].sudo().search([]).write({"category_checked_at": False})

    def o365_sync(self, user, options=None):
        """One sync run of ``user`` (pull then push), as the cron does; returns its RunStats."""
        return user._o365_account()._o365_sync(options)

    def o365_events(self, mailbox, invitations=False):
        """The events of an emulator mailbox (series masters excluded), as Graph dicts; the
        copies of meetings organized by another mailbox of the tenant only with
        ``invitations``."""
        return [
            ev
            for ev in mailbox.events.values()
            if ev.get("type") != "seriesMaster" and (invitations or not ev.get("_origin"))
        ]
