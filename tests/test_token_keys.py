# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Where the keys live: stored tokens open only with the server's key (never with anything in
the database), keys rotate, production refuses to store tokens without a key, and the Azure
client secret stays out of the database when the server provides it."""

import contextlib
import os
from unittest.mock import patch

from cryptography.fernet import InvalidToken

from odoo.addons.office365_calendar_sync.services.tokenkeys import (
    TokenKeyMissing,
    legacy_fernet,
    server_fernet,
)
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import config, mute_logger

from .common import CLIENT_SECRET, PARAM, Office365Case

ACCOUNT_LOGGER = "odoo.addons.office365_calendar_sync.models.office365_account"
KEY_1 = "first-server-key-for-office365-tokens-aaaaaaaa"
KEY_2 = "second-server-key-for-office365-tokens-bbbbbbb"
ENV_NAMES = ("O365_TOKEN_KEY", "O365_TOKEN_OLD_KEYS", "O365_CLIENT_SECRET")


@contextlib.contextmanager
def server_config(**options):
    """The server configuration holds exactly ``options`` (odoo.conf options, no environment
    variables) while the block runs."""
    values = {
        "office365_token_key": None,
        "office365_token_old_keys": None,
        "office365_client_secret": None,
        "dev_mode": [],
        "test_enable": False,
    }
    values.update(options)
    environ = {name: value for name, value in os.environ.items() if name not in ENV_NAMES}
    with patch.dict(config.options, values), patch.dict(os.environ, environ, clear=True):
        yield


@tagged("post_install", "-at_install")
class TestTokenKeys(Office365Case):
    def _connected(self, login):
        user, _mailbox = self._o365_user(login, options=("events",))
        return user, user._o365_account()

    def _stored(self, account):
        self.env.flush_all()
        self.env.cr.execute("SELECT token_cache FROM office365_account WHERE id = %s", [account.id])
        return self.env.cr.fetchone()[0]

    # ------------------------------------------------------------------
    def test_a_copy_of_the_database_alone_opens_no_token(self):
        with server_config(office365_token_key=KEY_1):
            _user, account = self._connected("keys_dump")
            stored = self._stored(account)
            self.assertIn("RefreshToken", account._o365_read_token_cache())
        # The attacker has every table: the ciphertext and every system parameter, among them
        # database.secret. None of them, used the way this addon derives keys, opens it.
        self.assertNotIn("refresh_token", stored)
        self.env.cr.execute("SELECT key, value FROM ir_config_parameter")
        candidates = [value for _key, value in self.env.cr.fetchall() if value]
        self.assertIn(
            self.env["ir.config_parameter"].sudo().get_param("database.secret"), candidates
        )
        for value in candidates:
            fernets = [legacy_fernet(value)]
            if len(value.strip()) >= 32:
                fernets.append(server_fernet(value))
            for fernet in fernets:
                with self.assertRaises(InvalidToken):
                    fernet.decrypt(stored.encode())
        # The server's key does.
        self.assertIn(b"RefreshToken", server_fernet(KEY_1).decrypt(stored.encode()))

    def test_rotation_reads_old_keys_and_writes_the_new_one(self):
        with server_config(office365_token_key=KEY_1):
            user, account = self._connected("keys_rotate")
            _other_user, other = self._connected("keys_rotate_other")
            before = self._stored(account)
        with server_config(
            office365_token_key=KEY_2, office365_token_old_keys=f" x{KEY_1}, {KEY_1}"
        ):
            # Used: opened with the old key, written back with the new one.
            stats = self.o365_sync(user)
            self.assertFalse(stats.fatal)
            after = self._stored(account)
            self.assertNotEqual(after, before)
            server_fernet(KEY_2).decrypt(after.encode())
            with self.assertRaises(InvalidToken):
                server_fernet(KEY_1).decrypt(after.encode())
            # Not used: the sync job's sweep re-encrypts it.
            self.assertEqual(self.env["office365.account"]._o365_reencrypt_token_caches(), 1)
            server_fernet(KEY_2).decrypt(self._stored(other).encode())
            self.assertEqual(self.env["office365.account"]._o365_reencrypt_token_caches(), 0)
        # The old key can go: everything opens with the new one alone.
        with server_config(office365_token_key=KEY_2):
            self.assertIn("RefreshToken", other._o365_read_token_cache())
            self.assertFalse(self.o365_sync(user).fatal)

    def test_caches_of_earlier_versions_are_moved_to_the_server_key(self):
        with server_config(office365_token_key=KEY_1):
            _user, account = self._connected("keys_legacy")
            state = account._o365_read_token_cache()
        database_secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        legacy = legacy_fernet(database_secret).encrypt(state.encode()).decode()
        account.sudo().token_cache = legacy
        with server_config(office365_token_key=KEY_1):
            self.assertEqual(account._o365_read_token_cache(), state)
            moved = self._stored(account)
        self.assertNotEqual(moved, legacy)
        with self.assertRaises(InvalidToken):
            legacy_fernet(database_secret).decrypt(moved.encode())
        self.assertEqual(server_fernet(KEY_1).decrypt(moved.encode()).decode(), state)

    def test_production_without_a_key_stores_no_token(self):
        with server_config(office365_token_key=KEY_1):
            user, account = self._connected("keys_prod")
        stored = self._stored(account)
        new_user = new_test_user(
            self.env,
            login="keys_prod_new",
            email="keys_prod_new@example.com",
            groups="base.group_user",
        )
        with server_config():
            # Connecting is refused before any sign-in starts.
            with self.assertRaisesRegex(UserError, "office365_token_key"):
                new_user.with_user(new_user).action_o365_connect()
            with self.assertRaises(TokenKeyMissing):
                account._o365_store_token_cache('{"RefreshToken": {}}')
            # A run stops before any token is used (a rotated refresh token would be lost).
            self.emulator.reset_counters()
            with mute_logger(ACCOUNT_LOGGER):
                stats = self.o365_sync(user)
            self.assertIn("office365_token_key", stats.fatal)
            self.assertEqual(self.emulator.counters["total"], 0)
            self.assertEqual(self._stored(account), stored)
            self.assertEqual(account.state, "connected", "configuring the key is enough")
        # A key too short to be one is refused, never replaced by the database's.
        with server_config(office365_token_key="short"), self.assertRaises(TokenKeyMissing):
            account._o365_store_token_cache('{"RefreshToken": {}}')

    def test_developer_mode_without_a_key_warns_loudly(self):
        with server_config(office365_token_key=KEY_1):
            _user, account = self._connected("keys_dev")
            state = account._o365_read_token_cache()
        with server_config(dev_mode=["all"]):
            with self.assertLogs(ACCOUNT_LOGGER, "WARNING") as logs:
                account._o365_store_token_cache(state)
            self.assertIn("office365_token_key is not set", logs.output[0])
            self.assertEqual(account._o365_read_token_cache(), state)

    # ------------------------------------------------------------------
    def test_client_secret_from_the_server_stays_out_of_the_database(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "client_secret", "stale-secret-in-the-database")
        with server_config(office365_token_key=KEY_1, office365_client_secret=CLIENT_SECRET):
            config_used = self.env["office365.account"]._o365_config()
            self.assertEqual(config_used["client_secret"], CLIENT_SECRET)
            # Tokens are obtained with the server's secret (the stored one is wrong).
            user, _mailbox = self._o365_user("keys_secret", options=("events",))
            self.assertFalse(self.o365_sync(user).fatal)
            settings = self.env["res.config.settings"].create({})
            self.assertTrue(settings.o365_client_secret_from_server)
            settings.o365_client_secret = "typed-in-the-settings"
            settings.execute()
            self.assertFalse(params.get_param(PARAM + "client_secret"))
        self.assertFalse(self.env["res.config.settings"].create({}).o365_client_secret_from_server)
