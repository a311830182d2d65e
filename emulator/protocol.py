"""What every endpoint of the emulator shares: the request, the response, Graph's error body.

The resource modules (``events``, ``delta``, ``categories``, ``batch``, ``subscriptions``) take
a :class:`GraphRequest` and answer a :class:`Response` or raise :class:`GraphError`;
``server`` turns the Response into HTTP bytes.
"""

import re
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

from .timeutil import now_utc

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
# Collections whose next segment is an id: counters group ``/me/events/AAMk...`` as one path.
_ID_AFTER = {"users", "events", "calendars", "subscriptions", "mastercategories", "calendargroups"}


class GraphError(Exception):
    """An error answered with Graph's error body ``{"error": {"code", "message"}}``."""

    def __init__(self, status, code, message, headers=None, details=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self, request_id=None):
        error = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        error["innerError"] = {
            "date": now_utc().strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id or str(uuid.uuid4()),
            "client-request-id": request_id or str(uuid.uuid4()),
        }
        return {"error": error}


def not_found():
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def segment_not_found(segment):
    return GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % segment)


def method_not_allowed():
    return GraphError(
        405, "BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def only(method, *allowed):
    """Refuse any other HTTP method than ``allowed`` (405)."""
    if method not in allowed:
        raise method_not_allowed()


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_response(exc, request_id=None):
    return Response(exc.status, exc.body(request_id), dict(exc.headers))


class GraphRequest:
    """One Graph call, a whole request or one item of a ``$batch``.

    ``url`` is relative to ``/v1.0``; ``query`` has lower-case names (Graph's are
    case-insensitive); ``headers`` may be the handler's headers, whose repeated ``Prefer``
    headers all count.
    """

    __slots__ = (
        "body",
        "headers",
        "in_batch",
        "method",
        "prefer",
        "principal",
        "query",
        "request_id",
        "segments",
    )

    def __init__(self, method, url, headers, body, principal, request_id=None, in_batch=False):
        parts = urlsplit(url)
        self.method = method
        self.segments = [unquote(s) for s in parts.path.split("/") if s]
        self.query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        self.headers = dict(headers.items())
        self.prefer = parse_prefer(headers)
        self.body = body
        self.principal = principal
        self.request_id = request_id
        self.in_batch = in_batch

    def header(self, name):
        return header(self.headers, name)


def normalize_path(path):
    """``POST /v1.0/me/events/AAMk.../cancel`` -> ``/me/events/{id}/cancel``."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    if segments and segments[0] in ("v1.0", "beta"):
        segments = segments[1:]
    if len(segments) > 1 and segments[1] in ("oauth2", "v2.0", "discovery"):
        segments = segments[1:]
    out = []
    after_collection = False
    for seg in segments:
        if after_collection:
            out.append("{id}")
            after_collection = False
            continue
        out.append(seg)
        after_collection = seg.lower() in _ID_AFTER
    return "/" + "/".join(out)


def parse_prefer(headers):
    """Parse every ``Prefer`` header into a dict (lower-case keys, unquoted values)."""
    out = {}
    values = (
        headers.get_all("Prefer")
        if hasattr(headers, "get_all")
        else [v for k, v in headers.items() if k.lower() == "prefer"]
    )
    for value in values or []:
        for part in re.findall(r'(?:[^,"]|"[^"]*")+', value):
            key, _, val = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = val.strip().strip('"')
    return out


def header(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
