"""Microsoft identity platform (v2.0) endpoints of the emulator, enough for msal.

Access tokens are unsigned JWTs (``alg: none``) that carry the identity (``oid``, ``upn``,
``tid``, ``scp`` or ``roles``); the emulator also keeps them server-side so it can expire
or revoke them. Refresh tokens are opaque and ROTATE: each use returns a new one and the
used one stops working (``invalid_grant``).
"""

import base64
import hashlib
import html
import json
import secrets
import time
import uuid
from collections import Counter
from urllib.parse import parse_qsl, urlencode, urlsplit

from .protocol import Response
from .timeutil import now_utc

ACCESS_LIFETIME = 3600
CODE_LIFETIME = 600
DEFAULT_SCOPES = "Calendars.ReadWrite User.Read MailboxSettings.ReadWrite"
_OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
# Authority segments that name no single directory (Microsoft identity platform, "Application
# configuration options": common, organizations, consumers).
MULTI_TENANT = {"common", "organizations", "consumers"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(claims):
    header = b64url(json.dumps({"typ": "JWT", "alg": "none"}).encode())
    return "%s.%s." % (header, b64url(json.dumps(claims).encode()))


class OAuthError(Exception):
    """An OAuth error answered as ``{"error", "error_description", "error_codes"}``."""

    def __init__(self, status, error, aadsts, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description

    def body(self):
        trace = str(uuid.uuid4())
        return {
            "error": self.error,
            "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s"
            % (
                self.aadsts,
                self.description,
                trace,
                trace,
                now_utc().strftime("%Y-%m-%d %H:%M:%SZ"),
            ),
            "error_codes": [self.aadsts],
            "timestamp": now_utc().strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": trace,
        }


class AccessToken:
    __slots__ = ("client_id", "expires", "scopes", "serial", "user_id")

    def __init__(self, user_id, client_id, scopes, expires, serial):
        self.user_id = user_id
        self.client_id = client_id
        self.scopes = scopes
        self.expires = expires
        self.serial = serial


class AuthServer:
    """Apps, authorization codes, access and refresh tokens, and the endpoints that hand them
    out (guarded by the emulator lock)."""

    def __init__(self, emulator):
        self._emu = emulator
        self.apps = {}
        self.codes = {}
        # Tokens handed out, by grant type (a user's sign-in is an "authorization_code" one).
        self.grants = Counter()
        self.access = {}
        self.refresh = {}
        self.serial = 0
        # user id -> serial: access tokens with a serial at or below it are rejected.
        self.access_cutoff = {}
        # Verified domains of the tenant besides its mailboxes' ones (a tenant is named by its
        # id or one of its domains).
        self.domains = {"contoso.onmicrosoft.com"}

    # ----- setup --------------------------------------------------------------------------

    def register_app(self, client_id, client_secret=None, redirect_uris=None):
        self.apps[client_id] = {"secret": client_secret, "redirect_uris": list(redirect_uris or [])}

    def known_tenant(self, tenant):
        """Whether ``tenant`` (an authority's first path segment) names this tenant."""
        name = (tenant or "").lower()
        if name in MULTI_TENANT or name == self._emu.tenant_id.lower() or name in self.domains:
            return True
        return any(
            name == box.email.rpartition("@")[2].lower() for box in self._emu.mailboxes.values()
        )

    def _check_tenant(self, tenant, error="invalid_request"):
        # An unknown tenant: 400 AADSTS90002 InvalidTenantName, from the OpenID discovery
        # ("invalid_tenant", the case msal's authority.py comments on: "Nonexist tenant would hit
        # this path") and from the token endpoint alike ("Microsoft Entra authentication and
        # authorization error codes", learn.microsoft.com/entra/identity-platform/
        # reference-error-codes).
        if not self.known_tenant(tenant):
            raise OAuthError(
                400,
                error,
                90002,
                "Tenant '%s' not found. Check to make sure you have the correct tenant ID and "
                "are signing into the correct cloud." % tenant,
            )

    def _scopes(self, scope):
        names = [s for s in (scope or "").replace(",", " ").split() if s]
        return " ".join(s for s in names if s.lower() not in _OIDC_SCOPES) or DEFAULT_SCOPES

    # ----- token issuance -----------------------------------------------------------------

    def issue(self, mailbox, client_id, scopes=DEFAULT_SCOPES, nonce=None):
        """A token response for ``mailbox`` (None: app-only) as the token endpoint returns."""
        self.serial += 1
        now = int(time.time())
        tenant = self._emu.tenant_id
        issuer = "%s/%s/v2.0" % (self._emu.root_url, tenant)
        claims = {
            "aud": "https://graph.microsoft.com",
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_LIFETIME,
            "appid": client_id,
        }
        if mailbox is None:
            claims["tid"] = tenant
            claims["roles"] = ["Calendars.ReadWrite", "User.Read.All", "MailboxSettings.ReadWrite"]
            claims["idtyp"] = "app"
        else:
            claims["oid"] = mailbox.user_id
            claims["upn"] = mailbox.email
            claims["name"] = mailbox.display_name
            claims["tid"] = tenant
            claims["scp"] = scopes
            claims["idtyp"] = "user"
        claims["jti"] = secrets.token_hex(8)
        access_token = unsigned_jwt(claims)
        self.access[access_token] = AccessToken(
            mailbox.user_id if mailbox else None,
            client_id,
            scopes,
            now + ACCESS_LIFETIME,
            self.serial,
        )
        out = {
            "token_type": "Bearer",
            "scope": scopes if mailbox else "https://graph.microsoft.com/.default",
            "expires_in": ACCESS_LIFETIME,
            "ext_expires_in": ACCESS_LIFETIME,
            "access_token": access_token,
        }
        if mailbox is None:
            return out
        refresh_token = "0.EMU" + secrets.token_urlsafe(48)
        self.refresh[refresh_token] = {
            "user_id": mailbox.user_id,
            "client_id": client_id,
            "scopes": scopes,
            "state": "valid",
        }
        out["refresh_token"] = refresh_token
        out["id_token"] = self._id_token(mailbox, client_id, issuer, now, nonce)
        out["client_info"] = b64url(json.dumps({"uid": mailbox.user_id, "utid": tenant}).encode())
        return out

    def _id_token(self, mailbox, client_id, issuer, now, nonce):
        claims = {
            "aud": client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_LIFETIME,
            "name": mailbox.display_name,
            "oid": mailbox.user_id,
            "sub": mailbox.user_id,
            "preferred_username": mailbox.email,
            "tid": self._emu.tenant_id,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return unsigned_jwt(claims)

    def authorize_code(
        self,
        mailbox,
        client_id,
        redirect_uri,
        code_challenge,
        code_challenge_method="S256",
        scope=DEFAULT_SCOPES,
        nonce=None,
    ):
        code = "0.EMUCODE" + secrets.token_urlsafe(32)
        self.codes[code] = {
            "user_id": mailbox.user_id,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "challenge": code_challenge,
            "method": code_challenge_method or "plain",
            "scopes": self._scopes(scope),
            "nonce": nonce,
            "expires": time.time() + CODE_LIFETIME,
        }
        return code

    # ----- endpoints ----------------------------------------------------------------------

    def serve(self, method, path, raw_body):
        """Answer a request to the identity platform (any path outside ``/v1.0``)."""
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            if len(segments) == 3 and segments[1:] == ["discovery", "instance"]:
                return Response(200, self._instance_discovery(query))
            if len(segments) == 4 and segments[1:] == [
                "v2.0",
                ".well-known",
                "openid-configuration",
            ]:
                self._check_tenant(segments[0], "invalid_tenant")
                return Response(200, self._openid_configuration(segments[0]))
            if len(segments) == 4 and segments[1:] == ["discovery", "v2.0", "keys"]:
                return Response(200, {"keys": []})
            if len(segments) == 4 and segments[1:3] == ["oauth2", "v2.0"]:
                self._check_tenant(segments[0])
                if segments[3] == "authorize" and method == "GET":
                    return self._authorize_response(query)
                if segments[3] == "token" and method == "POST":
                    form = dict(
                        parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
                    )
                    return Response(
                        200,
                        self.token(form),
                        {"Cache-Control": "no-store", "Pragma": "no-cache"},
                    )
        except OAuthError as exc:
            return Response(exc.status, exc.body())
        return Response(404, {"error": "not_found", "error_description": "Unknown endpoint."})

    def _authorize_response(self, query):
        redirect_uri, answer = self.authorize(query)
        # response_mode=form_post: the answer (code or error, state, session_state) is POSTed to
        # the redirect URI by an auto-submitting HTML form instead of a 302 with a query string
        # ("Request an authorization code", response_mode: "form_post executes a POST containing
        # the code to your redirect URI", learn.microsoft.com/entra/identity-platform/
        # v2-oauth2-auth-code-flow). The page is the one Entra ID serves: a form named
        # "hiddenform" submitted by script, with a noscript Submit button. The POST it makes comes
        # from login.microsoftonline.com, a cross-site request for the application.
        if query.get("response_mode") == "form_post":
            fields = "".join(
                '<input type="hidden" name="%s" value="%s"/>' % (html.escape(k), html.escape(v))
                for k, v in answer.items()
            )
            page = (
                '<html><head><title>Working...</title></head><body><form method="POST" '
                'name="hiddenform" action="%s">%s<noscript><p>Script is disabled. Click Submit '
                'to continue.</p><input type="submit" value="Submit"/></noscript></form><script '
                'language="javascript">document.forms[0].submit();</script></body></html>'
                % (html.escape(redirect_uri), fields)
            )
            return Response(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        sep = "&" if "?" in redirect_uri else "?"
        return Response(302, b"", {"Location": redirect_uri + sep + urlencode(answer)})

    def _openid_configuration(self, tenant):
        base = "%s/%s" % (self._emu.root_url, tenant)
        return {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": base + "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "%s/%s/v2.0" % (self._emu.root_url, self._emu.tenant_id),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": self._emu.root_url + "/oidc/userinfo",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": base + "/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "oid",
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulator",
        }

    def _instance_discovery(self, query):
        host = urlsplit(self._emu.root_url).netloc
        asked = urlsplit(query.get("authorization_endpoint", "")).path.split("/")
        tenant = next((s for s in asked if s), "organizations")
        return {
            "tenant_discovery_endpoint": "%s/%s/v2.0/.well-known/openid-configuration"
            % (self._emu.root_url, tenant),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def authorize(self, params):
        """GET /{tenant}/oauth2/v2.0/authorize: (redirect_uri, answer parameters).

        The user is ``login_hint`` (or the emulator's default user): no sign-in page."""
        client_id = params.get("client_id")
        redirect_uri = params.get("redirect_uri")
        app = self._registered_app(client_id)
        if not redirect_uri or (app["redirect_uris"] and redirect_uri not in app["redirect_uris"]):
            raise OAuthError(
                400,
                "invalid_request",
                50011,
                "The redirect URI '%s' specified "
                "in the request does not match the redirect URIs configured for "
                "the application." % redirect_uri,
            )
        query = {}
        if params.get("response_type") != "code":
            query = {
                "error": "unsupported_response_type",
                "error_description": "AADSTS700054: response_type must be code.",
            }
        else:
            hint = params.get("login_hint") or self._emu.default_user
            mailbox = self._emu.find_mailbox(hint) if hint else None
            if mailbox is None:
                query = {
                    "error": "access_denied",
                    "error_description": "AADSTS50034: The user account %s does not "
                    "exist in the directory." % (hint or "(none)"),
                }
            else:
                query = {
                    "code": self.authorize_code(
                        mailbox,
                        client_id,
                        redirect_uri,
                        params.get("code_challenge"),
                        params.get("code_challenge_method"),
                        params.get("scope"),
                        params.get("nonce"),
                    )
                }
        if params.get("state") is not None:
            query["state"] = params["state"]
        query["session_state"] = str(uuid.uuid4())
        return redirect_uri, query

    def _registered_app(self, client_id):
        # AADSTS700016 (unauthorized_client, 400) for an id no application of the tenant has;
        # AADSTS7000218 / 7000215 (invalid_client, 401) for a missing / wrong secret (the
        # "Microsoft Entra authentication and authorization error codes" page; msal hands the
        # JSON with its "error_codes" array back as it is).
        app = self.apps.get(client_id)
        if app is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                "Application with identifier '%s' was not found in the directory." % client_id,
            )
        return app

    def _check_client(self, form):
        client_id = form.get("client_id")
        app = self._registered_app(client_id)
        if app["secret"] is not None and not form.get("client_secret"):
            raise OAuthError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        if app["secret"] is not None and form.get("client_secret") != app["secret"]:
            raise OAuthError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. "
                "Ensure the secret being sent in the request is the client secret "
                "value, not the client secret ID.",
            )
        return client_id

    def token(self, form):
        """POST /{tenant}/oauth2/v2.0/token: returns a token response dict."""
        grant = form.get("grant_type")
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            raise OAuthError(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type '%s'." % grant,
            )
        answer = self._grant(grant, form)
        self.grants[grant] += 1
        return answer

    def _grant(self, grant, form):
        client_id = self._check_client(form)
        if grant == "client_credentials":
            scope = form.get("scope") or ""
            if not scope.endswith("/.default"):
                raise OAuthError(
                    400,
                    "invalid_scope",
                    1002012,
                    "The provided value for scope "
                    "%s is not valid. Client credential flows must have a scope "
                    "value with /.default suffixed to the resource identifier." % scope,
                )
            return self.issue(None, client_id)
        if grant == "authorization_code":
            return self._redeem_code(form, client_id)
        return self._redeem_refresh(form, client_id)

    def _redeem_code(self, form, client_id):
        code = self.codes.pop(form.get("code") or "", None)
        if code is None or code["expires"] < time.time():
            raise OAuthError(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or "
                "refresh token has expired due to inactivity, or was already "
                "redeemed.",
            )
        if code["client_id"] != client_id:
            raise OAuthError(
                400,
                "invalid_grant",
                70000,
                "The provided authorization code was issued to another client.",
            )
        if form.get("redirect_uri") != code["redirect_uri"]:
            raise OAuthError(
                400,
                "invalid_grant",
                50148,
                "The redirect_uri does not match the one used in the authorization request.",
            )
        if code["challenge"]:
            verifier = form.get("code_verifier") or ""
            if code["method"] == "S256":
                computed = b64url(hashlib.sha256(verifier.encode()).digest())
            else:
                computed = verifier
            if not verifier or computed != code["challenge"]:
                raise OAuthError(
                    400,
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not "
                    "match the code_challenge supplied in the authorization "
                    "request.",
                )
        mailbox = self._emu.mailbox_by_id(code["user_id"])
        return self.issue(mailbox, client_id, code["scopes"], nonce=code["nonce"])

    def _redeem_refresh(self, form, client_id):
        record = self.refresh.get(form.get("refresh_token") or "")
        if record is None:
            raise OAuthError(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if record["state"] == "revoked":
            self._emu.faults.count("revoke_refresh")
            raise OAuthError(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due "
                "to it being revoked, a fresh auth token is needed. The user might "
                "have changed or reset their password.",
            )
        if record["state"] == "used":
            raise OAuthError(
                400,
                "invalid_grant",
                70000,
                "The provided value for the "
                "'refresh_token' is not valid: the refresh token was already "
                "redeemed and has been replaced by a newer one.",
            )
        if record["client_id"] != client_id:
            raise OAuthError(
                400, "invalid_grant", 70000, "The refresh token was issued to another client."
            )
        record["state"] = "used"
        mailbox = self._emu.mailbox_by_id(record["user_id"])
        scopes = self._scopes(form.get("scope")) if form.get("scope") else record["scopes"]
        return self.issue(mailbox, client_id, scopes)

    # ----- validation of Graph requests ---------------------------------------------------

    def check_access(self, authorization):
        """Return the AccessToken of a ``Bearer`` header or raise (status, code, message)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise PermissionError("Access token is empty.")
        token = self.access.get(authorization[7:].strip())
        if token is None:
            raise PermissionError(
                "IDX14100: JWT is not well formed, there are no dots (.). "
                "The token needs to be in JWS or JWE Compact Serialization "
                "Format."
            )
        if token.expires < time.time():
            raise PermissionError("Lifetime validation failed, the token is expired.")
        if token.user_id and token.serial <= self.access_cutoff.get(token.user_id, 0):
            self._emu.faults.count("expire_access")
            raise PermissionError("Lifetime validation failed, the token is expired.")
        return token

    def revoke_refresh(self, user_id=None):
        for record in self.refresh.values():
            if user_id is None or record["user_id"] == user_id:
                if record["state"] == "valid":
                    record["state"] = "revoked"

    def expire_access(self, user_id=None):
        users = [user_id] if user_id else {t.user_id for t in self.access.values() if t.user_id}
        for uid in users:
            self.access_cutoff[uid] = self.serial

    # ----- persistence --------------------------------------------------------------------

    def dump(self):
        now = time.time()
        return {
            "apps": self.apps,
            "refresh": self.refresh,
            "serial": self.serial,
            "access": {
                k: [v.user_id, v.client_id, v.scopes, v.expires, v.serial]
                for k, v in self.access.items()
                if v.expires > now
            },
            "access_cutoff": self.access_cutoff,
        }

    def load(self, data):
        self.apps.update(data.get("apps", {}))
        self.refresh.update(data.get("refresh", {}))
        self.serial = data.get("serial", 0)
        self.access_cutoff.update(data.get("access_cutoff", {}))
        for key, value in data.get("access", {}).items():
            self.access[key] = AccessToken(*value)
