"""OAuth tokens for Microsoft Graph, obtained and refreshed by msal.

Two modes:

- delegated (default): authorization-code flow with PKCE, started by
  :meth:`TokenProvider.start_auth`
  (msal builds the authorize URL, the PKCE S256 challenge and the state) and finished by
  :meth:`TokenProvider.finish_auth`; later calls of :meth:`TokenProvider.get_token` refresh
  silently with the refresh token kept in msal's cache.
- app-only (``app_only=True``): client credentials with ``{resource}/.default``.

The token cache is an msal ``SerializableTokenCache``; :meth:`TokenProvider.cache_state` gives its
serialized form whenever it changed so the caller can persist it (the refresh token rotated by
the identity platform is always in it). Tokens and the client secret are never logged.
"""

import logging
import re
import threading
import warnings
from urllib.parse import unquote_plus

import msal
import requests
from msal.exceptions import MsalServiceError

from .errors import (
    USER_ERRORS,
    ApplicationRefused,
    AuthError,
    ReconnectNeeded,
    ThrottledError,
    TransportError,
    aadsts_codes,
    application_message,
    classify_token_error,
)

_logger = logging.getLogger(__name__)

DELEGATED_SCOPES = ["Calendars.ReadWrite", "User.Read", "MailboxSettings.ReadWrite"]
GRAPH_RESOURCE = "https://graph.microsoft.com"
# msal adds these to every delegated request itself and refuses them as input.
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


class _DiscoveryCache(dict):
    """msal's ``http_cache`` keeping only its GET answers (OpenID metadata discovery).

    Shared by every provider of the process: a provider is built per sync run, and without it
    each run would read the metadata again (one more request per user and run). Throttled
    token answers (POST) stay per provider, as msal keeps them without an ``http_cache``.
    """

    def __setitem__(self, key, value):
        if isinstance(key, str) and key.startswith("POST "):
            return
        super().__setitem__(key, value)


_HTTP_CACHE = _DiscoveryCache()
# Odoo's sign-in asks for form_post (controllers/main.py); the tools and tests that sign in
# without a browser read the code from a GET redirect on purpose (it is only redeemable with the
# PKCE verifier and the client secret). msal warns about that on every such sign-in.
warnings.filterwarnings(
    "ignore", message="response_mode='form_post' is recommended", category=UserWarning
)
# Token errors meaning the grant is gone: only a new sign-in helps (see errors.py).
RECONNECT_ERRORS = USER_ERRORS
# Tenants that name no directory: a client-credentials token cannot be asked of them.
MULTI_TENANT = frozenset({"common", "organizations", "consumers"})


def refused(result, status=400, user_class=ReconnectNeeded):
    """The error to raise for msal's failed ``result`` (the token endpoint's JSON): the
    application's settings (:class:`ApplicationRefused`, the users' tokens are kept), the
    user's grant (``user_class``) or anything else (:class:`AuthError`)."""
    error = result.get("error") or "token_error"
    description = result.get("error_description") or "token request refused"
    kind = classify_token_error(error, description, result.get("error_codes"))
    if kind.kind == "application":
        return ApplicationRefused(
            status, error, application_message(kind.setting, description), kind.setting
        )
    if kind.kind == "user":
        return user_class(401, error, description)
    return AuthError(result.get("status", status) or status, error, description)


def _discovery_refused(authority, exc):
    """msal's ValueError for a failed OpenID discovery of ``authority``: the Entra answer (with
    its AADSTS code) is in the chained error msal raised first."""
    inner = str(exc.__context__ or exc)
    codes = aadsts_codes(description=inner)
    kind = classify_token_error("invalid_tenant" if codes else "", inner, codes)
    status = re.search(r"HTTP status: (\d{3})", inner)
    if kind.kind == "application":
        setting = kind.setting
    elif status and status.group(1) == "400":
        setting = "tenant"  # Entra answers 400 for a tenant it does not know
    else:
        setting = "login_url"  # not an identity platform at all (404, HTML...)
    detail = f"AADSTS{codes[0]}" if codes else f"no OpenID configuration at {authority}"
    return ApplicationRefused(
        int(status.group(1)) if status else 400,
        "invalid_authority",
        application_message(setting, detail),
        setting,
    )


