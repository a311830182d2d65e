"""The routing table: which module answers a Graph URL (relative to ``/v1.0``).

- ``$batch`` -> ``batch``; ``subscriptions`` -> ``subscriptions``;
- ``me`` or ``users/{id|upn}`` (the caller's own mailbox only, for delegated tokens), then:
  ``""`` the user, ``mailboxSettings``, ``outlook/masterCategories`` -> ``categories``,
  ``calendars``, and below ``calendar``, ``calendars/{id}`` or the user itself:
  ``events`` -> ``events``, ``calendarView`` -> ``events.calendar_view``,
  ``calendarView/delta`` -> ``delta``.

The user, its mailbox settings and its calendar are answered here: they are read-only and
small.
"""

import base64
import re
from urllib.parse import quote

from . import batch, categories, delta, events, subscriptions
from .protocol import GraphError, Response, error_response, not_found, only, segment_not_found


def dispatch(emu, request):
    """Answer one Graph request (a GraphRequest); returns Response."""
    segments = request.segments
    try:
        if not segments:
            raise GraphError(400, "BadRequest", "Invalid request.")
        head = segments[0]
        if head == "$batch":
            if request.method != "POST" or request.in_batch:
                raise GraphError(400, "BadRequest", "Invalid batch request.")
            return batch.handle(emu, request)
        if head.lower() == "subscriptions":
            return subscriptions.handle(emu, request, segments[1:])
        with emu.lock:
            mailbox, prefix, rest = _resolve_user(emu, segments, request.principal)
            return _user_route(emu, request, mailbox, prefix, rest)
    except GraphError as exc:
        return error_response(exc, request.request_id)


def _resolve_user(emu, segments, principal):
    """(mailbox, path prefix for links, the segments after the user) of ``me`` or ``users``."""
    head = segments[0].lower()
    if head == "me":
        if not principal.user_id:
            raise GraphError(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        return emu.mailboxes[principal.user_id], "me", segments[1:]
    if head == "users" and len(segments) > 1:
        key = segments[1]
        match = re.match(r"^\('(.+)'\)$", key)
        key = match.group(1) if match else key
        mailbox = emu.find_mailbox(key)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", "The requested user '%s' is invalid." % key)
        if principal.user_id and principal.user_id != mailbox.user_id:
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return mailbox, "users/" + quote(segments[1], safe="@"), segments[2:]
    raise segment_not_found(segments[0])


def _user_route(emu, request, mailbox, prefix, rest):
    method = request.method
    if not rest:
        only(method, "GET")
        return Response(200, _user_resource(emu, mailbox))
    if rest == ["mailboxSettings"]:
        only(method, "GET")
        return Response(
            200,
            {
                "timeZone": mailbox.time_zone,
                "language": {"locale": "en-US", "displayName": "English (United States)"},
            },
        )
    if rest[0] == "outlook" and len(rest) >= 2 and rest[1].lower() == "mastercategories":
        return categories.handle(emu, request, mailbox, rest[2:])
    if rest == ["calendars"]:
        only(method, "GET")
        return Response(
            200,
            {
                "@odata.context": "%s/$metadata#users('%s')/calendars"
                % (emu.base_url, mailbox.user_id),
                "value": [_calendar_resource(mailbox)],
            },
        )
    calendar_id = None
    if rest[0] == "calendar":
        calendar_id = mailbox.calendar_id
        rest = rest[1:]
        link_prefix = prefix + "/calendar"
    elif rest[0] == "calendars" and len(rest) >= 2:
        if rest[1] != mailbox.calendar_id:
            raise not_found()
        calendar_id = rest[1]
        rest = rest[2:]
        link_prefix = prefix + "/calendars/" + calendar_id
    else:
        link_prefix = prefix
    return _calendar_route(emu, request, mailbox, calendar_id, rest, link_prefix)


def _calendar_route(emu, request, mailbox, calendar_id, rest, prefix):
    """Below a calendar (``calendar_id`` None: the user's default, addressed through the user)."""
    if not rest:
        only(request.method, "GET")
        return Response(200, _calendar_resource(mailbox))
    if rest[0] == "events":
        return events.handle(emu, request, mailbox, calendar_id, rest[1:], prefix)
    if rest[0].lower() == "calendarview":
        only(request.method, "GET")
        # The SDKs call the delta function as ``delta()`` (OData function-call syntax,
        # msgraph-sdk-python's DeltaRequestBuilder); Graph answers both forms alike.
        if rest[1:] in (["delta"], ["delta()"]):
            return delta.handle(emu, request, mailbox, calendar_id, prefix)
        if len(rest) == 1:
            return events.calendar_view(emu, request, mailbox, calendar_id, prefix)
    raise segment_not_found(rest[0])


def _user_resource(emu, mailbox):
    given, _, surname = mailbox.display_name.partition(" ")
    return {
        "@odata.context": emu.base_url + "/$metadata#users/$entity",
        "businessPhones": [],
        "displayName": mailbox.display_name,
        "givenName": given,
        "jobTitle": None,
        "mail": mailbox.email,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": surname,
        "userPrincipalName": mailbox.email,
        "id": mailbox.user_id,
    }


def _calendar_resource(mailbox):
    return {
        "id": mailbox.calendar_id,
        "name": "Calendar",
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": True,
        "changeKey": base64.b64encode(mailbox.user_id.encode()[:16]).decode(),
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": True,
        "allowedOnlineMeetingProviders": list(mailbox.online_meeting_providers),
        "defaultOnlineMeetingProvider": (mailbox.online_meeting_providers or ["unknown"])[0],
        "isTallyingResponses": True,
        "isRemovable": False,
        "owner": {"name": mailbox.display_name, "address": mailbox.email},
    }
