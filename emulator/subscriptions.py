"""Change notifications: ``/subscriptions`` and the notifications they deliver.

``POST /subscriptions`` checks the body, then the validation handshake of each notification
URL (``webhooks.send_validation``); ``GET``, ``PATCH`` (renew), ``DELETE`` and
``POST /{id}/reauthorize`` act on the application's own subscriptions. They are kept in
``emu.subscriptions`` (id -> Graph's subscription resource plus the private ``_user_id`` of
the mailbox). Notifications are POSTed by ``webhooks``: on demand (``notify``,
``post_change_notifications``, ``post_lifecycle``) or, with ``auto_notify``, on every event
write (``notify_change``, from a background thread).
"""

import json
import re
import uuid
from collections import namedtuple
from datetime import timedelta

from . import timeutil, webhooks
from .protocol import GraphError, Response, only, segment_not_found
from .timeutil import fmt_instant, now_utc

ValidationResult = namedtuple("ValidationResult", "status headers body token ok")
# resources/subscription.md, maximum length of subscription per resource type: 10,080 minutes
# (under 7 days) for Outlook events.
MAX_MINUTES = 10080
_RESOURCE = re.compile(
    r"^/?(me|users/([^/]+)|users\('([^']+)'\))/(events|calendar/events|calendars/[^/]+/events)/?$",
    re.I,
)
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def handle(emu, request, rest):
    """A request below ``/subscriptions`` (``rest``: the segments after it)."""
    method, body, principal = request.method, request.body, request.principal
    if not rest:
        if method == "POST":
            return _create(emu, body, principal)
        only(method, "GET")
        with emu.lock:
            items = [
                resource(emu, s)
                for s in emu.subscriptions.values()
                if s["applicationId"] == principal.client_id
            ]
        return Response(
            200, {"@odata.context": emu.base_url + "/$metadata#subscriptions", "value": items}
        )
    with emu.lock:
        sub = emu.subscriptions.get(rest[0])
        if sub is None or sub["applicationId"] != principal.client_id:
            raise GraphError(404, "ResourceNotFound", "The object was not found.")
        if len(rest) == 2 and rest[1] == "reauthorize":
            only(method, "POST")
            return Response(204)
        if len(rest) != 1:
            raise segment_not_found(rest[1])
        if method == "GET":
            return Response(200, resource(emu, sub))
        if method == "DELETE":
            del emu.subscriptions[rest[0]]
            return Response(204)
        only(method, "PATCH")
        if not isinstance(body, dict) or "expirationDateTime" not in body:
            raise GraphError(
                400, "InvalidRequest", "expirationDateTime is required to renew a subscription."
            )
        sub["expirationDateTime"] = _checked_expiration(body["expirationDateTime"])
        return Response(200, resource(emu, sub))


def resource(emu, sub):
    """The subscription as Graph shows it."""
    out = {"@odata.context": emu.base_url + "/$metadata#subscriptions/$entity"}
    out.update({k: v for k, v in sub.items() if not k.startswith("_")})
    return out