class _TimeoutSession(requests.Session):
    """A session that puts a timeout and our ``verify`` on every request msal sends.

    ``verify`` is passed per request because requests lets ``REQUESTS_CA_BUNDLE`` from the
    environment override a session-level value.
    """

    def __init__(self, timeout, verify):
        super().__init__()
        self._default_timeout = timeout
        self.verify = verify

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._default_timeout
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


def app_only_scopes(resource=GRAPH_RESOURCE):
    """Scopes of the client-credentials grant for ``resource`` (e.g. Graph's root URL)."""
    return [resource.rstrip("/") + "/.default"]


class TokenProvider:
    """Hands out access tokens for one account (delegated) or one application (app-only).

    :param authority: e.g. ``https://login.microsoftonline.com/{tenant}`` (or the emulator's).
    :param scopes: delegated scopes (default :data:`DELEGATED_SCOPES`) or, app-only,
        ``["{resource}/.default"]``; msal's reserved OpenID scopes are dropped.
    :param cache_state: a serialized msal cache saved earlier (see :meth:`cache_state`).
    :param verify: ``requests`` verify (CA bundle path for a private authority).
    :param timeout: ``requests`` timeout of every identity-platform call.
    :param account_username: which cached account to use (default: the only one).
    :param resource: root of the API for the app-only ``/.default`` scope.
    :param cache_loader: optional callable returning the latest persisted cache state; used
        once when a refresh token is refused, in case another worker rotated it meanwhile.

    Nothing touches the network before the first token operation: building a provider is cheap.
    """

    def __init__(
        self,
        client_id,
        client_secret,
        authority,
        scopes=None,
        cache_state=None,
        verify=True,
        timeout=(5, 30),
        app_only=False,
        account_username=None,
        resource=GRAPH_RESOURCE,
        session=None,
        cache_loader=None,
    ):
        if not client_id or not authority:
            raise AuthError(400, "invalid_configuration", "client id and authority are required")
        self.client_id = client_id
        self._client_secret = client_secret
        self.authority = authority
        self.app_only = app_only
        if scopes is None:
            scopes = app_only_scopes(resource) if app_only else DELEGATED_SCOPES
        self.scopes = [s for s in scopes if s not in RESERVED_SCOPES]
        self.account_username = account_username
        self._session = session or _TimeoutSession(timeout, verify)
        self._cache = msal.SerializableTokenCache()
        if cache_state:
            try:
                self._cache.deserialize(cache_state)
            except ValueError:
                _logger.warning("Ignoring an unreadable token cache for client %s", client_id)
        self._app = None
        self._lock = threading.RLock()
        # Returns the latest persisted cache state: another worker may have rotated the
        # refresh token since this provider was built.
        self._cache_loader = cache_loader

    def __repr__(self):
        mode = "app-only" if self.app_only else "delegated"
        return f"<TokenProvider {mode} client={self.client_id} account={self.account_username}>"

    # -- msal application ---------------------------------------------------------------------

    @property
    def app(self):
        """The msal confidential client, built on first use (it reads the OpenID metadata)."""
        with self._lock:
            if self._app is None:
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self._client_secret,
                        authority=self.authority,
                        token_cache=self._cache,
                        http_client=self._session,
                        instance_discovery=False,
                        http_cache=_HTTP_CACHE,
                    )
                except requests.RequestException as exc:
                    raise TransportError(
                        f"Cannot reach the authority {self.authority}: {type(exc).__name__}"
                    ) from exc
                except ValueError as exc:
                    raise _discovery_refused(self.authority, exc) from exc
            return self._app

    # -- delegated sign-in ----------------------------------------------------------------------

    def start_auth(self, redirect_uri, state=None, login_hint=None, response_mode=None):
        """Start the authorization-code flow with PKCE.

        Returns msal's flow dict (JSON-serializable; keep it server-side until the redirect
        comes back). Its ``auth_uri`` is the address the browser must open. ``response_mode``
        ``"form_post"`` makes the identity platform POST the answer to ``redirect_uri``
        (default: query string of a GET).
        """
        if self.app_only:
            raise AuthError(400, "invalid_request", "app-only access has no user sign-in")
        return self._call(
            self.app.initiate_auth_code_flow,
            self.scopes,
            redirect_uri=redirect_uri,
            state=state,
            login_hint=login_hint,
            response_mode=response_mode,
        )

    def finish_auth(self, flow, auth_response):
        """Redeem the redirect's query parameters (``code``, ``state``...) for tokens.

        Returns ``{"email", "name", "oid", "tenant_id", "scopes"}``. A state mismatch, a
        missing code or a refused code raises :class:`AuthError`.
        """
        if not isinstance(flow, dict) or not isinstance(auth_response, dict):
            raise AuthError(400, "invalid_request", "missing sign-in flow or response")
        with self._lock:
            try:
                result = self._call(
                    self.app.acquire_token_by_auth_code_flow, dict(flow), dict(auth_response)
                )
            except ValueError as exc:
                # msal raises ValueError for a state mismatch or a flow it cannot use.
                message = "state mismatch" if "state" in str(exc) else "invalid sign-in response"
                raise AuthError(400, "invalid_state", f"Sign-in rejected: {message}") from exc
            if "error" in result:
                # A refused code is the sign-in's failure, not a lost grant: AuthError.
                raise refused(result, user_class=AuthError)
            claims = result.get("id_token_claims") or {}
            email = claims.get("preferred_username") or claims.get("email") or claims.get("upn")
            if not email:
                accounts = self.app.get_accounts()
                email = accounts[0].get("username") if accounts else None
            self.account_username = email
            return {
                "email": email,
                "name": claims.get("name"),
                "oid": claims.get("oid"),
                "tenant_id": claims.get("tid"),
                "scopes": (result.get("scope") or "").split(),
            }

    # -- tokens ---------------------------------------------------------------------------------

    def get_token(self, force_refresh=False):
        """Return a valid access token, refreshing it (or forcing a refresh) as needed.

        Delegated: raises :class:`ReconnectNeeded` when no account is cached or the refresh
        token is refused (``invalid_grant``...). App-only: raises :class:`AuthError` when the
        application credentials are refused.
        """
        with self._lock:
            if self.app_only:
                return self._app_only_token(force_refresh)
            try:
                return self._delegated_token(force_refresh)
            except ReconnectNeeded:
                if not self._reload_cache():
                    raise
                _logger.info("Token refresh retried with the cache another worker saved")
                return self._delegated_token(force_refresh)

    def _reload_cache(self):
        """Load the persisted cache if it differs from ours; True when something changed."""
        if self._cache_loader is None:
            return False
        state = self._cache_loader()
        if not state or state == self._cache.serialize():
            return False
        try:
            self._cache.deserialize(state)
        except ValueError:
            return False
        return True

    def _delegated_token(self, force_refresh):
        account = self._account()
        if account is None:
            raise ReconnectNeeded(
                401, "no_account", "No signed-in account in the token cache: reconnect"
            )
        result = self._call(
            self.app.acquire_token_silent_with_error,
            self.scopes,
            account,
            force_refresh=force_refresh,
        )
        if not result:
            result = self._foreign_refresh(account)
        if not result:
            raise ReconnectNeeded(
                401, "no_refresh_token", "No usable refresh token in the cache: reconnect"
            )
        if "access_token" in result:
            return result["access_token"]
        # The application's settings refused (client id, secret, tenant): the refresh token
        # stays in the cache (msal never removes one on an error) and works again once the
        # settings are fixed. Only a lost grant needs the user.
        raise refused(result)

    def _foreign_refresh(self, account):
        """msal keys refresh tokens by client id: after the client id setting changed it finds
        none and would say "reconnect" without asking anyone. Ask the identity platform with
        the refresh token the user's sign-in left: a client id that does not exist (a typo) is
        refused as such (AADSTS700016, the users' tokens are kept for the fixed setting), a
        real other application is refused as the user's grant (AADSTS70000, sign in again).
        Returns msal's result, or None when the cache has no refresh token at all."""
        home = account.get("home_account_id")
        tokens = [
            rt
            for rt in self._cache.find(msal.TokenCache.CredentialType.REFRESH_TOKEN)
            if rt.get("secret")
            and rt.get("client_id") != self.client_id
            and (not home or rt.get("home_account_id") == home)
        ]
        if not tokens:
            return None
        result = self._call(
            self.app.acquire_token_by_refresh_token, tokens[0]["secret"], self.scopes
        )
        return result

    def _app_only_token(self, force_refresh):
        if force_refresh:
            self.app.remove_tokens_for_client()
        result = self._call(self.app.acquire_token_for_client, self.scopes)
        if "access_token" in result:
            return result["access_token"]
        raise refused(result, status=401, user_class=AuthError)

    def _account(self):
        accounts = self.app.get_accounts(username=self.account_username or None)
        if not accounts and self.account_username:
            return None
        return accounts[0] if accounts else None

    def _call(self, func, *args, **kwargs):
        """Run an msal call; transient failures become retryable errors, never "reconnect"."""
        try:
            return func(*args, **kwargs)
        except requests.RequestException as exc:
            raise TransportError(
                f"Identity platform unreachable at {self.authority}: {type(exc).__name__}"
            ) from exc
        except MsalServiceError as exc:
            # msal raises this for 5xx answers (and replays them while throttled).
            match = re.search(r"\b(\d{3})\b", str(exc))
            status = int(match.group(1)) if match else 503
            raise ThrottledError(
                status, "temporarily_unavailable", f"Identity platform answered {exc}"
            ) from exc

    # -- cache ----------------------------------------------------------------------------------

    def cache_state(self):
        """Return the serialized token cache if it changed since the last call, else None."""
        with self._lock:
            if not self._cache.has_state_changed:
                return None
            state = self._cache.serialize()
            self._cache.has_state_changed = False
            return state

    def serialize(self):
        """Return the serialized token cache, changed or not."""
        with self._lock:
            return self._cache.serialize()

    def clear(self):
        """Forget every token and account (disconnect); the next cache_state() is empty."""
        with self._lock:
            self._cache.deserialize("{}")
            self._cache.has_state_changed = True
            self.account_username = None


