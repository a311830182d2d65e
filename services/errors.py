"""Error types raised by the Microsoft Graph client and the token provider.

Every error derives from :class:`GraphError`, so a caller that only wants to keep going can catch
that one type; the subclasses tell the sync what to do next:

- :class:`ReconnectNeeded`: the user must sign in again (refresh token revoked or expired).
- :class:`ApplicationRefused`: the identity platform refuses the application's settings (client
  id, secret, tenant): every user's grant is intact, the sync pauses until an administrator
  fixes the settings (:func:`classify_token_error` tells the two apart).
- :class:`ResyncRequired`: the delta state is gone, start a full resync of the window.
- :class:`ThrottledError`: Graph kept throttling after the bounded retries; try again later.
- :class:`NotFound`: the item does not exist (any more).
- :class:`TransportError`: the network failed after the bounded retries.
"""

import re


class GraphError(Exception):
    """An error answered by (or on the way to) Microsoft Graph or the identity platform."""

    def __init__(self, status, code, message, request_id=None):
        self.status = status
        self.code = code or ""
        self.message = message or ""
        self.request_id = request_id
        super().__init__(self._text())

    def _text(self):
        text = f"{self.status} {self.code}: {self.message}".strip()
        if self.request_id:
            text += f" (request-id {self.request_id})"
        return text


class AuthError(GraphError):
    """The sign-in or the token request failed (state mismatch, bad code, bad credentials)."""


class ReconnectNeeded(AuthError):
    """The stored grant no longer works: the user has to connect the account again."""


class ApplicationRefused(AuthError):
    """The application's settings are wrong (``setting``: one of :data:`SETTING_LABELS`); the
    users' refresh tokens are still good and must be kept."""

    def __init__(self, status, code, message, setting, request_id=None):
        self.setting = setting
        super().__init__(status, code, message, request_id=request_id)


class ResyncRequired(GraphError):
    """The delta token is no longer valid: the calendar window must be read again in full."""


class ThrottledError(GraphError):
    """Graph still throttled (429/503/504) after the bounded retries."""

    def __init__(self, status, code, message, request_id=None, retry_after=None):
        self.retry_after = retry_after
        super().__init__(status, code, message, request_id=request_id)


class NotFound(GraphError):
    """The requested item does not exist (404) or is gone (410)."""


class TransportError(GraphError):
    """The connection failed or timed out after the bounded retries (status 0)."""

    def __init__(self, message, request_id=None):
        super().__init__(0, "transportError", message, request_id=request_id)


# -- Classifying the identity platform's token errors -------------------------------------------
# Source: Microsoft identity platform, "Microsoft Entra authentication and authorization error
# codes" (learn.microsoft.com/entra/identity-platform/reference-error-codes): the token endpoint
# answers ``{"error", "error_description": "AADSTS<n>: ...", "error_codes": [<n>]}``; msal
# returns that JSON as it is (``acquire_token_*`` results).

# The settings an administrator enters (Settings -> Office 365 Calendar), by their label there.
SETTING_LABELS = {
    "client_id": "Application (client) ID",
    "client_secret": "Client secret",
    "tenant": "Tenant",
    "login_url": "Sign-in endpoint",
    "redirect_uri": "redirect URI (registered with the application in Microsoft Entra)",
}

# AADSTS codes that blame the application's registration or settings, not the user.
APPLICATION_CODES = {
    700016: "client_id",  # UnauthorizedClient_DoesNotMatchRequest: app not found in directory
    7000112: "client_id",  # UnauthorizedClientApplicationDisabled
    700038: "client_id",  # client_id is not a valid application identifier
    50011: "redirect_uri",  # InvalidReplyTo: redirect URI not registered for the application
    7000215: "client_secret",  # InvalidClientSecretProvided
    7000222: "client_secret",  # InvalidClientSecretExpiredKeysProvided
    7000218: "client_secret",  # request body must contain client_assertion or client_secret
    90002: "tenant",  # InvalidTenantName: tenant not found
    900023: "tenant",  # InvalidTenantIdentifier: neither a valid DNS name nor a GUID
}
# AADSTS codes that mean this user's grant is gone or needs them: only a new sign-in helps.
USER_CODES = frozenset(
    {
        50173,  # FreshTokenNeeded: grant revoked (password changed or reset)
        65001,  # DelegationDoesNotExist: the user or administrator has not consented
        65004,  # UserDeclinedConsent
        70000,  # InvalidGrant: refresh token redeemed already or issued to another client
        70008,  # ExpiredOrRevokedGrant: refresh token expired due to inactivity
        700082,  # ExpiredOrRevokedGrantInactiveToken
        50076,  # UserStrongAuthClientAuthNRequired (MFA needed)
        50079,  # UserStrongAuthEnrollmentRequired
        50078,  # UserStrongAuthExpired
        50133,  # SsoArtifactRevoked: session invalid (password change)
        50034,  # UserAccountNotFound
        50057,  # UserDisabled
        53003,  # BlockedByConditionalAccess
        9002313,  # InvalidRequest: malformed refresh token
    }
)
# OAuth error names (RFC 6749 5.2, OpenID Connect) with the same meanings when no code decides.
APPLICATION_ERRORS = {
    "invalid_client": "client_secret",
    "unauthorized_client": "client_id",
    "invalid_tenant": "tenant",
}
USER_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)


class TokenErrorKind:
    """What a token error means: ``kind`` is ``"application"`` (``setting`` names the wrong
    setting), ``"user"`` (reconnect) or ``"other"``; ``code`` is the first AADSTS code."""

    __slots__ = ("code", "kind", "setting")

    def __init__(self, kind, setting=None, code=None):
        self.kind = kind
        self.setting = setting
        self.code = code

    def __repr__(self):
        return f"TokenErrorKind({self.kind!r}, {self.setting!r}, {self.code!r})"


def aadsts_codes(error_codes=None, description=""):
    """The AADSTS codes of an answer: its ``error_codes`` array, else those named in the text."""
    codes = []
    for code in error_codes or ():
        try:
            codes.append(int(code))
        except (TypeError, ValueError):
            continue
    if not codes and description:
        codes = [int(n) for n in re.findall(r"AADSTS(\d+)", str(description))]
    return codes


def classify_token_error(error, description="", error_codes=None):
    """Tell an application error (wrong client id, secret or tenant: keep the users' tokens)
    from a user's lost grant (revoked consent, expired refresh token: sign in again).

    The AADSTS code decides first (``invalid_grant`` is also answered for some application
    problems, ``unauthorized_client`` for a few user ones); the OAuth error name otherwise.
    """
    codes = aadsts_codes(error_codes, description)
    for code in codes:
        if code in APPLICATION_CODES:
            return TokenErrorKind("application", APPLICATION_CODES[code], code)
    for code in codes:
        if code in USER_CODES:
            return TokenErrorKind("user", None, code)
    first = codes[0] if codes else None
    if error in APPLICATION_ERRORS:
        return TokenErrorKind("application", APPLICATION_ERRORS[error], first)
    if error in USER_ERRORS:
        return TokenErrorKind("user", None, first)
    return TokenErrorKind("other", None, first)


def application_message(setting, detail=""):
    """The administrator's message for a refused ``setting`` (names the setting to fix)."""
    label = SETTING_LABELS.get(setting, setting)
    text = f"The identity platform refused the application's {label}: check it in Settings."
    return f"{text} ({detail})" if detail else text