def _checked_expiration(value):
    try:
        when = timeutil.parse_instant(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise GraphError(
            400, "InvalidRequest", "expirationDateTime '%s' is not a valid date." % value
        ) from exc
    now = now_utc()
    if when <= now:
        raise GraphError(
            400, "InvalidRequest", "Subscription expiration can only be in the future."
        )
    if when > now + timedelta(minutes=MAX_MINUTES):
        raise GraphError(
            400,
            "InvalidRequest",
            "Subscription expiration can only be %d minutes in the future." % MAX_MINUTES,
        )
    return fmt_instant(when)


def _create(emu, body, principal):
    match, change_types, client_state, expiration = _checked_body(body)
    with emu.lock:
        mailbox = _subscribed_mailbox(emu, match, principal)
    for key in ("notificationUrl", "lifecycleNotificationUrl"):
        if body.get(key) and not send_validation(emu, body[key]).ok:
            raise GraphError(
                400,
                "InvalidRequest",
                "Subscription validation request "
                "failed. Notification endpoint must respond with 200 OK "
                "to validation request.",
            )
    sub = {
        "id": str(uuid.uuid4()),
        "resource": body.get("resource") or "",
        "applicationId": principal.client_id,
        "changeType": ",".join(change_types),
        "clientState": client_state,
        "notificationUrl": body["notificationUrl"],
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
        "expirationDateTime": expiration,
        "creatorId": principal.user_id or principal.client_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": body.get("latestSupportedTlsVersion") or "v1_2",
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
        "notificationContentType": "application/json",
        "_user_id": mailbox.user_id,
    }
    with emu.lock:
        emu.subscriptions[sub["id"]] = sub
    return Response(201, resource(emu, sub))


def _checked_body(body):
    """(resource match, change types, clientState, expiration) of a creation body, or 400."""
    if not isinstance(body, dict):
        raise GraphError(400, "InvalidRequest", "A subscription body is required.")
    resource_path = body.get("resource") or ""
    match = _RESOURCE.match(resource_path)
    if not match:
        raise GraphError(
            400,
            "InvalidRequest",
            "Resource '%s' is not supported: use me/events or users/{id}/events." % resource_path,
        )
    change_types = [c.strip() for c in (body.get("changeType") or "").split(",") if c.strip()]
    if not change_types or any(c not in CHANGE_TYPES for c in change_types):
        raise GraphError(
            400,
            "InvalidRequest",
            "changeType '%s' is not valid; use "
            "created, updated and/or deleted." % body.get("changeType"),
        )
    for key in ("notificationUrl", "lifecycleNotificationUrl"):
        if key in body and body[key] is not None and not webhooks.url_allowed(body[key]):
            raise GraphError(400, "InvalidRequest", "The %s must be an https URL." % key)
    if not body.get("notificationUrl"):
        raise GraphError(400, "InvalidRequest", "notificationUrl is required.")
    client_state = body.get("clientState")
    if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
        raise GraphError(400, "InvalidRequest", "clientState must be at most 128 characters.")
    expiration = _checked_expiration(body.get("expirationDateTime"))
    return match, change_types, client_state, expiration


def _subscribed_mailbox(emu, match, principal):
    """The mailbox of the subscription's resource, if the caller may read it."""
    if match.group(1).lower() == "me":
        if not principal.user_id:
            raise GraphError(
                400,
                "InvalidRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        return emu.mailboxes[principal.user_id]
    mailbox = emu.find_mailbox(match.group(2) or match.group(3))
    if mailbox is None:
        raise GraphError(404, "ErrorInvalidUser", "The requested user is invalid.")
    if principal.user_id and principal.user_id != mailbox.user_id:
        raise GraphError(403, "ErrorAccessDenied", "Access is denied.")
    return mailbox


# ----- notifications ---------------------------------------------------------------------


def send_validation(emu, url, token=None):
    """POST the validation handshake to ``url``; returns a ValidationResult."""
    token = token or (
        "Validation: Testing client application reachability for "
        "subscription Request-Id: " + str(uuid.uuid4())
    )
    ok, response = webhooks.send_validation(url, token, emu.webhook_ssl_context)
    return ValidationResult(response.status, response.headers, response.body, token, ok)


def _notification(emu, sub, change_type, event_id, etag=None):
    resource_path = "Users/%s/Events/%s" % (sub["_user_id"], event_id)
    data = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource_path, "id": event_id}
    if etag:
        data["@odata.etag"] = etag
    return {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        "changeType": change_type,
        "resource": resource_path,
        "resourceData": data,
        "clientState": sub["clientState"],
        "tenantId": emu.tenant_id,
    }


def notify(emu, url, notifications):
    """POST ``{"value": notifications}`` to ``url`` now; returns the WebhookResponse."""
    return webhooks.post(
        url,
        json.dumps({"value": notifications}).encode(),
        "application/json",
        webhooks.NOTIFY_TIMEOUT,
        emu.webhook_ssl_context,
    )


def post_change_notifications(emu, subscription_id, change_type, event_id):
    """POST a Graph-shaped change notification for one event to the subscription."""
    with emu.lock:
        sub = emu.subscriptions[subscription_id]
        mailbox = emu.mailboxes.get(sub["_user_id"])
        try:
            etag = 'W/"%s"' % mailbox.get(event_id)["changeKey"]
        except (GraphError, AttributeError):
            etag = None
        payload = [_notification(emu, sub, change_type, event_id, etag)]
        url = sub["notificationUrl"]
    return notify(emu, url, payload)


def post_lifecycle(emu, subscription_id, event):
    """POST a lifecycle notification (reauthorizationRequired, subscriptionRemoved,
    missed) to the subscription's lifecycleNotificationUrl."""
    if event not in LIFECYCLE_EVENTS:
        raise ValueError("unknown lifecycle event %r" % event)
    with emu.lock:
        sub = emu.subscriptions[subscription_id]
        url = sub.get("lifecycleNotificationUrl")
        if not url:
            raise ValueError("subscription %s has no lifecycleNotificationUrl" % subscription_id)
        item = {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "tenantId": emu.tenant_id,
            "clientState": sub["clientState"],
            "lifecycleEvent": event,
        }
        if event == "subscriptionRemoved":
            emu.subscriptions.pop(subscription_id, None)
    return notify(emu, url, [item])


def notify_change(emu, mailbox, change_type, event_id):
    """Queue a notification of an event write to every live subscription of its mailbox
    that asked for ``change_type`` (``auto_notify``; called under the lock)."""
    now = now_utc()
    event = mailbox.events.get(event_id)
    etag = 'W/"%s"' % event["changeKey"] if event else None
    for sub in emu.subscriptions.values():
        if sub["_user_id"] != mailbox.user_id or change_type not in sub["changeType"]:
            continue
        if timeutil.parse_instant(sub["expirationDateTime"]) <= now:
            continue
        emu.deliverer.submit(
            sub["notificationUrl"],
            {"value": [_notification(emu, sub, change_type, event_id, etag)]},
        )
