# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connect to Office 365 through the controller: PKCE flow against the emulator, refusals, and
the token cache kept encrypted and out of users' reach."""

import html
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Office365Case

START = "/office365_calendar_sync/oauth/start"
CALLBACK = "/office365_calendar_sync/oauth/callback"
CONTROLLER_LOGGER = "odoo.addons.office365_calendar_sync.controllers.main"


def form_fields(page):
    """The action and the hidden fields of the auto-submitting form of ``page``."""
    action = re.search(r"""<form[^>]*action=["']([^"']*)["']""", page).group(1)
    fields = re.findall(r"""name=["']([^"']+)["'] value=["']([^"']*)["']""", page)
    return html.unescape(action), {html.unescape(k): html.unescape(v) for k, v in fields}


class Office365HttpCase(Office365Case, HttpCase):
    """HttpCase with the emulator; the emulator accepts this server's callback."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator.register_app(
            CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI, cls.base_url() + CALLBACK]
        )
        cls.env["ir.config_parameter"].sudo().set_param("web.base.url", cls.base_url())


@tagged("post_install", "-at_install")
class TestOAuth(Office365HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env, login="oauth_user", email="oauth.user@example.com", groups="base.group_user"
        )
        cls.mailbox = cls.emulator.add_mailbox("oauth.user@example.com", display_name="OAuth")

    def _authorize(self):
        """Open the start URL as the user; return the emulator's redirect back to Odoo."""
        self.authenticate("oauth_user", "oauth_user")
        answer = self.url_open(START, allow_redirects=False)
        self.assertEqual(answer.status_code, 303, answer.text[:300])
        authorize = answer.headers["Location"]
        self.assertTrue(authorize.startswith(self.emulator.root_url), authorize)
        query = dict(parse_qsl(urlsplit(authorize).query))
        self.assertEqual(query["code_challenge_method"], "S256")
        self.assertEqual(query["redirect_uri"], self.base_url() + CALLBACK)
        self.assertEqual(query["login_hint"], "oauth.user@example.com")
        # The answer comes as a form posted to the callback, never in a URL.
        self.assertEqual(query["response_mode"], "form_post")
        page = requests.get(
            authorize, allow_redirects=False, verify=self.emulator.ca_path, timeout=10
        )
        self.assertEqual(page.status_code, 200)
        action, fields = form_fields(page.text)
        self.assertEqual(urlsplit(action).path, CALLBACK)
        self.assertIn("code", fields)
        return fields

    def _callback(self, params):
        return self.url_open(CALLBACK, data=params, allow_redirects=False)

    def test_connect(self):
        params = self._authorize()
        answer = self._callback(params)
        self.assertEqual(answer.status_code, 303, answer.text[:300])
        # Back to the preferences (opened on their Office 365 Calendar tab by the client action).
        self.assertTrue(
            answer.headers["Location"].endswith(
                "/web#action=office365_calendar_sync.res_users_action_o365_signed_in"
            ),
            answer.headers["Location"],
        )
        account = self.user._o365_account()
        self.assertEqual(account.state, "connected")
        self.assertEqual(account.email, "oauth.user@example.com")
        self.assertEqual(self.user.o365_account_state, "connected")
        # Stored encrypted: no token, no account name in clear.
        raw = account.token_cache
        self.assertTrue(raw)
        self.assertNotIn("refresh_token", raw)
        self.assertNotIn("oauth.user@example.com", raw)
        self.assertIn("RefreshToken", account._o365_read_token_cache())
        # The stored cache works: a sync run reaches the mailbox.
        self.user._o365_start("events")
        stats = self.o365_sync(self.user)
        self.assertFalse(stats.fatal)
        # A replayed callback is refused: the flow is used once.
        with mute_logger(CONTROLLER_LOGGER):
            again = self._callback(params)
        self.assertEqual(again.status_code, 400)

    def test_state_mismatch_refused(self):
        params = self._authorize()
        tokens_before = self.emulator.counters.get("POST /oauth2/v2.0/token", 0)
        with self.assertLogs(CONTROLLER_LOGGER, "WARNING") as logs:
            answer = self._callback({**params, "state": "forged-state"})
        self.assertEqual(answer.status_code, 400)
        self.assertIn("state does not match", answer.text)
        self.assertIn("state mismatch", logs.output[0])
        self.assertEqual(self.user._o365_account().state, "disconnected")
        self.assertFalse(self.user._o365_account().token_cache)
        # The code was never redeemed.
        self.assertEqual(self.emulator.counters.get("POST /oauth2/v2.0/token", 0), tokens_before)

    def test_bad_code_refused(self):
        params = self._authorize()
        with self.assertLogs(CONTROLLER_LOGGER, "WARNING"):
            answer = self._callback({**params, "code": "not-a-code"})
        self.assertEqual(answer.status_code, 400)
        self.assertIn("failed", answer.text)
        self.assertEqual(self.user._o365_account().state, "disconnected")

    def test_identity_error_shown(self):
        params = self._authorize()
        with self.assertLogs(CONTROLLER_LOGGER, "WARNING"):
            answer = self._callback(
                {
                    "state": params["state"],
                    "error": "access_denied",
                    "error_description": "The user declined <b>consent</b>",
                }
            )
        self.assertEqual(answer.status_code, 400)
        self.assertIn("The user declined &lt;b&gt;consent&lt;/b&gt;", answer.text)

    def test_refusal_in_odoo_layout(self):
        params = self._authorize()
        with self.assertLogs(CONTROLLER_LOGGER, "WARNING"):
            answer = self._callback(
                {"state": params["state"], "error": "access_denied", "error_description": "No"}
            )
        self.assertEqual(answer.status_code, 400)
        # Odoo's page (its assets and the company logo), with a way back.
        self.assertIn("/web/assets/", answer.text)
        self.assertIn("/web/binary/company_logo", answer.text)
        self.assertIn("o365_back", answer.text)
        self.assertIn("Microsoft refused the sign-in: No", answer.text)

    def test_account_not_in_the_tenant(self):
        """The identity platform does not know the user's address (AADSTS50034): say so."""
        stranger = new_test_user(
            self.env, login="oauth_stranger", email="stranger@elsewhere.example.net"
        )
        self.authenticate("oauth_stranger", "oauth_stranger")
        start = self.url_open(START, allow_redirects=False)
        page = requests.get(
            start.headers["Location"],
            allow_redirects=False,
            verify=self.emulator.ca_path,
            timeout=10,
        )
        _action, fields = form_fields(page.text)
        self.assertIn("AADSTS50034", fields["error_description"])
        with self.assertLogs(CONTROLLER_LOGGER, "WARNING"):
            answer = self._callback(fields)
        self.assertEqual(answer.status_code, 400)
        self.assertIn(
            "Microsoft 365 has no account stranger@elsewhere.example.net in your "
            "organization&#39;s directory.",
            answer.text,
        )
        self.assertEqual(stranger._o365_account().state, "disconnected")

    def test_callback_without_sign_in(self):
        self.authenticate("oauth_user", "oauth_user")
        answer = self._callback({"code": "x", "state": "y"})
        self.assertEqual(answer.status_code, 400)
        self.assertIn("No sign-in", answer.text)

    def test_redirect_uri_is_the_public_base_url(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "office365_calendar_sync.public_base_url", "https://odoo.example.com/"
        )
        self.authenticate("oauth_user", "oauth_user")
        answer = self.url_open(START, allow_redirects=False)
        query = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
        self.assertEqual(query["redirect_uri"], "https://odoo.example.com" + CALLBACK)

    def test_start_needs_login(self):
        answer = self.url_open(START, allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303))
        self.assertIn("/web/login", answer.headers["Location"])

    def test_token_cache_not_readable_by_users(self):
        self._callback(self._authorize())
        account = self.user._o365_account()
        self.assertEqual(account.state, "connected")
        other = new_test_user(self.env, login="oauth_other", groups="base.group_user")
        for user in (self.user, other):
            with self.assertRaises(AccessError):
                self.env["office365.account"].with_user(user).search([])
            with self.assertRaises(AccessError):
                account.with_user(user).read(["token_cache"])
            # The user's own preferences expose the address and state, never the tokens.
            data = self.user.with_user(self.user).read(["o365_account_email"])[0]
            self.assertEqual(data["o365_account_email"], "oauth.user@example.com")
        # Through RPC as well.
        self.authenticate("oauth_other", "oauth_other")
        answer = self.url_open(
            "/web/dataset/call_kw/office365.account/search_read",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "model": "office365.account",
                        "method": "search_read",
                        "args": [[]],
                        "kwargs": {"fields": ["token_cache"]},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        self.assertIn("error", answer.json())
        self.assertNotIn("result", answer.json())


@tagged("post_install", "-at_install")
class TestAppOnlyConnect(Office365Case):
    """Tenant-wide application permission: Connect checks the app's access, no user sign-in."""

    def test_connect_app_only(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("office365_calendar_sync.mode", "app")
        params.set_param("office365_calendar_sync.tenant", self.emulator.tenant_id)
        user = new_test_user(
            self.env, login="app_user", email="app.user@example.com", groups="base.group_user"
        )
        mailbox = self.emulator.add_mailbox("app.user@example.com", display_name="App user")
        user.o365_assigned_mailbox = "app.user@example.com"  # by an administrator
        mailbox.create_event(
            {
                "subject": "Read with the application's permission",
                "start": {"dateTime": "2030-01-02T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2030-01-02T11:00:00", "timeZone": "UTC"},
            }
        )
        user.with_user(user).action_o365_connect()
        account = user._o365_account()
        self.assertEqual(account.state, "connected")
        self.assertEqual(account.email, "app.user@example.com")
        user._o365_start("events")
        self.assertFalse(self.o365_sync(user).fatal)
        self.assertGreaterEqual(self.emulator.counters["GET /users/{id}/calendarView/delta"], 1)

    def test_connect_app_only_refused(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("office365_calendar_sync.mode", "app")
        params.set_param("office365_calendar_sync.tenant", self.emulator.tenant_id)
        params.set_param("office365_calendar_sync.client_secret", "wrong-secret")
        user = new_test_user(
            self.env, login="app_user2", email="app.user2@example.com", groups="base.group_user"
        )
        user.o365_assigned_mailbox = "app.user2@example.com"
        with self.assertRaisesRegex(UserError, "refused the application's access"):
            user.with_user(user).action_o365_connect()
        self.assertEqual(user._o365_account().state, "disconnected")


@tagged("post_install", "-at_install")
class TestAdminConsent(Office365HttpCase):
    """The administrator consent round trip (app-only mode): state checked, consent recorded."""

    def _start(self):
        self.authenticate("admin", "admin")
        answer = self.url_open(
            "/office365_calendar_sync/oauth/adminconsent/start", allow_redirects=False
        )
        self.assertEqual(answer.status_code, 303)
        location = urlsplit(answer.headers["Location"])
        self.assertTrue(location.path.endswith("/v2.0/adminconsent"))
        query = dict(parse_qsl(location.query))
        self.assertEqual(query["client_id"], CLIENT_ID)
        self.assertEqual(
            query["redirect_uri"], self.base_url() + "/office365_calendar_sync/oauth/adminconsent"
        )
        return query["state"]

    def test_consent_recorded(self):
        state = self._start()
        answer = self.url_open(
            "/office365_calendar_sync/oauth/adminconsent?"
            + urlencode({"admin_consent": "True", "state": state, "tenant": "contoso-tenant-id"}),
            allow_redirects=False,
        )
        self.assertEqual(answer.status_code, 303)
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("office365_calendar_sync.admin_consent"), "True")
        self.assertEqual(params.get_param("office365_calendar_sync.tenant"), "contoso-tenant-id")

    def test_consent_state_mismatch_refused(self):
        self._start()
        answer = self.url_open(
            "/office365_calendar_sync/oauth/adminconsent?"
            + urlencode({"admin_consent": "True", "state": "forged"}),
            allow_redirects=False,
        )
        self.assertEqual(answer.status_code, 400)
        self.assertFalse(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("office365_calendar_sync.admin_consent")
        )

    def test_consent_needs_an_administrator(self):
        new_test_user(self.env, login="consent_user", groups="base.group_user")
        self.authenticate("consent_user", "consent_user")
        answer = self.url_open(
            "/office365_calendar_sync/oauth/adminconsent/start", allow_redirects=False
        )
        self.assertEqual(answer.status_code, 400)
