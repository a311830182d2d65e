"""Encryption of the stored token caches with keys that live outside the database.

The key comes from the server's configuration (``office365_token_key`` in odoo.conf, or the
environment variable ``O365_TOKEN_KEY``), never from the database: a dump or a backup alone then
opens no refresh token. Any secret of at least :data:`MIN_KEY_LENGTH` characters works (e.g. the
output of ``python3 -c "import secrets; print(secrets.token_urlsafe(32))"``); the Fernet key is
derived from it with SHA-256.

Rotation: put the new key in ``office365_token_key`` and the previous ones, comma-separated, in
``office365_token_old_keys`` (``O365_TOKEN_OLD_KEYS``). Caches are decrypted with any of them and
written back with the current key on their next use; once none is left (see
``office365.account._o365_reencrypt_token_caches``), drop the old keys.

The legacy key (derived from ``database.secret``, which is in the database) only decrypts what
earlier versions stored, so they are re-encrypted with the server key on first use; it encrypts
only in developer or test mode without a server key, with a warning every time.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from .errors import AuthError

MIN_KEY_LENGTH = 32
_CONTEXT = b"office365_calendar_sync token cache\x00"


class TokenKeyMissing(AuthError):
    """No server key to encrypt tokens with, outside developer and test mode."""

    def __init__(self, message):
        super().__init__(0, "token_key_missing", message)


def server_fernet(secret):
    """The Fernet of a server key; ValueError when it is too short to be a key."""
    secret = (secret or "").strip()
    if len(secret) < MIN_KEY_LENGTH:
        raise ValueError(f"an office365_token_key must have at least {MIN_KEY_LENGTH} characters")
    digest = hashlib.sha256(_CONTEXT + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def legacy_fernet(database_secret):
    """The key earlier versions derived from ``database.secret`` (decryption of old rows)."""
    digest = hashlib.sha256((database_secret + ":office365_calendar_sync").encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def split_keys(value):
    """Old keys as configured: comma-separated, blanks ignored."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class TokenBox:
    """Encrypts with the current key; decrypts with the current, old and legacy keys.

    :param current: the Fernet to encrypt with (None: encryption refused).
    :param old: Fernets of previous keys (decryption only).
    :param legacy: the database-derived Fernet (decryption only, unless it is ``current``).
    """

    def __init__(self, current=None, old=(), legacy=None):
        self.current = current
        self._readers = [f for f in (current, *old, legacy) if f is not None]

    @property
    def can_encrypt(self):
        return self.current is not None

    def encrypt(self, text):
        if self.current is None:
            raise TokenKeyMissing("no token encryption key")
        return self.current.encrypt(text.encode()).decode()

    def decrypt(self, token):
        """``(text, stale)``: stale when a key other than the current one opened it.

        Raises :class:`cryptography.fernet.InvalidToken` when no key opens it."""
        data = token.encode()
        for index, fernet in enumerate(self._readers):
            try:
                text = fernet.decrypt(data).decode()
            except InvalidToken:
                continue
            return text, not (index == 0 and self.current is not None)
        raise InvalidToken()
