"""Error types raised by the Microsoft Graph client and the token provider.

Every error derives from :class:`GraphError`, so a caller that only wants to keep going can catch
that one type; the subclasses tell the sync what to do next:

- :class:`ReconnectNeeded`: the user must sign in again (refresh token revoked or expired).
- :class:`ResyncRequired`: the delta state is gone, start a full resync of the window.
- :class:`ThrottledError`: Graph kept throttling after the bounded retries; try again later.
- :class:`NotFound`: the item does not exist (any more).
- :class:`TransportError`: the network failed after the bounded retries.
"""


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
