# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Token cache encryption: server keys, rotation, the legacy key of earlier versions."""

import pytest
from cryptography.fernet import InvalidToken

from services.tokenkeys import (
    TokenBox,
    TokenKeyMissing,
    legacy_fernet,
    server_fernet,
    split_keys,
)

KEY_1 = "k1-" + "a" * 40
KEY_2 = "k2-" + "b" * 40


def test_server_key_is_needed_to_encrypt():
    box = TokenBox(None, legacy=legacy_fernet("database secret"))
    assert not box.can_encrypt
    with pytest.raises(TokenKeyMissing):
        box.encrypt("tokens")


def test_short_server_keys_are_refused():
    with pytest.raises(ValueError, match="at least 32"):
        server_fernet("too short")
    with pytest.raises(ValueError):
        server_fernet(" " * 40)


def test_rotation_current_old_and_legacy():
    legacy = legacy_fernet("database secret")
    old_box = TokenBox(server_fernet(KEY_1))
    token = old_box.encrypt("tokens")
    assert old_box.decrypt(token) == ("tokens", False)
    box = TokenBox(server_fernet(KEY_2), [server_fernet(KEY_1)], legacy)
    assert box.decrypt(token) == ("tokens", True), "opened by an old key: stale"
    fresh = box.encrypt("tokens")
    assert box.decrypt(fresh) == ("tokens", False)
    with pytest.raises(InvalidToken):
        old_box.decrypt(fresh)
    earlier = legacy.encrypt(b"tokens").decode()
    assert box.decrypt(earlier) == ("tokens", True)
    with pytest.raises(InvalidToken):
        TokenBox(server_fernet(KEY_2)).decrypt(token)


def test_legacy_key_as_current_in_developer_mode_is_not_stale():
    legacy = legacy_fernet("database secret")
    box = TokenBox(legacy, legacy=legacy)
    assert box.decrypt(box.encrypt("tokens")) == ("tokens", False)


def test_split_keys():
    assert split_keys(" a , ,b,") == ["a", "b"]
    assert split_keys(None) == []
