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
  and only the good items count. A body that is not a Graph notification gets 400.
"""

import json
import logging

from odoo import SUPERUSER_ID, http
from odoo.http import request

from ..models.office365_subscription import LIFECYCLE_PATH, NOTIFY_PATH

_logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_TOKEN = 1024


class Office365Webhook(http.Controller):
    @http.route(
        NOTIFY_PATH,
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def office365_notify(self, **_kwargs):
        return self._o365_handle(lifecycle=False)

    @http.route(
        LIFECYCLE_PATH,
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
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
        raw = request.httprequest.get_data(cache=False)
        if len(raw) > MAX_BODY:
            return _reply(413)
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = None
        items = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            _logger.warning("Office 365 notification with an unreadable body refused")
            return _reply(400)
        env = request.env(user=SUPERUSER_ID)
        accepted = env["office365.subscription"]._o365_receive(items, lifecycle=lifecycle)
        return _reply(202 if accepted else 403)


def _reply(status):
    return request.make_response("", headers=[("Content-Type", "text/plain")], status=status)
