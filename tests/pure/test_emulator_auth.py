"""Emulator: identity platform endpoints driven by a real msal ConfidentialClientApplication."""

import base64
import hashlib
import json
import re
from urllib.parse import parse_qsl, urlsplit

import msal
import pytest
from conftest import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphSession

REDIRECT = "https://odoo.example.com/office365/callback"
SCOPES = ["Calendars.ReadWrite", "User.Read", "MailboxSettings.ReadWrite"]


def _claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def app(emulator):
    emulator.add_mailbox("alice@example.com", "Alice Smith")
    emulator.register_app("pkce-client", "pkce-secret", [REDIRECT])
    http = GraphSession(emulator)
    application = msal.ConfidentialClientApplication(
        "pkce-client",
        client_credential="pkce-secret",
        authority=emulator.authority,
        http_client=http,
        instance_discovery=False,
    )
    yield application
    http.close()


def _browser(emulator, auth_uri):
    """The user's browser: the authorize page redirects at once with code and state."""
    with GraphSession(emulator) as browser:
        answer = browser.get(auth_uri, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return dict(parse_qsl(urlsplit(location).query))


def test_msal_pkce_flow_silent_refresh_with_rotation(emulator, app):
    flow = app.initiate_auth_code_flow(
        SCOPES, redirect_uri=REDIRECT, login_hint="alice@example.com"
    )
    assert flow["auth_uri"].startswith(emulator.authority + "/oauth2/v2.0/authorize?")
    assert "code_challenge=" in flow["auth_uri"]
    result = app.acquire_token_by_auth_code_flow(flow, _browser(emulator, flow["auth_uri"]))
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "alice@example.com"
    # msal sends sha256(nonce) and checks the id_token carries it back.
    assert result["id_token_claims"]["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    user_id = emulator.mailbox("alice@example.com").user_id
    assert result["id_token_claims"]["oid"] == user_id
    assert result["expires_in"] == 3600
    me = GraphSession(emulator, result["access_token"]).get("/me").json()
    assert me["id"] == user_id

    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == ["alice@example.com"]
    cached = app.acquire_token_silent(SCOPES, account=accounts[0])
    assert cached["access_token"] == result["access_token"]
    old_refresh = result["refresh_token"]
    refreshed = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != result["access_token"]
    assert refreshed["refresh_token"] != old_refresh
    # The used refresh token was rotated out.
    with GraphSession(emulator) as session:
        reused = session.post(
            emulator.authority + "/oauth2/v2.0/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "pkce-client",
                "client_secret": "pkce-secret",
                "refresh_token": old_refresh,
            },
        )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # And msal keeps working with the rotated one it cached.
    again = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert "access_token" in again, again


def test_msal_silent_after_revocation_reports_invalid_grant(emulator, app):
    flow = app.initiate_auth_code_flow(
        SCOPES, redirect_uri=REDIRECT, login_hint="alice@example.com"
    )
    app.acquire_token_by_auth_code_flow(flow, _browser(emulator, flow["auth_uri"]))
    emulator.faults.add("revoke_refresh", mailbox="alice@example.com")
    account = app.get_accounts()[0]
    result = app.acquire_token_silent_with_error(SCOPES, account=account, force_refresh=True)
    assert result["error"] == "invalid_grant"


def test_msal_client_credentials(emulator, app):
    with GraphSession(emulator) as http:
        tenant_app = msal.ConfidentialClientApplication(
            "pkce-client",
            client_credential="pkce-secret",
            authority="%s/%s" % (emulator.root_url, emulator.tenant_id),
            http_client=http,
            instance_discovery=False,
        )
        result = tenant_app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    assert _claims(result["access_token"])["roles"]
    session = GraphSession(emulator, result["access_token"])
    assert session.get("/users/alice@example.com").json()["mail"] == "alice@example.com"
    assert session.get("/me").status_code == 400


def test_openid_configuration_and_instance_discovery(emulator):
    with GraphSession(emulator) as session:
        config = session.get(
            emulator.root_url + "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ).json()
        assert (
            config["token_endpoint"]
            == emulator.root_url + "/contoso.onmicrosoft.com/oauth2/v2.0/token"
        )
        assert config["authorization_endpoint"].endswith(
            "/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
        )
        discovery = session.get(
            emulator.root_url + "/common/discovery/instance", params={"api-version": "1.1"}
        ).json()
        assert discovery["tenant_discovery_endpoint"].endswith("/.well-known/openid-configuration")


def test_msal_with_instance_discovery_enabled(emulator):
    emulator.register_app("disc", "s", [REDIRECT])
    with GraphSession(emulator) as http:
        application = msal.ConfidentialClientApplication(
            "disc",
            client_credential="s",
            authority=emulator.root_url + "/" + emulator.tenant_id,
            http_client=http,
            instance_discovery=emulator.root_url + "/common/discovery/instance",
        )
        assert "access_token" in application.acquire_token_for_client(
            ["https://graph.microsoft.com/.default"]
        )


def test_pkce_and_redirect_checks(emulator):
    box = emulator.add_mailbox("alice@example.com")
    emulator.register_app("c", "s", [REDIRECT])
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    form = {
        "grant_type": "authorization_code",
        "client_id": "c",
        "client_secret": "s",
        "redirect_uri": REDIRECT,
    }

    def redeem(**extra):
        with GraphSession(emulator) as session:
            return session.post(emulator.authority + "/oauth2/v2.0/token", data=dict(form, **extra))

    code = emulator.authorize_code(box.email, "c", REDIRECT, challenge)
    wrong = redeem(code=code, code_verifier="w" * 50)
    assert wrong.status_code == 400 and wrong.json()["error_codes"] == [501481]
    code = emulator.authorize_code(box.email, "c", REDIRECT, challenge)
    assert redeem(code=code, code_verifier=verifier, redirect_uri=REDIRECT + "x").status_code == (
        400
    )
    code = emulator.authorize_code(box.email, "c", REDIRECT, challenge)
    good = redeem(code=code, code_verifier=verifier)
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["id_token"]
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": box.user_id, "utid": emulator.tenant_id}
    again = redeem(code=code, code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    secret = redeem(code="x", code_verifier=verifier, client_secret="bad")
    assert secret.status_code == 401 and secret.json()["error"] == "invalid_client"
    with GraphSession(emulator) as browser:
        bad_redirect = browser.get(
            emulator.authority + "/oauth2/v2.0/authorize",
            params={
                "client_id": "c",
                "redirect_uri": "https://evil.example.com",
                "response_type": "code",
            },
            allow_redirects=False,
        )
        assert bad_redirect.status_code == 400
        unknown_user = browser.get(
            emulator.authority + "/oauth2/v2.0/authorize",
            params={
                "client_id": "c",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "login_hint": "nobody@example.com",
                "state": "s1",
            },
            allow_redirects=False,
        )
        query = dict(parse_qsl(urlsplit(unknown_user.headers["Location"]).query))
        assert query["error"] == "access_denied" and query["state"] == "s1"


def test_issue_tokens_seeds_a_connected_user(emulator):
    emulator.add_mailbox("alice@example.com")
    tokens = emulator.issue_tokens("alice@example.com", EMULATOR_CLIENT_ID)
    assert _claims(tokens["access_token"])["upn"] == "alice@example.com"
    assert _claims(tokens["id_token"])["aud"] == EMULATOR_CLIENT_ID
    with GraphSession(emulator) as session:
        refreshed = session.post(
            emulator.authority + "/oauth2/v2.0/token",
            data={
                "grant_type": "refresh_token",
                "client_id": EMULATOR_CLIENT_ID,
                "client_secret": EMULATOR_CLIENT_SECRET,
                "refresh_token": tokens["refresh_token"],
                "scope": "Calendars.ReadWrite offline_access openid profile",
            },
        )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    assert refreshed.json()["scope"] == "Calendars.ReadWrite"


def test_msal_form_post_response_mode(emulator, app):
    flow = app.initiate_auth_code_flow(
        SCOPES, redirect_uri=REDIRECT, login_hint="alice@example.com", response_mode="form_post"
    )
    with GraphSession(emulator) as browser:
        page = browser.get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'action="%s"' % REDIRECT in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    assert set(fields) == {"code", "state", "session_state"}
    result = app.acquire_token_by_auth_code_flow(flow, fields)
    assert "access_token" in result, result
