# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Which mailbox a user's account may reach: never the one named by the user's own e-mail address.

App-only mode (the application reads every mailbox of the tenant): the mailbox is the one an
administrator assigned; delegated mode: the identity of the Microsoft sign-in. The attacks go
through JSON-RPC as the user, the way the web client sends them.
"""

from datetime import datetime, time, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import PARAM, rpc_call
from .test_oauth import CALLBACK, START, Office365HttpCase, form_fields

ACCOUNT_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_account"


def _next_monday_at(hour, weeks=1):
    today = fields.Date.today()
    monday = today + timedelta(days=7 * weeks - today.weekday())
    return datetime.combine(monday, time(hour))


def _dt(value):
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@tagged("post_install", "-at_install")
class TestMailboxBinding(Office365HttpCase):
    """A user who sets their e-mail address to a director's gets nothing of the director's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "internal_domains", "example.com")
        params.set_param(PARAM + "mode", "app")
        params.set_param(PARAM + "tenant", cls.emulator.tenant_id)
        cls.env["res.partner"].create({"name": "Board member", "email": "board@client.com"})
        cls.director_box = cls.emulator.add_mailbox("director@example.com", "Director")
        cls.mallory = new_test_user(
            cls.env, login="bind_mallory", email="mallory@example.com", groups="base.group_user"
        )
        cls.mallory_box = cls.emulator.add_mailbox("mallory@example.com", "Mallory")
        start = _next_monday_at(9)
        cls.director_box.create_event(
            {
                "subject": "Director private: takeover",
                "sensitivity": "private",
                "body": {"contentType": "html", "content": "<p>Secret board plan</p>"},
                "start": _dt(start),
                "end": _dt(start + timedelta(hours=1)),
                "attendees": [{"emailAddress": {"address": "board@client.com", "name": "B"}}],
            }
        )

    def setUp(self):
        super().setUp()
        self.emulator.reset_counters()

    # ------------------------------------------------------------------
    _rpc = rpc_call

    def _as_mallory_set_email(self, email):
        answer = self._rpc("res.users", "write", [[self.mallory.id], {"email": email}])
        self.assertEqual(answer.get("result"), True, answer)

    def _director_requests(self):
        return [
            req
            for req in self.emulator.requests
            if req.mailbox == "director@example.com" or self.director_box.user_id in req.path
        ]

    def _nothing_of_the_director(self):
        meetings = self.env["office365.inbound.event"].sudo().search([])
        self.assertNotIn("Director private: takeover", meetings.mapped("name"))
        notes = " ".join(
            str(note) for note in self.env["mail.activity"].sudo().search([]).mapped("note") if note
        )
        self.assertNotIn("Secret board plan", notes)
        self.assertFalse(self._director_requests())

    def _start_events_with_private(self):
        """Mallory includes private events and starts "Sync Office 365 events" (RPC)."""
        answer = self._rpc(
            "res.users", "write", [[self.mallory.id], {"o365_include_private": True}]
        )
        self.assertEqual(answer.get("result"), True, answer)
        answer = self._rpc(
            "res.users",
            "action_o365_start",
            [[self.mallory.id]],
            {"context": {"office365_calendar_sync_option": "events"}},
        )
        self.assertIn("result", answer, answer)

    # ------------------------------------------------------------------
    def test_connect_refused_until_an_administrator_assigns_the_mailbox(self):
        self.authenticate("bind_mallory", "bind_mallory")
        self._as_mallory_set_email("director@example.com")
        with mute_logger("odoo.http"):
            answer = self._rpc("res.users", "action_o365_connect", [[self.mallory.id]])
        self.assertIn("error", answer, "Connect bound the mailbox named by the user's address")
        self.assertIn("No Office 365 mailbox is assigned", answer["error"]["data"]["message"])
        account = self.mallory._o365_account()
        self.assertEqual(account.state, "disconnected")
        self.assertFalse(account.email)
        self._nothing_of_the_director()

    def test_forged_email_never_binds_the_directors_mailbox(self):
        self.mallory.with_user(
            self.env.ref("base.user_admin")
        ).o365_assigned_mailbox = "mallory@example.com"
        self.authenticate("bind_mallory", "bind_mallory")
        self._as_mallory_set_email("director@example.com")
        answer = self._rpc("res.users", "action_o365_connect", [[self.mallory.id]])
        self.assertIn("result", answer, answer)
        account = self.mallory._o365_account()
        self.assertEqual((account.state, account.email), ("connected", "mallory@example.com"))
        self._start_events_with_private()
        stats = account._o365_sync()
        self.assertFalse(stats.fatal)
        self.assertTrue(
            [req for req in self.emulator.requests if req.mailbox == "mallory@example.com"]
        )
        self._nothing_of_the_director()
        # Changing the address back and forth never rebinds the account.
        for email in ("mallory@example.com", "DIRECTOR@example.com", "director@example.com"):
            self._as_mallory_set_email(email)
            account.invalidate_recordset()
            self.assertEqual(account.email, "mallory@example.com")
            self.assertFalse(account._o365_sync().fatal)
        self._nothing_of_the_director()

    def test_user_cannot_assign_a_mailbox_through_rpc(self):
        self.authenticate("bind_mallory", "bind_mallory")
        account = self.mallory._o365_account()
        for model, method, args in (
            ("res.users", "write", [[self.mallory.id], {"o365_assigned_mailbox": "director@x"}]),
            ("res.users", "action_o365_assign_email_mailbox", [[self.mallory.id]]),
            (
                "office365.account",
                "write",
                [[account.id], {"assigned_mailbox": "director@example.com"}],
            ),
            ("office365.account", "_o365_assign_mailbox", [[account.id], "director@x"]),
            ("office365.account", "_o365_bind_mailbox", [[account.id], "director@x", "assigned"]),
        ):
            with mute_logger("odoo.http"):
                answer = self._rpc(model, method, args)
            self.assertIn("error", answer, (model, method))
        account.invalidate_recordset()
        self.assertFalse(account.assigned_mailbox or account.email)

    def test_each_run_checks_the_binding(self):
        """An account bound to an address nobody assigned (bound by an earlier version from the
        user's e-mail address, or written in the database) is refused before any request."""
        account = self.mallory._o365_account()
        account.write({"email": "director@example.com", "state": "connected"})
        self.mallory._o365_settings().write(
            {"o365_events_enabled": True, "o365_include_private": True}
        )
        with self.assertLogs(ACCOUNT_LOGGER, "ERROR") as logs:
            stats = account._o365_sync()
        self.assertIn("neither assigned by an administrator", stats.fatal)
        self.assertIn("neither assigned by an administrator", logs.output[0])
        self.assertEqual(account.state, "reconnect")
        self.assertIn("neither assigned", account.last_error)
        self.assertIn("neither assigned", self.mallory.o365_events_last_error)
        log = (
            self.env["office365.sync.log"]
            .sudo()
            .search([("user_id", "=", self.mallory.id)], order="id desc", limit=1)
        )
        self.assertIn("neither assigned", log.message)
        self.assertFalse(self.emulator.requests)
        self._nothing_of_the_director()
        # Nor may the mailbox be reached for a change subscription or the calendar list.
        self.env["ir.config_parameter"].sudo().set_param(
            PARAM + "public_base_url", "https://odoo.example.com"
        )
        account.state = "connected"
        with mute_logger("odoo.addons.office365_calendar_sync.models.office365_subscription"):
            self.env["office365.subscription"].sudo()._o365_maintain(account)
        self.assertFalse(self.emulator.requests)
        # An assignment that names another mailbox than the bound one does not confirm it.
        account.state = "connected"
        self.mallory.o365_assigned_mailbox = "mallory@example.com"
        self.assertEqual(account.state, "reconnect")
        self.assertTrue(account._o365_binding_error())

    def test_administrator_confirms_an_existing_binding(self):
        """An account connected before mailboxes were assigned syncs again once an administrator
        assigns the mailbox it is bound to (and only then)."""
        account = self.mallory._o365_account()
        account.write({"email": "mallory@example.com", "state": "connected"})
        self.mallory._o365_settings().write({"o365_events_enabled": True})
        with mute_logger(ACCOUNT_LOGGER):
            self.assertTrue(account._o365_sync().fatal)
        self.assertEqual(account.state, "reconnect")
        self.mallory.with_user(self.env.ref("base.user_admin")).action_o365_assign_email_mailbox()
        self.assertEqual((account.state, account.mailbox_proof), ("connected", "assigned"))
        self.assertFalse(account._o365_sync().fatal)

    def test_reassignment_stops_the_account_until_it_connects_again(self):
        self.mallory.o365_assigned_mailbox = "mallory@example.com"
        self.mallory.with_user(self.mallory).action_o365_connect()
        account = self.mallory._o365_account()
        self.assertEqual(account.mailbox_proof, "assigned")
        self.emulator.reset_counters()
        self.mallory.o365_assigned_mailbox = "mallory2@example.com"
        self.assertEqual(account.state, "reconnect")
        self.assertIn("assigned another", account.last_error)
        with mute_logger(ACCOUNT_LOGGER):
            stats = account._o365_sync({"events"})
        self.assertIn("no longer the one assigned", stats.fatal)
        self.assertFalse(self.emulator.requests)

    def test_administrator_confirms_the_users_addresses(self):
        """The list action assigns each selected user's current address; a later change of the
        address changes nothing."""
        admin = self.env.ref("base.user_admin")
        self.mallory.with_user(admin).action_o365_assign_email_mailbox()
        self.assertEqual(self.mallory.o365_assigned_mailbox, "mallory@example.com")
        self.mallory.email = "director@example.com"
        self.mallory.with_user(self.mallory).action_o365_connect()
        self.assertEqual(self.mallory._o365_account().email, "mallory@example.com")


