"""Token provider (msal) against the emulator's identity endpoints."""

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from services.auth import DELEGATED_SCOPES, TokenProvider
from services.errors import AuthError, ReconnectNeeded, ThrottledError, TransportError

CLIENT_ID = "emulator-test-client"
SECRET = "emulator-test-secret"
REDIRECT = "https://odoo.example.com/office365_calendar_sync/oauth"


def _refresh_tokens(state):
    return sorted(rt["secret"] for rt in json.loads(state).get("RefreshToken", {}).values())


def _provider(emulator, authority=None, **kwargs):
    authority = authority or emulator.authority
    return TokenProvider(CLIENT_ID, SECRET, authority, verify=emulator.ca_path, **kwargs)


def test_pkce_flow_connects(emulator, connect, make_client):
    provider = _provider(emulator)
    emulator.add_mailbox("alice@example.com")
    flow = provider.start_auth(REDIRECT, login_hint="alice@example.com")
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert flow["auth_uri"].startswith(emulator.authority + "/oauth2/v2.0/authorize?")
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0] and query["state"] == [flow["state"]]
    # msal adds the OpenID scopes itself; ours are all requested.
    scopes = query["scope"][0].split()
    assert set(DELEGATED_SCOPES) | {"offline_access", "openid", "profile"} == set(scopes)

    provider = connect("bob@example.com")
    assert provider.account_username == "bob@example.com"
    state = provider.cache_state()
    assert state and len(_refresh_tokens(state)) == 1
    assert provider.cache_state() is None  # unchanged since the last call
    assert make_client(provider=provider).get_me()["mail"] == "bob@example.com"


def test_finish_auth_reports_the_account(emulator):
    emulator.add_mailbox("carol@example.com", "Carol Jones")
    provider = _provider(emulator)
    flow = provider.start_auth(REDIRECT)
    code = emulator.authorize_code(
        "carol@example.com",
        CLIENT_ID,
        REDIRECT,
        _challenge(flow),
        nonce=parse_qs(urlsplit(flow["auth_uri"]).query)["nonce"][0],
    )
    account = provider.finish_auth(flow, {"code": code, "state": flow["state"]})
    assert account["email"] == "carol@example.com"
    assert account["name"] == "Carol Jones"
    assert account["tenant_id"] == emulator.tenant_id
    assert "Calendars.ReadWrite" in account["scopes"]
    assert provider.get_token()


def _challenge(flow):
    return parse_qs(urlsplit(flow["auth_uri"]).query)["code_challenge"][0]


def test_state_mismatch_rejected(emulator):
    emulator.add_mailbox("alice@example.com")
    provider = _provider(emulator)
    flow = provider.start_auth(REDIRECT)
    code = emulator.authorize_code("alice@example.com", CLIENT_ID, REDIRECT, _challenge(flow))
    with pytest.raises(AuthError) as info:
        provider.finish_auth(flow, {"code": code, "state": "forged-state"})
    assert info.value.code == "invalid_state"
    assert "state mismatch" in str(info.value)
    # Nothing was redeemed: no account is connected.
    with pytest.raises(ReconnectNeeded):
        provider.get_token()


def test_bad_code_and_wrong_verifier_rejected(emulator):
    emulator.add_mailbox("alice@example.com")
    provider = _provider(emulator)
    flow = provider.start_auth(REDIRECT)
    with pytest.raises(AuthError) as info:
        provider.finish_auth(flow, {"code": "0.EMUCODEnot-issued", "state": flow["state"]})
    assert info.value.code == "invalid_grant"
    # A code issued for another PKCE challenge cannot be redeemed with this flow's verifier.
    flow = provider.start_auth(REDIRECT)
    code = emulator.authorize_code("alice@example.com", CLIENT_ID, REDIRECT, "x" * 43)
    with pytest.raises(AuthError) as info:
        provider.finish_auth(flow, {"code": code, "state": flow["state"]})
    assert info.value.code == "invalid_grant"
    assert "Code_Verifier" in info.value.message


def test_denied_consent_is_an_auth_error(emulator):
    provider = _provider(emulator)
    flow = provider.start_auth(REDIRECT)
    with pytest.raises(AuthError) as info:
        provider.finish_auth(
            flow,
            {"error": "access_denied", "error_description": "denied", "state": flow["state"]},
        )
    assert info.value.code == "access_denied"


def test_refresh_rotates_and_old_refresh_token_dies(emulator, token_provider):
    first = token_provider.cache_state()
    old_rt = _refresh_tokens(first)
    access = token_provider.get_token()
    assert token_provider.get_token() == access  # served from the cache
    assert token_provider.cache_state() is None

    refreshed = token_provider.get_token(force_refresh=True)
    assert refreshed != access
    second = token_provider.cache_state()
    assert second is not None
    new_rt = _refresh_tokens(second)
    assert len(new_rt) == 1 and new_rt != old_rt

    # A worker that kept the old cache cannot refresh any more: rotation is strict.
    stale = _provider(emulator, cache_state=first)
    with pytest.raises(ReconnectNeeded) as info:
        stale.get_token(force_refresh=True)
    assert info.value.code == "invalid_grant"
    # The persisted new state keeps working.
    fresh = _provider(emulator, cache_state=second, account_username="alice@example.com")
    assert fresh.get_token(force_refresh=True)


