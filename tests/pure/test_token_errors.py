"""Application errors (wrong client id, secret, tenant) told from a user's lost grant."""

import json

import pytest
from conftest import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphSession

from services.auth import TokenProvider, check_application
from services.errors import (
    ApplicationRefused,
    AuthError,
    ReconnectNeeded,
    classify_token_error,
)

# Token endpoint answers as Entra ID words them (error, description, error_codes).
CASES = [
    (
        "unauthorized_client",
        "AADSTS700016: Application with identifier 'x' was not found",
        [700016],
        "application",
        "client_id",
    ),
    (
        "invalid_client",
        "AADSTS7000215: Invalid client secret provided.",
        [7000215],
        "application",
        "client_secret",
    ),
    (
        "invalid_client",
        "AADSTS7000222: The provided client secret keys are expired.",
        [7000222],
        "application",
        "client_secret",
    ),
    ("invalid_request", "AADSTS90002: Tenant 'nope' not found.", [90002], "application", "tenant"),
    (
        "invalid_request",
        "AADSTS900023: Specified tenant identifier 'x y' is neither ...",
        [900023],
        "application",
        "tenant",
    ),
    (
        "invalid_grant",
        "AADSTS50173: The provided grant has expired due to it being revoked",
        [50173],
        "user",
        None,
    ),
    (
        "invalid_grant",
        "AADSTS65001: The user or administrator has not consented",
        [65001],
        "user",
        None,
    ),
    (
        "invalid_grant",
        "AADSTS70008: The refresh token has expired due to inactivity.",
        [70008],
        "user",
        None,
    ),
    (
        "interaction_required",
        "AADSTS50076: you must use multi-factor authentication",
        [50076],
        "user",
        None,
    ),
    (
        "temporarily_unavailable",
        "AADSTS90033: A transient error has occurred.",
        [90033],
        "other",
        None,
    ),
]


@pytest.mark.parametrize(("error", "description", "codes", "kind", "setting"), CASES)
def test_classification(error, description, codes, kind, setting):
    result = classify_token_error(error, description, codes)
    assert (result.kind, result.setting, result.code) == (kind, setting, codes[0])


def test_code_read_from_the_description_when_no_array():
    result = classify_token_error("unauthorized_client", "AADSTS700016: Application not found")
    assert (result.kind, result.setting, result.code) == ("application", "client_id", 700016)


def test_code_decides_over_the_error_name():
    # invalid_grant with an application code blames the application, not the user.
    assert classify_token_error("invalid_grant", "", [7000215]).kind == "application"
    # unauthorized_client with a user code (consent) is the user's.
    assert classify_token_error("unauthorized_client", "", [65001]).kind == "user"


def test_error_name_alone():
    assert classify_token_error("invalid_client").setting == "client_secret"
    assert classify_token_error("invalid_tenant").setting == "tenant"
    assert classify_token_error("consent_required").kind == "user"
    assert classify_token_error("server_error").kind == "other"


def _provider(emulator, client_id=EMULATOR_CLIENT_ID, secret=EMULATOR_CLIENT_SECRET, **kw):
    return TokenProvider(client_id, secret, emulator.authority, verify=emulator.ca_path, **kw)


def _refresh_tokens(state):
    return sorted(rt["secret"] for rt in json.loads(state).get("RefreshToken", {}).values())


def test_wrong_client_id_keeps_the_refresh_token(emulator, connect):
    signed_in = connect("alice@example.com")
    state = signed_in.serialize()
    wrong = _provider(
        emulator, client_id="typo-client", cache_state=state, account_username="alice@example.com"
    )
    with pytest.raises(ApplicationRefused) as info:
        wrong.get_token(force_refresh=True)
    assert info.value.setting == "client_id"
    assert "Application (client) ID" in str(info.value) and "AADSTS700016" in str(info.value)
    assert not isinstance(info.value, ReconnectNeeded)
    # The refresh token is still in the cache, and the fixed settings use it: no sign-in.
    assert _refresh_tokens(wrong.serialize()) == _refresh_tokens(state)
    fixed = _provider(emulator, cache_state=wrong.serialize(), account_username="alice@example.com")
    assert fixed.get_token(force_refresh=True)


