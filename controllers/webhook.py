# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Microsoft Graph change notifications: the notification URL and the lifecycle URL.

Both URLs are ``office365_calendar_sync.public_base_url`` + the paths below; Graph must reach
them over https, and the Odoo server must select this database without a session (``dbfilter``
or a single database): Graph sends no cookie.

- Validation handshake (``?validationToken=...``, on subscription create): answered at once,
  200 ``text/plain`` with the token, without touching the database.
- Notifications: each item is authenticated by its subscription id and its ``clientState``
  (constant-time comparison). Authenticated items only queue a sync request for the user and
  wake the sync cron; nothing is synced in the request, which answers 202 within milliseconds.
- Refusals: when no item of a POST authenticates (unknown subscription, wrong or missing
  ``clientState``), the answer is 403 and nothing is queued or triggered. Graph retries non-2xx
  answers for up to 4 hours; only a forged POST, or one for a subscription this database no
  longer knows (it expires within 7 days), gets there. A POST mixing good and bad items gets 202
  and only the good items count. A body that is not a Graph notification gets 400: not JSON,
  nested too deeply, no ``value`` list, an item that is not an object or whose
  ``subscriptionId`` is not a string. Bad input always gets a 4xx, never a 500.
- Size: a body over :data:`MAX_BODY` gets 413 before it is read (declared length) or as soon
  as the limit is passed (chunked body), see ``models/ir_http.py``.
- Logging: refusals are logged at most once per reason and minute, with the count of those
  left out (anyone can post here: the log must not be theirs to fill).
"""

import json
import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import SUPERUSER_ID, http
from odoo.http import request

from ..models.ir_http import ROUTING_KEY
from ..models.office365_subscription import LIFECYCLE_PATH, NOTIFY_PATH, REFUSAL_LOG
from ..services.bodylimit import BodyTooLarge

_logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_TOKEN = 1024
# Graph's subscription ids are GUIDs; anything much longer is not one of ours.
MAX_ID = 256
ROUTE_OPTIONS = {
    "type": "http",
    "auth": "none",
    "methods": ["POST"],
    "csrf": False,
    "save_session": False,
    "readonly": False,
    "max_content_length": MAX_BODY,
    ROUTING_KEY: MAX_BODY,
}


class Office365Webhook(http.Controller):
    @http.route(NOTIFY_PATH, **ROUTE_OPTIONS)
    def office365_notify(self, **_kwargs):
        return self._o365_handle(lifecycle=False)

    @http.route(LIFECYCLE_PATH, **ROUTE_OPTIONS)
    def office365_lifecycle(self, **_kwargs):
        return self._o365_handle(lifecycle=True)

    def _o365_handle(self, lifecycle):
        token = request.httprequest.args.get("validationToken")
        if token is not None:
            if len(token) > MAX_TOKEN:
                return _reply(400)
            # Echo as plain text only (never HTML): Graph checks the body equals the token.
            return request.make_response(
                token,
                headers=[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
                status=200,
            )
        try:
            raw = _body()
        except (BodyTooLarge, RequestEntityTooLarge):
            REFUSAL_LOG.log(_logger, logging.WARNING, "size", "Office 365 notification too large")
            return _reply(413)
        items = _items(raw)
        if items is None:
            REFUSAL_LOG.log(
                _logger,
                logging.WARNING,
                "unreadable",
                "Office 365 notification with an unreadable body refused",
            )
            return _reply(400)
        env = request.env(user=SUPERUSER_ID)
        accepted = env["office365.subscription"]._o365_receive(items, lifecycle=lifecycle)
        return _reply(202 if accepted else 403)


def _body():
    """The request body, at most :data:`MAX_BODY` bytes (kept for a retried transaction).

    ir.http refused a larger declared length before dispatch and capped the stream, so
    get_data() raises RequestEntityTooLarge as soon as a chunked body passes the limit."""
    raw = getattr(request, "_office365_body", None)
    if raw is None:
        httprequest = request.httprequest
        if (httprequest.content_length or 0) > MAX_BODY:
            raise BodyTooLarge()
        raw = httprequest.get_data(cache=False)
        if len(raw) > MAX_BODY:
            raise BodyTooLarge()
        request._office365_body = raw
    return raw


def _items(raw):
    """The notification items of ``raw``, or None when it is not a Graph notification body."""
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays or objects exhaust the parser's stack.
        return None
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        return None
    for item in items:
        if not isinstance(item, dict):
            return None
        sub_id = item.get("subscriptionId")
        if not isinstance(sub_id, str) or not sub_id or len(sub_id) > MAX_ID:
            return None
    return items


def _reply(status):
    return request.make_response("", headers=[("Content-Type", "text/plain")], status=status)