def check_application(
    client_id, client_secret, authority, verify=True, timeout=(5, 30), redirect_uri=None
):
    """Prove the application's settings against the identity platform; returns a list of what
    was checked (texts), raises :class:`ApplicationRefused` naming the wrong setting, or
    :class:`TransportError`/:class:`ThrottledError` when the platform cannot be reached.

    1. The tenant's OpenID configuration (the tenant and the sign-in endpoint);
    2. with ``redirect_uri`` (users sign in): the sign-in page of the application, which names
       an unknown client id (AADSTS700016) or an unregistered redirect URI (AADSTS50011);
    3. with a secret and a tenant naming a directory: a client-credentials token (the client
       id and the secret; delegated sign-ins redeem their codes with the same pair).
    """
    if not client_id:
        raise ApplicationRefused(
            400, "invalid_configuration", application_message("client_id", "empty"), "client_id"
        )
    checked = []
    provider = TokenProvider(
        client_id, client_secret or None, authority, verify=verify, timeout=timeout, app_only=True
    )
    app = provider.app  # msal reads the tenant's OpenID configuration here
    checked.append(f"the tenant's OpenID configuration at {authority}")
    if redirect_uri:
        provider._call(_probe_sign_in, provider._session, app, client_id, redirect_uri)
        checked.append("the application's sign-in page (client id and redirect URI)")
    tenant = authority.rstrip("/").rpartition("/")[2].lower()
    if not client_secret:
        checked.append("not the client secret: none is set")
        return checked
    if tenant in MULTI_TENANT:
        checked.append(
            f"not the client secret: '{tenant}' names no directory to ask a token of; "
            "the first sign-in uses it"
        )
        return checked
    provider.get_token(force_refresh=True)
    checked.append("a token for the application (client id and secret)")
    return checked


def _probe_sign_in(session, app, client_id, redirect_uri):
    """Open the authorize page of the application without following it: Entra ID answers an
    unknown client id or an unregistered redirect URI with an error page naming its AADSTS
    code (in the page, or in the redirect's ``error_description``); a good pair gets the
    sign-in page. Nothing is signed in: no code is ever redeemed."""
    answer = session.get(
        app.authority.authorization_endpoint,
        params={
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "response_mode": "query",
        },
        allow_redirects=False,
    )
    text = answer.text[:200000] + " " + (answer.headers.get("Location") or "")
    codes = aadsts_codes(description=unquote_plus(text))
    kind = classify_token_error("", "", codes)
    if kind.kind == "application":
        raise ApplicationRefused(
            answer.status_code,
            "invalid_request",
            application_message(kind.setting, f"AADSTS{kind.code} on the sign-in page"),
            kind.setting,
        )
