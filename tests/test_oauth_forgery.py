# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The OAuth callback under attack, through Odoo's HTTP server: a forged state never cancels a
sign-in in progress, the code never travels in a URL (form_post), and the cross-site POST of the
identity platform is relayed same-site, state-checked."""

import logging

import requests

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .test_oauth import CALLBACK, CONTROLLER_LOGGER, START, Office365HttpCase, form_fields

TOKEN = "POST /oauth2/v2.0/token"


@tagged("post_install", "-at_install")
class TestOAuthForgery(Office365HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env,
            login="forgery_user",
            email="forgery.user@example.com",
            groups="base.group_user",
        )
        cls.emulator.add_mailbox("forgery.user@example.com", display_name="Forgery")

    def _answer(self):
        """Start the sign-in as the user; the fields Entra ID's page would post back."""
        self.authenticate("forgery_user", "forgery_user")
        start = self.url_open(START, allow_redirects=False)
        self.assertEqual(start.status_code, 303)
        page = requests.get(
            start.headers["Location"],
            allow_redirects=False,
            verify=self.emulator.ca_path,
            timeout=10,
        )
        self.assertEqual(page.status_code, 200, "form_post: a page, not a redirect")
        action, fields = form_fields(page.text)
        self.assertEqual(action, self.base_url() + CALLBACK)
        return fields

    def _tokens(self):
        return self.emulator.counters.get(TOKEN, 0)

    def test_forged_state_does_not_cancel_the_sign_in_in_progress(self):
        fields = self._answer()
        tokens = self._tokens()
        # A cross-site link (top-level GET: the browser sends the session cookie) and a forged
        # POST, both with a state the attacker made up.
        with mute_logger(CONTROLLER_LOGGER):
            forged_get = self.url_open(
                f"{CALLBACK}?code=attacker-code&state=forged", allow_redirects=False
            )
            forged_post = self.url_open(
                CALLBACK, data={"code": "attacker-code", "state": "forged"}, allow_redirects=False
            )
            no_state = self.url_open(CALLBACK, data={"code": "x"}, allow_redirects=False)
        for answer in (forged_get, forged_post, no_state):
            self.assertEqual(answer.status_code, 400)
            self.assertIn("state does not match", answer.text)
        self.assertEqual(self._tokens(), tokens, "no code redeemed for a forged state")
        # The user's own answer, arriving afterwards, still completes the sign-in.
        answer = self.url_open(CALLBACK, data=fields, allow_redirects=False)
        self.assertEqual(answer.status_code, 303, answer.text[:300])
        account = self.user._o365_account()
        self.assertEqual(account.state, "connected")
        self.assertEqual(account.email, "forgery.user@example.com")

    def test_code_never_in_a_url_nor_the_access_log(self):
        fields = self._answer()
        with self.assertLogs("werkzeug", logging.INFO) as access:
            answer = self.url_open(CALLBACK, data=fields, allow_redirects=False)
        self.assertEqual(answer.status_code, 303)
        self.assertTrue(access.output)
        for line in access.output:
            self.assertNotIn(fields["code"], line)
        self.assertNotIn(fields["code"], answer.headers["Location"])

    def test_cross_site_post_without_cookie_is_relayed_same_site(self):
        fields = self._answer()
        tokens = self._tokens()
        # The identity platform's POST reaches Odoo without the session cookie (SameSite).
        with requests.Session() as browser:
            relay = browser.post(
                self.base_url() + CALLBACK, data=fields, allow_redirects=False, timeout=10
            )
        self.assertEqual(relay.status_code, 200)
        self.assertEqual(relay.headers["Cache-Control"], "no-store")
        # No new session cookie: it would replace the user's own in the browser.
        self.assertNotIn("Set-Cookie", relay.headers)
        self.assertEqual(self._tokens(), tokens, "nothing redeemed without the user's session")
        action, relayed = form_fields(relay.text)
        self.assertEqual(action, CALLBACK)
        self.assertEqual(relayed.pop("office365_relayed"), "1")
        self.assertEqual(relayed, fields)
        # The page re-posts from Odoo's origin: same-site, with the cookie.
        answer = self.url_open(
            CALLBACK, data={**relayed, "office365_relayed": "1"}, allow_redirects=False
        )
        self.assertEqual(answer.status_code, 303, answer.text[:300])
        self.assertEqual(self.user._o365_account().state, "connected")

    def test_relayed_post_without_session_stops(self):
        fields = self._answer()
        with requests.Session() as browser:
            answer = browser.post(
                self.base_url() + CALLBACK,
                data={**fields, "office365_relayed": "1"},
                allow_redirects=False,
                timeout=10,
            )
            get = browser.get(
                f"{self.base_url()}{CALLBACK}?code=x&state=y", allow_redirects=False, timeout=10
            )
        self.assertEqual(answer.status_code, 400)
        self.assertIn("Sign in to Odoo first", answer.text)
        self.assertEqual(get.status_code, 400)
        self.assertNotIn("Set-Cookie", answer.headers)
        self.assertEqual(self.user._o365_account().state, "disconnected")

    def test_relay_page_escapes_what_it_echoes(self):
        with requests.Session() as browser:
            relay = browser.post(
                self.base_url() + CALLBACK,
                data={"state": '"><script>alert(1)</script>', "code": "c"},
                allow_redirects=False,
                timeout=10,
            )
        self.assertEqual(relay.status_code, 200)
        self.assertNotIn("<script>alert(1)", relay.text)
        self.assertIn("&lt;script&gt;", relay.text)