@tagged("post_install", "-at_install")
class TestSignedInMailbox(Office365HttpCase):
    """Delegated mode: the mailbox is the identity Microsoft signed in, whatever the address the
    user gave themself in Odoo (the address is only a login hint)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env, login="bind_eve", email="eve@example.com", groups="base.group_user"
        )
        cls.emulator.add_mailbox("eve@example.com", "Eve")
        cls.emulator.add_mailbox("ceo@example.com", "CEO")

    def test_sign_in_binds_the_signed_in_identity(self):
        self.user.email = "ceo@example.com"
        self.authenticate("bind_eve", "bind_eve")
        answer = self.url_open(START, allow_redirects=False)
        authorize = urlsplit(answer.headers["Location"])
        query = dict(parse_qsl(authorize.query))
        self.assertEqual(query["login_hint"], "ceo@example.com")
        # Eve signs in with her own credentials (the emulator signs in the hinted account).
        query["login_hint"] = "eve@example.com"
        page = requests.get(
            urlunsplit(authorize._replace(query=urlencode(query))),
            allow_redirects=False,
            verify=self.emulator.ca_path,
            timeout=10,
        )
        # The answer comes as a form posted to the callback (response_mode=form_post).
        _action, params = form_fields(page.text)
        answer = self.url_open(CALLBACK, data=params, allow_redirects=False)
        self.assertEqual(answer.status_code, 303, answer.text[:300])
        account = self.user._o365_account()
        self.assertEqual(
            (account.email, account.verified_mailbox, account.mailbox_proof),
            ("eve@example.com", "eve@example.com", "signed_in"),
        )
        # The proof holds in app-only mode too (same identity), and the address still decides
        # nothing.
        self.env["ir.config_parameter"].sudo().set_param(PARAM + "mode", "app")
        self.assertFalse(account._o365_binding_error())
        self.user.email = "eve@example.com"
        self.assertEqual(account.email, "eve@example.com")