def test_revoked_refresh_token_needs_reconnect(emulator, token_provider, make_client):
    token_provider.cache_state()
    emulator.faults.add("revoke_refresh")
    # The access token still works until Graph rejects it...
    assert make_client().get_me()["mail"] == "alice@example.com"
    emulator.faults.add("expire_access")
    # ... then the forced refresh fails with invalid_grant: reconnect, not a crash.
    with pytest.raises(ReconnectNeeded) as info:
        make_client().get_me()
    assert info.value.code == "invalid_grant"
    assert emulator.faults.injected["revoke_refresh"] == 1


def test_no_account_needs_reconnect(emulator):
    with pytest.raises(ReconnectNeeded):
        _provider(emulator).get_token()
    with pytest.raises(ReconnectNeeded):
        _provider(emulator, cache_state="not json").get_token()


def test_clear_forgets_tokens(token_provider):
    token_provider.cache_state()
    token_provider.clear()
    state = token_provider.cache_state()
    assert state is not None and _refresh_tokens(state) == []
    with pytest.raises(ReconnectNeeded):
        token_provider.get_token()


def test_app_only_client_credentials(emulator, make_client):
    emulator.add_mailbox("alice@example.com")
    emulator.add_mailbox("bob@example.com")
    authority = f"{emulator.root_url}/{emulator.tenant_id}"
    provider = _provider(emulator, app_only=True, authority=authority)
    assert provider.scopes == ["https://graph.microsoft.com/.default"]
    token = provider.get_token()
    assert provider.get_token() == token  # cached
    assert provider.get_token(force_refresh=True) != token
    graph = make_client(provider=provider, mailbox="bob@example.com")
    assert graph.get_me()["mail"] == "bob@example.com"
    assert emulator.counters["GET /users/{id}"] == 1
    with pytest.raises(AuthError):
        provider.start_auth(REDIRECT)


def test_app_only_wrong_secret(emulator):
    authority = f"{emulator.root_url}/{emulator.tenant_id}"
    provider = TokenProvider(CLIENT_ID, "wrong", authority, verify=emulator.ca_path, app_only=True)
    with pytest.raises(AuthError) as info:
        provider.get_token()
    assert info.value.code == "invalid_client"
    assert not isinstance(info.value, ReconnectNeeded)


def test_reserved_scopes_are_dropped(emulator):
    provider = _provider(emulator, scopes=["Calendars.ReadWrite", "offline_access", "openid"])
    assert provider.scopes == ["Calendars.ReadWrite"]


def test_tokens_and_secret_never_logged(emulator, connect, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    provider = connect("dave@example.com")
    provider.get_token(force_refresh=True)
    make_client(provider=provider).get_me()
    state = json.loads(provider.serialize())
    secrets_seen = [SECRET] + _refresh_tokens(json.dumps(state))
    secrets_seen += [at["secret"] for at in state["AccessToken"].values()]
    for secret in secrets_seen:
        assert secret not in caplog.text
    assert SECRET not in repr(provider)


@pytest.mark.parametrize(
    ("kind", "error"), [("unavailable", ThrottledError), ("drop", TransportError)]
)
def test_identity_outage_is_transient_not_reconnect(emulator, token_provider, kind, error):
    emulator.faults.add(kind, path_contains="/oauth2/v2.0/token", retry_after=1)
    with pytest.raises(error) as info:
        token_provider.get_token(force_refresh=True)
    assert not isinstance(info.value, ReconnectNeeded)
    # The refresh token was not used up: a new worker with the same cache goes on.
    state = token_provider.serialize()
    later = _provider(emulator, cache_state=state, account_username="alice@example.com")
    assert later.get_token(force_refresh=True)


def test_refresh_rotated_by_another_worker_is_reloaded(emulator, token_provider):
    shared = {"state": token_provider.serialize()}  # what the database holds
    worker_a = _provider(
        emulator, cache_state=shared["state"], cache_loader=lambda: shared["state"]
    )
    worker_b = _provider(
        emulator, cache_state=shared["state"], cache_loader=lambda: shared["state"]
    )
    assert worker_a.get_token(force_refresh=True)
    shared["state"] = worker_a.cache_state()
    # Worker B still holds the used refresh token: it reloads the saved cache, not reconnect.
    assert worker_b.get_token(force_refresh=True)
    assert worker_b.cache_state() is not None
    # Without a newer saved state, a refused refresh token still means reconnect.
    worker_c = _provider(emulator, cache_state=shared["state"], cache_loader=lambda: None)
    worker_b_state = worker_b.serialize()
    assert _refresh_tokens(worker_b_state) != _refresh_tokens(shared["state"])
    with pytest.raises(ReconnectNeeded):
        worker_c.get_token(force_refresh=True)