def test_wrong_secret_and_tenant(emulator, connect):
    state = connect("bob@example.com").serialize()
    bad_secret = _provider(
        emulator, secret="typo", cache_state=state, account_username="bob@example.com"
    )
    with pytest.raises(ApplicationRefused) as info:
        bad_secret.get_token(force_refresh=True)
    assert (info.value.setting, info.value.code) == ("client_secret", "invalid_client")
    other = TokenProvider(
        EMULATOR_CLIENT_ID,
        EMULATOR_CLIENT_SECRET,
        emulator.root_url + "/00000000-0000-0000-0000-000000000000",
        verify=emulator.ca_path,
        cache_state=state,
        account_username="bob@example.com",
    )
    with pytest.raises(ApplicationRefused) as info:
        other.get_token()
    assert info.value.setting == "tenant" and "AADSTS90002" in str(info.value)


def test_revoked_grant_still_needs_the_user(emulator, connect):
    provider = connect("carol@example.com")
    emulator.auth.revoke_refresh()
    with pytest.raises(ReconnectNeeded) as info:
        provider.get_token(force_refresh=True)
    assert info.value.code == "invalid_grant" and "AADSTS50173" in str(info.value)


def test_emulator_answers_error_codes_as_entra(emulator):
    url = emulator.root_url + "/%s/oauth2/v2.0/token" % emulator.tenant_id
    form = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    with GraphSession(emulator) as http:
        unknown = http.post(url, data=dict(form, client_id="nope", client_secret="s"))
        no_secret = http.post(url, data=dict(form, client_id=EMULATOR_CLIENT_ID))
        tenant = http.post(
            emulator.root_url + "/nowhere.example/v2.0/.well-known/openid-configuration"
        )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unauthorized_client"
    assert unknown.json()["error_codes"] == [700016]
    assert no_secret.status_code == 401 and no_secret.json()["error_codes"] == [7000218]
    assert tenant.status_code == 400 and tenant.json()["error"] == "invalid_tenant"
    assert tenant.json()["error_codes"] == [90002]


def test_check_application(emulator):
    authority = f"{emulator.root_url}/{emulator.tenant_id}"

    def check(client_id=EMULATOR_CLIENT_ID, secret=EMULATOR_CLIENT_SECRET, where=authority):
        return check_application(client_id, secret, where, verify=emulator.ca_path)

    assert check()[-1] == "a token for the application (client id and secret)"
    for kwargs, setting in [
        ({"client_id": "typo"}, "client_id"),
        ({"secret": "typo"}, "client_secret"),
        ({"where": emulator.root_url + "/nowhere.example"}, "tenant"),
        ({"client_id": ""}, "client_id"),
    ]:
        with pytest.raises(ApplicationRefused) as info:
            check(**kwargs)
        assert info.value.setting == setting, kwargs
    # 'organizations' names no directory: the secret is not claimed to be checked.
    done = check(where=emulator.authority)
    assert len(done) == 2 and done[1].startswith("not the client secret")
    with pytest.raises(AuthError):
        check(where=emulator.root_url + "/nowhere.example", secret="")


def test_check_application_sign_in_page(emulator):
    """With the users' redirect URI, the sign-in page proves the client id even where no
    client-credentials token can be asked ('organizations')."""
    emulator.register_app("web-app", "web-secret", ["https://odoo.example.com/cb"])

    def check(client_id="web-app", redirect="https://odoo.example.com/cb"):
        return check_application(
            client_id, "web-secret", emulator.authority, emulator.ca_path, redirect_uri=redirect
        )

    assert "the application's sign-in page (client id and redirect URI)" in check()
    with pytest.raises(ApplicationRefused) as info:
        check(client_id="web-app-typo")
    assert info.value.setting == "client_id" and "AADSTS700016" in info.value.message
    with pytest.raises(ApplicationRefused) as info:
        check(redirect="https://elsewhere.example.com/cb")
    assert info.value.setting == "redirect_uri"
