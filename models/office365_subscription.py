# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One Microsoft Graph change-notification subscription per connected mailbox.

Subscriptions are created, renewed and deleted only by the sync job (or the renewal cron), with
the account's row lock held, never inside a user's transaction: the Graph calls rotate the
account's refresh token, which must not happen twice at once.

Notifications reach ``controllers/webhook.py``, which authenticates them against the rows of
this model (subscription id + ``clientState``, constant-time comparison) and only queues a sync
request (``office365.sync.request``); the sync itself runs in the cron.
"""

import contextlib
import hmac
import logging
import secrets
from datetime import timedelta, timezone

from dateutil import parser as date_parser

from odoo import api, fields, models
from odoo.tools import SQL

from ..services.constants import PARAM
from ..services.errors import GraphError, NotFound
from ..services.logthrottle import LogThrottle

_logger = logging.getLogger(__name__)

NOTIFY_PATH = "/office365_calendar_sync/webhook/notify"
LIFECYCLE_PATH = "/office365_calendar_sync/webhook/lifecycle"
# Outlook event subscriptions live at most 10,080 minutes; keep a margin for clock skew.
MAX_LIFETIME_MINUTES = 10080
LIFETIME_MINUTES = MAX_LIFETIME_MINUTES - 30
RENEW_BEFORE = timedelta(hours=36)
RETRY_FAILED_AFTER = timedelta(minutes=30)
# Refused notifications (anyone can post them) are logged at most once a minute per reason.
REFUSAL_LOG = LogThrottle(interval=60.0)
LIFECYCLE_KINDS = {
    "reauthorizationRequired": "renew",
    "subscriptionRemoved": "recreate",
    "missed": "missed",
}


class Office365Subscription(models.Model):
    _name = "office365.subscription"
    _description = "Office 365 change notification subscription"
    _rec_name = "graph_id"

    account_id = fields.Many2one("office365.account", required=True, index=True, ondelete="cascade")
    user_id = fields.Many2one(related="account_id.user_id")
    graph_id = fields.Char("Subscription id", index=True, copy=False)
    # Secret shared with Graph only: compared with hmac.compare_digest on every notification.
    client_state = fields.Char(groups="base.group_system", copy=False, prefetch=False)
    expiration = fields.Datetime(copy=False)
    notification_url = fields.Char(copy=False)
    lifecycle_url = fields.Char(copy=False)
    state = fields.Selection(
        [("active", "Active"), ("failed", "Failed")], default="active", required=True
    )
    last_error = fields.Text(copy=False)
    retry_at = fields.Datetime(copy=False)

    _sql_constraints = [
        ("account_unique", "unique(account_id)", "One subscription per Office 365 account."),
        ("graph_id_unique", "unique(graph_id)", "A Graph subscription is stored once."),
    ]

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------
    @api.model
    def _o365_public_base_url(self):
        """Public https root of this Odoo (empty: no notifications, sync polls)."""
        url = self.env["ir.config_parameter"].sudo().get_param(PARAM + "public_base_url") or ""
        return url.strip().rstrip("/")

    @api.model
    def _o365_urls(self, base_url=None):
        base_url = base_url if base_url is not None else self._o365_public_base_url()
        if not base_url:
            return None, None
        return base_url + NOTIFY_PATH, base_url + LIFECYCLE_PATH

    @api.model
    def _o365_wanted(self, account):
        return bool(
            self._o365_public_base_url()
            and account.state == "connected"
            and account._o365_enabled_options()
        )

    # ------------------------------------------------------------------
    # Create / renew / delete (sync job only, account row locked)
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def _o365_client(self, account):
        client = account._o365_graph_client()
        try:
            yield client
        finally:
            account._o365_store_token_cache(client.token_provider.cache_state())
            client.close()

    @api.model
    def _o365_maintain(self, account, kinds=frozenset()):
        """Bring ``account``'s subscription to what is wanted; True when it is live after.

        ``kinds`` are the queued request kinds: "renew" (reauthorizationRequired) forces a
        renewal, "recreate" (subscriptionRemoved) a new subscription. Graph failures are logged
        on the subscription and retried after :data:`RETRY_FAILED_AFTER`; they never raise.
        """
        claim = account._o365_claim()
        if claim and not claim.subscribed:
            sub = self.sudo().browse()  # the sync job's claim found none (same snapshot)
        else:
            sub = self.sudo().search([("account_id", "=", account.id)], limit=1)
        if not self._o365_wanted(account):
            if sub:
                self._o365_drop(account, sub)
            return False
        now = fields.Datetime.now()
        # subscriptionRemoved: a new subscription, but only once the old one is known gone in
        # Graph (deleted now, or already gone). Lifecycle notifications are not signed: a
        # captured one can be replayed by anyone who saw it, and must never leave the old
        # subscription live beside a new one. The new one also gets a new clientState, so
        # the captured secret stops working.
        recreate = bool(sub and sub.graph_id and "recreate" in kinds)
        notify_url, lifecycle_url = self._o365_urls()
        create = (
            recreate
            or not sub
            or not sub.graph_id
            or (sub.notification_url, sub.lifecycle_url) != (notify_url, lifecycle_url)
        )
        renew = not create and (
            "renew" in kinds or not sub.expiration or sub.expiration - now < RENEW_BEFORE
        )
        forced = {"renew", "recreate"} & set(kinds)
        if sub.state == "failed" and sub.retry_at and sub.retry_at > now and not forced:
            return False
        if not (create or renew):
            return sub.state == "active"
        sub = sub or self.sudo().create({"account_id": account.id, "state": "failed"})
        try:
            with self._o365_client(account) as client:
                if renew:
                    try:
                        self._o365_renew(client, sub)
                    except NotFound:
                        _logger.info("Subscription of user %s is gone: new one", account.user_id.id)
                        sub.graph_id = False
                        create = True
                if create:
                    self._o365_create(client, sub, notify_url, lifecycle_url)
        except GraphError as exc:
            _logger.warning(
                "Office 365 subscription of user %s failed, polling meanwhile: %s",
                account.user_id.id,
                exc,
            )
            sub._o365_failed(str(exc))
            if recreate and sub.graph_id:
                # The old one could not be deleted: the retry renews it (404: creates anew).
                sub.expiration = False
            return False
        except (KeyError, TypeError, ValueError, OSError) as exc:
            # An unexpected answer must not stop the sync of this mailbox: it polls meanwhile.
            _logger.exception(
                "Office 365 subscription of user %s failed unexpectedly", account.user_id.id
            )
            sub._o365_failed(f"{type(exc).__name__}: {exc}")
            return False
        return True

    def _o365_failed(self, message):
        self.write(
            {
                "state": "failed",
                "last_error": message,
                "retry_at": fields.Datetime.now() + RETRY_FAILED_AFTER,
            }
        )

    def _o365_create(self, client, sub, notify_url, lifecycle_url):
        if sub.graph_id:
            # The public URL changed, or Graph said it removed the subscription: the old one
            # must be gone (404 counts as gone) before another is created, else both stay live.
            # A failure raises: the subscription is retried later, never doubled.
            client.delete_subscription(sub.graph_id)
            sub.graph_id = False
        client_state = secrets.token_urlsafe(64)  # 86 characters, Graph allows 128
        expiration = fields.Datetime.now() + timedelta(minutes=LIFETIME_MINUTES)
        body = client.create_subscription(notify_url, lifecycle_url, client_state, expiration)
        sub.sudo().write(
            {
                "graph_id": body["id"],
                "client_state": client_state,
                "expiration": _parse_expiration(body, expiration),
                "notification_url": notify_url,
                "lifecycle_url": lifecycle_url,
                "state": "active",
                "last_error": False,
                "retry_at": False,
            }
        )
        _logger.info("Office 365 subscription created for user %s", sub.account_id.user_id.id)

    def _o365_renew(self, client, sub):
        expiration = fields.Datetime.now() + timedelta(minutes=LIFETIME_MINUTES)
        body = client.renew_subscription(sub.graph_id, expiration)
        sub.write(
            {
                "expiration": _parse_expiration(body, expiration),
                "state": "active",
                "last_error": False,
                "retry_at": False,
            }
        )

    def _o365_delete_remote(self, client, sub):
        try:
            client.delete_subscription(sub.graph_id)
        except GraphError as exc:
            # It expires by itself; its notifications are refused meanwhile.
            _logger.warning("Office 365 subscription %s not deleted: %s", sub.graph_id, exc)

    @api.model
    def _o365_drop(self, account, sub):
        """Delete the subscription of an account that no longer wants notifications."""
        if sub.graph_id and account.state == "connected":
            try:
                with self._o365_client(account) as client:
                    self._o365_delete_remote(client, sub)
            except GraphError as exc:
                _logger.warning("Office 365 subscription %s not deleted: %s", sub.graph_id, exc)
        sub.sudo().unlink()

    # ------------------------------------------------------------------
    # Incoming notifications (webhook; must answer within a few ms)
    # ------------------------------------------------------------------
    @api.model
    def _o365_receive(self, items, lifecycle=False):
        """Authenticate Graph notification ``items`` and queue a sync for their accounts.

        Returns how many items were authenticated. Items with an unknown subscription id or a
        wrong ``clientState`` are ignored (and logged); nothing is synced inline.
        """
        # Only objects with a string id take part (a list as id is unhashable).
        items = [
            item
            for item in items
            if isinstance(item, dict) and isinstance(item.get("subscriptionId"), str)
        ]
        sub_ids = list({item["subscriptionId"] for item in items})
        if not sub_ids:
            REFUSAL_LOG.log(
                _logger,
                logging.WARNING,
                "no-id",
                "Office 365 notification without a subscription id refused",
            )
            return 0
        self.flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT graph_id, account_id, client_state FROM office365_subscription"
                " WHERE graph_id = ANY(%s)",
                sub_ids,
            )
        )
        known = {row[0]: (row[1], row[2] or "") for row in self.env.cr.fetchall()}
        kinds, accepted, refused = {}, 0, 0
        for item in items:
            account_id, secret = known.get(item.get("subscriptionId"), (None, None))
            given = item.get("clientState")
            if (
                account_id is None
                or not isinstance(given, str)
                or not secret
                or not hmac.compare_digest(given.encode(), secret.encode())
            ):
                refused += 1
                continue
            if lifecycle:
                event = item.get("lifecycleEvent")
                kind = LIFECYCLE_KINDS.get(event) if isinstance(event, str) else None
                if not kind:
                    _logger.info("Unknown lifecycle event %r ignored", str(event)[:64])
                    accepted += 1
                    continue
            else:
                kind = "change"
            kinds.setdefault(account_id, set()).add(kind)
            accepted += 1
        if refused:
            REFUSAL_LOG.log(
                _logger,
                logging.WARNING,
                "unauthenticated",
                "Office 365 notification: %d item(s) with an unknown subscription or a wrong "
                "clientState refused",
                refused,
            )
        if kinds:
            fresh = self.env["office365.sync.request"].sudo()._o365_add(kinds)
            if fresh:
                # Only the first request of an account wakes the job: a burst makes one trigger.
                self.env["office365.account"]._o365_trigger_sync()
        return accepted

    # ------------------------------------------------------------------
    # Renewal cron
    # ------------------------------------------------------------------
    @api.model
    def _o365_accounts_to_maintain(self):
        """Ids of accounts whose subscription must be created, renewed, retried or dropped."""
        now = fields.Datetime.now()
        notify_url, lifecycle_url = self._o365_urls()
        subs = self.sudo().search([])
        todo = set()
        for sub in subs:
            if (
                not notify_url
                or sub.account_id.state != "connected"
                or (sub.notification_url, sub.lifecycle_url) != (notify_url, lifecycle_url)
                or not sub.graph_id
                or not sub.expiration
                or sub.expiration - now < RENEW_BEFORE
            ) and not (sub.state == "failed" and sub.retry_at and sub.retry_at > now):
                todo.add(sub.account_id.id)
        if notify_url:
            enabled = self.env["res.users.settings"]._o365_enabled_user_ids()
            missing = (
                self.env["office365.account"]
                .sudo()
                .search(
                    [
                        ("state", "=", "connected"),
                        ("user_id", "in", list(enabled)),
                        ("id", "not in", subs.account_id.ids),
                    ]
                )
            )
            todo.update(missing.ids)
        return sorted(todo)

    @api.model
    def _cron_renew(self, max_accounts=200):
        """Create, renew (before expiry) or drop subscriptions; any number of workers at once.

        Each account is locked with ``SKIP LOCKED``: an account being synced right now is
        skipped, its sync maintains the subscription itself.
        """
        account_model = self.env["office365.account"].sudo()
        # Requests of mailboxes that are not connected (any more) will never be served.
        self.env.cr.execute(
            """
            DELETE FROM office365_sync_request r USING office365_account a
             WHERE a.id = r.account_id AND a.state != 'connected'
            """
        )
        todo = self._o365_accounts_to_maintain()
        done = 0
        for account_id in todo[:max_accounts]:
            account = account_model._o365_lock(account_id)
            if not account:
                continue
            self._o365_maintain(account)
            done += 1
            if account_model._o365_may_commit():
                # One account per transaction: releases its row lock at once.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        remaining = max(0, len(todo) - max_accounts)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done


def _parse_expiration(body, default):
    """Graph's expirationDateTime as a naive UTC datetime (``default`` when unreadable)."""
    value = (body or {}).get("expirationDateTime")
    try:
        when = date_parser.isoparse(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.replace(microsecond=0)
