# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One Office 365 mailbox connection per user: tokens, delta state and the per-user sync run."""

import hashlib
import logging
import threading
import os
import time
from collections import defaultdict
from datetime import timedelta

import psycopg2.errors

from odoo import api, fields, models, modules
from odoo.tools import SQL, config

from ..services import decisions, delta_completion
from ..services.auth import TokenProvider
from ..services.errors import GraphError, ReconnectNeeded, ResyncRequired, ThrottledError
from ..services.graph_client import (
    EXTENDED_PROPERTY_ID,
    GraphClient,
    WriteOp,
)
from ..services.pacing import MailboxPacer, throttle_delay
from ..services.runstats import RunStats
from ..services.tokenkeys import (
    TokenBox,
    TokenKeyMissing,
    legacy_fernet,
    server_fernet,
    split_keys,
)

_logger = logging.getLogger(__name__)

PARAM = "office365_calendar_sync."
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
OPTIONS = ("activities", "events", "holidays")
CTX_COMMIT = "office365_calendar_sync_commit"
# A Retry-After longer than this stops the run for the mailbox (throttled_until) instead of
# keeping the worker asleep: the other mailboxes go on.
MAX_WAIT_IN_RUN = 30.0
CATEGORY_COLOR = "preset9"
CATEGORY_CHECK_SECONDS = 3600
_CATEGORY_CHECKED = {}  # (db, account id, mailbox, graph url) -> time of the last check
_REENCRYPTED = set()  # (db, current key fingerprint): token caches re-encrypted by this process
# Server options (odoo.conf), each with its environment variable used when the option is unset.
SERVER_OPTIONS = {
    "office365_token_key": "O365_TOKEN_KEY",
    "office365_token_old_keys": "O365_TOKEN_OLD_KEYS",
    "office365_client_secret": "O365_CLIENT_SECRET",
}


def server_option(name):
    """A secret of the server configuration: the odoo.conf option, else its environment
    variable. Never read from the database."""
    return (config.get(name) or os.environ.get(SERVER_OPTIONS[name]) or "").strip()


def insecure_mode_allowed():
    """Developer mode (``--dev``) or a server running tests (``--test-enable``): tokens may be
    stored without a server key, encrypted with the database-derived key, with a warning."""
    return bool(config.get("dev_mode") or config.get("test_enable"))


class Office365Account(models.Model):
    _name = "office365.account"
    _description = "Office 365 mailbox connection"
    _rec_name = "email"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    # The mailbox this account reads and writes. Never taken from res.users.email (every user
    # may edit their own): it is the identity of a Microsoft sign-in (delegated mode) or the
    # mailbox an administrator assigned (app-only mode, where the application reaches every
    # mailbox of the tenant); see _o365_binding_error.
    email = fields.Char("Connected account")
    assigned_mailbox = fields.Char(
        "Assigned mailbox",
        copy=False,
        help="App-only mode: the Office 365 mailbox an administrator assigned to this user.",
    )
    verified_mailbox = fields.Char(
        copy=False, help="The mailbox proved by the assignment or the Microsoft sign-in."
    )
    mailbox_proof = fields.Selection(
        [("assigned", "Assigned by an administrator"), ("signed_in", "Microsoft sign-in")],
        "Mailbox proved by",
        copy=False,
    )
    state = fields.Selection(
        [
            ("disconnected", "Not connected"),
            ("connected", "Connected"),
            ("reconnect", "Reconnect needed"),
        ],
        default="disconnected",
        required=True,
    )
    token_cache = fields.Text(groups="base.group_system", copy=False, prefetch=False)
    delta_link = fields.Text(groups="base.group_system", copy=False, prefetch=False)
    delta_window_start = fields.Date(copy=False)
    sync_requested_at = fields.Datetime(copy=False, index=True)
    next_sync_at = fields.Datetime(copy=False, index=True)
    last_sync_at = fields.Datetime(copy=False)
    last_error = fields.Text(copy=False)
    # Graph throttled this mailbox (429): no worker claims it before this time.
    throttled_until = fields.Datetime(copy=False, index=True)
    subscription_status = fields.Selection(
        [("live", "Live"), ("polling", "Polling")],
        "Change detection",
        compute="_compute_subscription_status",
        help="Live: Outlook notifies Odoo of each change (needs a public base URL). "
        "Polling: changes are read at the configured sync frequency.",
    )

    _sql_constraints = [
        ("user_unique", "unique(user_id)", "One Office 365 connection per user."),
    ]
    # Seconds a request waits for one of its mailbox's 4 slots before giving up (throttled).
    _o365_pacing_timeout = 60.0

    def _compute_subscription_status(self):
        now = fields.Datetime.now()
        subs = self.env["office365.subscription"].sudo().search([("account_id", "in", self.ids)])
        live = {
            sub.account_id.id
            for sub in subs
            if sub.state == "active" and sub.graph_id and sub.expiration and sub.expiration > now
        }
        base_url = self.env["office365.subscription"]._o365_public_base_url()
        for account in self:
            account.subscription_status = "live" if base_url and account.id in live else "polling"

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------
    @api.model
    def _o365_config(self):
        get = self.env["ir.config_parameter"].sudo().get_param
        ca_bundle = get(PARAM + "ca_bundle") or ""
        return {
            "client_id": get(PARAM + "client_id") or "",
            # The server's option wins: then the secret is not in the database at all.
            "client_secret": server_option("office365_client_secret")
            or get(PARAM + "client_secret")
            or "",
            "tenant": get(PARAM + "tenant") or "organizations",
            "mode": get(PARAM + "mode") or "user",
            "graph_url": (get(PARAM + "graph_url") or DEFAULT_GRAPH_URL).rstrip("/"),
            "login_url": (get(PARAM + "login_url") or DEFAULT_LOGIN_URL).rstrip("/"),
            "verify": ca_bundle or True,
            "page_size": int(get(PARAM + "page_size") or 100),
            "interval": int(get(PARAM + "sync_interval_minutes") or 15),
            # Safety delta read of a mailbox whose changes are notified (live).
            "live_interval": int(get(PARAM + "live_poll_minutes") or 240),
        }

    def _o365_setting(self, name):
        self.ensure_one()
        settings = self.env["res.users.settings"].sudo()._find_or_create_for_user(self.user_id)
        return settings._o365_effective(name)

    def _o365_prevented(self):
        return decisions.Prevented(
            **{
                f"{side}_{op}": bool(self._o365_setting(f"o365_prevent_{side}_{op}"))
                for side in ("odoo", "outlook")
                for op in ("create", "update", "delete")
            }
        )

    def _o365_time_zone(self):
        self.ensure_one()
        return self.user_id.tz or "UTC"

    def _o365_category_name(self):
        return "Odoo"

    def _o365_ensure_category(self, client, stats):
        """Create our Outlook category (with its colour) in the mailbox if it is missing.

        Checked at most once per process and mailbox per hour: every created event names it.
        """
        self.ensure_one()
        key = (self.env.cr.dbname, self.id, self.email, client.base_url)
        checked = _CATEGORY_CHECKED.get(key)
        if checked and time.monotonic() - checked < CATEGORY_CHECK_SECONDS:
            return
        try:
            client.ensure_category(self._o365_category_name(), CATEGORY_COLOR)
        except GraphError as exc:
            stats.error(
                "activities",
                f"The Outlook category {self._o365_category_name()!r} could not be created: {exc}",
                level="warning",
            )
            return
        _CATEGORY_CHECKED[key] = time.monotonic()

    def _o365_enabled_options(self):
        self.ensure_one()
        settings = self.env["res.users.settings"].sudo()._find_or_create_for_user(self.user_id)
        return {option for option in OPTIONS if settings[f"o365_{option}_enabled"]}

    # ------------------------------------------------------------------
    # Which mailbox this account may reach
    # ------------------------------------------------------------------
    def _o365_bind_mailbox(self, mailbox, proof):
        """Bind the account to ``mailbox``, proved by ``proof`` (``assigned``: the address an
        administrator assigned; ``signed_in``: the identity of the Microsoft sign-in)."""
        self.ensure_one()
        mailbox = (mailbox or "").strip()
        vals = {
            "email": mailbox or False,
            "verified_mailbox": mailbox or False,
            "mailbox_proof": proof if mailbox else False,
            "state": "connected",
            "last_error": False,
        }
        if self.email and mailbox.casefold() != self.email.casefold():
            vals["delta_link"] = False  # another mailbox: its changes start from scratch
        self.sudo().write(vals)

    def _o365_assign_mailbox(self, mailbox):
        """An administrator assigns the app-only mailbox; an account bound to another mailbox
        stops until its user connects again (to the assigned one)."""
        mailbox = (mailbox or "").strip() or False
        app_mode = self._o365_config()["mode"] == "app"
        for account in self.sudo():
            vals = {"assigned_mailbox": mailbox}
            same = bool(
                account.email and mailbox and account.email.casefold() == mailbox.casefold()
            )
            if same and account.mailbox_proof != "signed_in":
                # The administrator confirms the mailbox the account is bound to (e.g. an account
                # connected before mailboxes were assigned): it may sync again.
                vals.update({"verified_mailbox": account.email, "mailbox_proof": "assigned"})
                if app_mode and account.state == "reconnect":
                    vals.update({"state": "connected", "last_error": False})
            elif account.email and not same:
                if account.state == "connected":
                    vals["state"] = "reconnect"
                vals["last_error"] = self.env._(
                    "The administrator assigned another Office 365 mailbox: connect again."
                )
            account.write(vals)

    def _o365_binding_error(self, config=None):
        """Why this account may not reach its mailbox now ("" when it may).

        App-only mode reaches any mailbox of the tenant by its address, so the address must be
        the one an administrator assigned (and still assigns), or the identity of a Microsoft
        sign-in. Delegated mode reads ``/me``: the token itself is the binding.
        """
        self.ensure_one()
        config = config or self._o365_config()
        if config["mode"] != "app":
            return ""
        email = (self.email or "").strip().casefold()
        verified = (self.verified_mailbox or "").strip().casefold()
        if not email or email != verified or not self.mailbox_proof:
            return self.env._(
                "The mailbox %(mailbox)s was neither assigned by an administrator nor proved by "
                "a Microsoft sign-in: nothing is synced until an administrator assigns it.",
                mailbox=self.email or "?",
            )
        if self.mailbox_proof == "assigned" and email != (
            (self.assigned_mailbox or "").strip().casefold()
        ):
            return self.env._(
                "The mailbox %(mailbox)s is no longer the one assigned by the administrator: "
                "connect again.",
                mailbox=self.email,
            )
        return ""

    # ------------------------------------------------------------------
    # Tokens
    # ------------------------------------------------------------------
    @api.model
    def _o365_token_box(self, warn=False):
        """The keys of the stored token caches (see ``services/tokenkeys.py``).

        Encryption needs the server key ``office365_token_key`` (or ``O365_TOKEN_KEY``); without
        it, only developer and test mode fall back to the database-derived key, with a warning.
        A configured key that is too short is refused (never silently replaced).
        """
        legacy = legacy_fernet(
            self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""
        )
        try:
            old = [
                server_fernet(key) for key in split_keys(server_option("office365_token_old_keys"))
            ]
            secret = server_option("office365_token_key")
            current = server_fernet(secret) if secret else None
        except ValueError as exc:
            raise TokenKeyMissing(f"Unusable server configuration: {exc}") from exc
        if current is None and insecure_mode_allowed():
            if warn:
                _logger.warning(
                    "office365_token_key is not set: Office 365 tokens are encrypted with a "
                    "key derived from database.secret, which a copy of the database opens. "
                    "Allowed in developer and test mode only; set office365_token_key in the "
                    "server configuration (or O365_TOKEN_KEY) before real use."
                )
            current = legacy
        return TokenBox(current, old, legacy)

    @api.model
    def _o365_check_token_key(self):
        """Raise :class:`TokenKeyMissing` when tokens could not be stored: before a sign-in or
        a run starts, not after the identity platform rotated a refresh token."""
        if not self._o365_token_box().can_encrypt:
            raise TokenKeyMissing(
                "The server has no key to encrypt Office 365 tokens with: the administrator "
                "must set office365_token_key in the Odoo configuration file (or the "
                "O365_TOKEN_KEY environment variable) and restart Odoo."
            )

    def _o365_read_token_cache(self):
        self.ensure_one()
        raw = self.sudo().token_cache
        text, stale = self._o365_decrypt(raw)
        if stale and text is not None:
            box = self._o365_token_box()
            if box.can_encrypt:
                # Opened with an old or the legacy key: written back with the current one.
                self._o365_write_token_cache({self.id: (raw, box.encrypt(text))})
        return text

    def _o365_decrypt(self, raw):
        """``(text, stale)`` of a stored cache; ``(None, False)`` when no key opens it."""
        if not raw:
            return None, False
        try:
            return self._o365_token_box().decrypt(raw)
        except Exception:  # a wrong key must not crash the run
            _logger.error("Office 365 token cache of user %s cannot be decrypted", self.user_id.id)
            return None, False

    def _o365_store_token_cache(self, state):
        """Persist msal's serialized cache (with the rotated refresh token), encrypted."""
        self.ensure_one()
        if state is None:
            return
        encrypted = self._o365_token_box(warn=True).encrypt(state) if state else False
        self.sudo().token_cache = encrypted

    @api.model
    def _o365_write_token_cache(self, changes):
        """``changes``: {account id: (expected, new)}. Each stored cache still ``expected`` is
        replaced by ``new`` in one query, skipping rows a worker holds (it writes the cache
        with the current key itself). Returns how many were replaced."""
        if not changes:
            return 0
        self.flush_model(["token_cache"])
        ids = list(changes)
        self.env.cr.execute(
            SQL(
                """
                UPDATE office365_account a SET token_cache = v.new
                  FROM unnest(%s::int[], %s::text[], %s::text[]) AS v(id, old, new)
                 WHERE a.id = v.id AND a.token_cache = v.old
                   AND a.id IN (SELECT id FROM office365_account WHERE id = ANY(%s)
                                FOR NO KEY UPDATE SKIP LOCKED)
                """,
                ids,
                [changes[i][0] for i in ids],
                [changes[i][1] for i in ids],
                ids,
            )
        )
        self.browse(ids).invalidate_recordset(["token_cache"])
        return self.env.cr.rowcount

    @api.model
    def _o365_reencrypt_token_caches(self):
        """Write every stored cache opened by an old or the legacy key back with the current
        key; returns how many were. The sync job runs it once per process and key."""
        box = self._o365_token_box()
        if not box.can_encrypt:
            return 0
        self.flush_model(["token_cache"])
        self.env.cr.execute(
            "SELECT id, token_cache FROM office365_account WHERE token_cache IS NOT NULL"
        )
        changes = {}
        for account_id, raw in self.env.cr.fetchall():
            try:
                text, stale = box.decrypt(raw)
            except Exception:  # no key opens it: left as it is (its user reconnects)
                continue
            if stale:
                changes[account_id] = (raw, box.encrypt(text))
        done = self._o365_write_token_cache(changes)
        if done:
            _logger.info("%d Office 365 token cache(s) re-encrypted with the current key", done)
        return done

    @api.model
    def _o365_reencrypt_once(self):
        key = server_option("office365_token_key")
        if not key:
            return
        marker = (self.env.cr.dbname, hashlib.sha256(key.encode()).hexdigest())
        if marker in _REENCRYPTED:
            return
        self._o365_reencrypt_token_caches()
        _REENCRYPTED.add(marker)

    def _o365_token_provider(self, config=None):
        self._o365_check_token_key()
        config = config or self._o365_config()
        return TokenProvider(
            config["client_id"],
            config["client_secret"],
            f"{config['login_url']}/{config['tenant']}",
            cache_state=self._o365_read_token_cache() if self else None,
            verify=config["verify"],
            app_only=config["mode"] == "app",
            account_username=self.email if self else None,
            cache_loader=self._o365_committed_token_cache if self else None,
        )

    def _o365_committed_token_cache(self):
        """The token cache as last committed, read in a fresh cursor: another worker may have
        rotated the refresh token after this transaction's snapshot was taken."""
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT token_cache FROM office365_account WHERE id = %s", [self.id])
            row = cr.fetchone()
        return self._o365_decrypt(row and row[0])[0]

    def _o365_graph_client(self):
        """The one place models get a Microsoft Graph client (tests may swap it).

        Refuses (``ReconnectNeeded``, before any request) an account whose mailbox was neither
        assigned by an administrator nor proved by a sign-in: every run, subscription and
        calendar listing goes through here.
        """
        self.ensure_one()
        config = self._o365_config()
        refused = self._o365_binding_error(config)
        if refused:
            raise ReconnectNeeded(403, "mailboxNotAssigned", refused)
        client = GraphClient(
            config["graph_url"],
            self._o365_token_provider(config),
            mailbox=self.email if config["mode"] == "app" else None,
            verify=config["verify"],
            page_size=config["page_size"],
        )
        return self._o365_pace(client)

    def _o365_pace(self, client):
        """Hook per-mailbox pacing into ``client``: at most 4 concurrent requests per mailbox
        across all workers (session advisory locks), and a 429, for a whole request or for
        items of a ``$batch``, marks this mailbox only as throttled (``throttled_until``,
        honoured by the claim).

        The client sends its write chains from threads while this run's thread waits for them;
        the hooks below are their only use of the run's cursor, one at a time.
        """
        self.ensure_one()
        cr = self.env.cr
        cursor_lock = threading.RLock()

        def try_lock(key):
            with cursor_lock:
                cr.execute(SQL("SELECT pg_try_advisory_lock(%s, %s)", *key))
                return cr.fetchone()[0]

        def unlock(key):
            with cursor_lock:
                cr.execute(SQL("SELECT pg_advisory_unlock(%s, %s)", *key))

        pacer = MailboxPacer(
            self.email or f"account-{self.id}", try_lock, unlock, timeout=self._o365_pacing_timeout
        )
        previous = client.on_request
        delays = [0.0]

        def after(method, path, status):
            pacer.release()
            if previous is not None:
                previous(method, path, status)

        def on_throttle(retry_after):
            with cursor_lock:
                delays[0] = throttle_delay(retry_after, delays[0])
                self._o365_mark_throttled(delays[0])

        client.before_request = pacer.acquire
        client.on_request = after
        client.on_throttle = on_throttle
        client.max_retry_after = min(client.max_retry_after, MAX_WAIT_IN_RUN)
        return client

    def _o365_mark_throttled(self, seconds):
        """Keep workers away from this mailbox for ``seconds`` (never waits for a row lock)."""
        self.ensure_one()
        self.env.cr.execute(
            SQL(
                """
                UPDATE office365_account
                   SET throttled_until = GREATEST(
                        COALESCE(throttled_until, statement_timestamp() at time zone 'UTC'),
                        (statement_timestamp() at time zone 'UTC') + %s * interval '1 second')
                 WHERE id IN (SELECT id FROM office365_account WHERE id = %s
                               FOR NO KEY UPDATE SKIP LOCKED)
                """,
                seconds,
                self.id,
            )
        )
        self.invalidate_recordset(["throttled_until"])

    # ------------------------------------------------------------------
    # Triggering and claiming
    # ------------------------------------------------------------------
    @api.model
    def _o365_trigger_sync(self):
        """Wake the sync job once per transaction, after commit (coalesces bursts of changes)."""
        data = self.env.cr.precommit.data
        if data.get("office365_calendar_sync.triggered"):
            return
        data["office365_calendar_sync.triggered"] = True
        cron = self.env.ref("office365_calendar_sync.ir_cron_office365_sync", False)
        if cron:
            cron.sudo()._trigger()

    def _o365_request_sync(self, kind="change"):
        """Ask for a sync of these accounts soon, without waiting for a worker that is syncing
        one of them (an ``office365.sync.request`` row instead of a write on the account)."""
        if not self:
            return
        fresh = (
            self.env["office365.sync.request"].sudo()._o365_add({aid: {kind} for aid in self.ids})
        )
        if fresh:
            self._o365_trigger_sync()

    @api.model
    def _o365_may_commit(self):
        """Crons commit per account, except inside Odoo tests (unless a test asks for it on its
        own cursors, to exercise concurrent workers)."""
        return bool(self.env.context.get(CTX_COMMIT) or not modules.module.current_test)

    @api.model
    def _o365_claim_next(self, skip_ids=()):
        """Lock one account that needs a sync; rows held by other workers are skipped.

        Accounts with a pending request (a change notification, "sync now") come before the
        ones only due for their periodic poll, so notified changes are not queued behind polls.
        ``NO KEY UPDATE`` (not ``UPDATE``): the lock does not conflict with the ``KEY SHARE``
        lock taken by inserting an ``office365.sync.request`` row, so a notification never
        waits for the worker syncing that account. A throttled mailbox is left alone until its
        ``throttled_until``. If the worker dies, PostgreSQL releases the lock with its
        connection and nothing was committed: the next run claims the account again.
        """
        self.env["office365.account"].flush_model()
        self.env["office365.link"].flush_model(["user_id", "state"])
        query = SQL(
            """
            SELECT a.id FROM office365_account a
             WHERE a.state = 'connected'
               AND a.id != ALL(%(skip)s)
               AND (a.throttled_until IS NULL
                    OR a.throttled_until <= (statement_timestamp() at time zone 'UTC'))
               AND (a.sync_requested_at IS NOT NULL
                    OR a.next_sync_at IS NULL
                    OR a.next_sync_at <= (statement_timestamp() at time zone 'UTC')
                    OR EXISTS (SELECT 1 FROM office365_sync_request r
                                WHERE r.account_id = a.id)
                    OR EXISTS (SELECT 1 FROM office365_link l
                                WHERE l.user_id = a.user_id
                                  AND l.state IN ('pending', 'to_delete')))
             ORDER BY (a.sync_requested_at IS NOT NULL
                       OR EXISTS (SELECT 1 FROM office365_sync_request r
                                   WHERE r.account_id = a.id)) DESC,
                      a.sync_requested_at NULLS LAST, a.next_sync_at NULLS FIRST, a.id
             LIMIT 1
             FOR NO KEY UPDATE OF a SKIP LOCKED
            """,
            skip=list(skip_ids),
        )
        self.env.cr.execute(query, log_exceptions=False)
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()

    @api.model
    def _o365_lock(self, account_id):
        """Lock the account ``account_id`` if no other worker holds it (else empty)."""
        self.env.cr.execute(
            SQL(
                "SELECT id FROM office365_account WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                account_id,
            )
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()

    @api.model
    def _cron_sync(self, max_accounts=500, max_seconds=240):
        """Sync every account that needs it; any number of workers can run this at once.

        One batch per call: at most ``max_accounts`` accounts or ``max_seconds``, committed per
        account. Progress goes to Odoo's cron progress API: while accounts remain, Odoo calls
        again at once (and reschedules the job as soon as possible after 10 batches).
        """
        started = time.monotonic()
        done = []
        commit = self._o365_may_commit()
        self._o365_reencrypt_once()
        while len(done) < max_accounts and time.monotonic() - started < max_seconds:
            try:
                account = self._o365_claim_next(skip_ids=done)
            except psycopg2.errors.SerializationFailure:
                if not commit:
                    raise
                # Repeatable read: an account another worker committed after this transaction
                # began cannot be locked by it. All work so far is committed: claim again in a
                # fresh transaction.
                self.env.cr.rollback()
                continue
            if not account:
                break
            done.append(account.id)
            account._o365_run_claimed()
            if commit:
                # Commit per user: releases this user's row lock and keeps finished work even if
                # a later user crashes the worker.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        remaining = self._o365_count_due(skip_ids=done) + self._o365_count_requested(done)
        if self.env.context.get("ir_cron_progress_id"):
            self.env["ir.cron"]._notify_progress(done=len(done), remaining=remaining)
        elif remaining and done:
            self._o365_trigger_sync()
        return len(done)

    def _o365_run_claimed(self):
        """Everything one claimed account needs: subscription, sync, served requests."""
        self.ensure_one()
        requests = self.env["office365.sync.request"].sudo()
        upto, kinds = requests._o365_pending(self)
        try:
            with self.env.cr.savepoint():
                # A removed subscription is recreated before the delta read: no change between
                # the two is lost.
                live = self.env["office365.subscription"]._o365_maintain(self, kinds)
                self._o365_sync()
                self._o365_after_run(upto, live)
        except Exception:
            self.env.invalidate_all()
            _logger.exception("Office 365 sync of user %s crashed", self.user_id.id)
            config = self._o365_config()
            self.write(
                {
                    "next_sync_at": fields.Datetime.now() + timedelta(minutes=config["interval"]),
                    "last_error": "Unexpected error, see the server log.",
                }
            )
            requests._o365_done(self, upto)
        finally:
            # Pacing slots are session advisory locks: never keep one past the run.
            self.env.cr.execute("SELECT pg_advisory_unlock_all()")

    def _o365_after_run(self, upto, live):
        self.ensure_one()
        now = fields.Datetime.now()
        if self.throttled_until and self.throttled_until > now:
            # Keep the requests: the account is synced once Graph lets it.
            cron = self.env.ref("office365_calendar_sync.ir_cron_office365_sync", False)
            if cron:
                cron.sudo()._trigger(at=self.throttled_until)
        else:
            self.env["office365.sync.request"].sudo()._o365_done(self, upto)
        if live:
            # Changes are notified: only a rare safety delta read is scheduled.
            later = now + timedelta(minutes=self._o365_config()["live_interval"])
            if not self.next_sync_at or self.next_sync_at < later:
                self.next_sync_at = later

    @api.model
    def _o365_count_due(self, skip_ids=()):
        self.env.cr.execute(
            SQL(
                """
                SELECT count(*) FROM office365_account a
                 WHERE a.state = 'connected' AND a.id != ALL(%(skip)s)
                   AND (a.throttled_until IS NULL
                        OR a.throttled_until <= (statement_timestamp() at time zone 'UTC'))
                   AND (a.sync_requested_at IS NOT NULL OR a.next_sync_at IS NULL
                        OR a.next_sync_at <= (statement_timestamp() at time zone 'UTC')
                        OR EXISTS (SELECT 1 FROM office365_sync_request r
                                    WHERE r.account_id = a.id))
                """,
                skip=list(skip_ids),
            )
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _o365_count_requested(self, account_ids):
        """Accounts synced in this batch that got new requests meanwhile."""
        if not account_ids:
            return 0
        self.env.cr.execute(
            SQL(
                """
                SELECT count(DISTINCT r.account_id) FROM office365_sync_request r
                  JOIN office365_account a ON a.id = r.account_id
                 WHERE r.account_id = ANY(%s) AND a.state = 'connected'
                   AND (a.throttled_until IS NULL
                        OR a.throttled_until <= (statement_timestamp() at time zone 'UTC'))
                """,
                list(account_ids),
            )
        )
        return self.env.cr.fetchone()[0]

    # ------------------------------------------------------------------
    # One user's run
    # ------------------------------------------------------------------
    def _o365_sync(self, options=None):
        """Pull then push for this (locked) account; never raises for Graph errors."""
        self.ensure_one()
        options = set(options or self._o365_enabled_options())
        stats = RunStats()
        start = fields.Datetime.now()
        t0 = time.monotonic()
        config = self._o365_config()
        client = None
        requested_at = self.sync_requested_at
        try:
            client = self._o365_graph_client()
            if options:
                self._o365_pull(client, stats, options)
                self.env["office365.link"]._o365_push(self, client, stats, options)
                if "activities" in options:
                    self.env["office365.meeting.answer"]._o365_push(self, client, stats)
                if "events" in options:
                    self.env["office365.inbound.event"].sudo()._o365_push(self, client, stats)
            self.last_error = False
        except ReconnectNeeded as exc:
            self.write({"state": "reconnect", "last_error": str(exc)})
            stats.fatal = f"Reconnect needed: {exc}"
        except ThrottledError as exc:
            stats.fatal = f"Microsoft Graph is throttling this mailbox: {exc}"
            self.last_error = stats.fatal
        except GraphError as exc:
            stats.fatal = f"Microsoft Graph error: {exc}"
            self.last_error = stats.fatal
        finally:
            if client is not None:
                self._o365_store_token_cache(client.token_provider.cache_state())
        if stats.fatal:
            _logger.error("Office 365 sync of user %s failed: %s", self.user_id.id, stats.fatal)
            for option in options:
                stats.touch(option)
        vals = {
            "last_sync_at": start,
            "next_sync_at": fields.Datetime.now() + timedelta(minutes=config["interval"]),
        }
        if self.sync_requested_at == requested_at:
            vals["sync_requested_at"] = False
        self.write(vals)
        self.env["office365.sync.log"]._o365_record(
            self.user_id, stats, start, time.monotonic() - t0
        )
        return stats

    def _o365_window(self):
        today = fields.Date.context_today(self)
        past = self._o365_setting("o365_past_days")
        future = self._o365_setting("o365_future_days")
        return today - timedelta(days=past), today + timedelta(days=future)

    def _o365_pull(self, client, stats, options):
        """Read the calendar's changes since the last delta and route each event."""
        start, end = self._o365_window()
        delta_link = self.sudo().delta_link or None
        if self.delta_window_start and abs((start - self.delta_window_start).days) > 7:
            delta_link = None  # the window moved: start a new delta (no duplicates: by id)
        calendar_id = self._o365_setting("o365_calendar_id") or None
        for attempt in range(2):
            full, seen, base = delta_link is None, set(), delta_key(delta_link)
            try:
                for page in client.iter_delta_pages(
                    start,
                    end,
                    delta_link=delta_link,
                    calendar_id=calendar_id,
                ):
                    seen.update(ev.get("id") for ev in page.events if isinstance(ev, dict))
                    self._o365_process_page(client, page.events, page.removed, stats, options)
                    if page.delta_link:
                        if full:
                            self._o365_reconcile_full_read(client, seen, start, end, stats, options)
                        else:
                            self._o365_reconcile_created(client, base, seen, start, end, stats)
                        self.sudo().write(
                            {"delta_link": page.delta_link, "delta_window_start": start}
                        )
                return
            except ResyncRequired:
                if attempt:
                    raise
                _logger.warning("Delta state of user %s expired: full resync", self.user_id.id)
                delta_link = None

    def _o365_reconcile_created(self, client, base, seen, start, end, stats):
        """Events we created after the delta link ``base`` was issued are new to the round that
        starts from it: one it did not list was deleted in Outlook before this read (Graph
        reports no removal of an item the client never read)."""
        self.env["office365.link"].flush_model(["user_id", "state", "synced_values"])
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM office365_link
                 WHERE user_id = %s AND state = 'synced' AND event_id IS NOT NULL
                   AND synced_values->>'_created_after' = %s
                """,
                self.user_id.id,
                base,
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        if not ids:
            return
        low, high = start.isoformat(), end.isoformat()
        links = self.env["office365.link"].sudo().browse(ids)
        missing = [
            link.event_id
            for link in links
            if link.event_id not in seen and _in_window(link.synced_values, low, high)
        ]
        if missing:
            self._o365_process_page(client, [], missing, stats, set())

    def _o365_reconcile_full_read(self, client, seen, start, end, stats, options):
        """A full read lists every event of the window: a known event it did not list was
        deleted meanwhile. After a delta reset Graph never reports those as removed."""
        low, high = start.isoformat(), end.isoformat()
        links = (
            self.env["office365.link"]
            .sudo()
            .search(
                [
                    ("user_id", "=", self.user_id.id),
                    ("event_id", "!=", False),
                    ("state", "in", ("synced", "pending", "error")),
                ]
            )
        )
        missing = [
            link.event_id
            for link in links
            if link.event_id not in seen and _in_window(link.synced_values, low, high)
        ]
        if "events" in options:
            rows = (
                self.env["office365.inbound.event.mailbox"]
                .sudo()
                .search(
                    [
                        ("user_id", "=", self.user_id.id),
                        ("inbound_event_id.start", "<", fields.Datetime.to_datetime(end)),
                        ("inbound_event_id.stop", ">", fields.Datetime.to_datetime(start)),
                    ]
                )
            )
            missing += [row.outlook_event_id for row in rows if row.outlook_event_id not in seen]
        if missing:
            self._o365_process_page(client, [], missing, stats, options)

    def _o365_process_page(self, client, events, removed, stats, options):
        """Route one delta page: our own events to their records, the rest to the inbound log."""
        link_model = self.env["office365.link"].sudo()
        # Occurrences come as stubs: complete them from their series before any filter or key.
        events, vanished = delta_completion.complete_occurrences(client, events)
        removed = list(removed) + vanished
        ids = [ev.get("id") for ev in events if isinstance(ev, dict) and ev.get("id")]
        links = link_model.search(
            [("user_id", "=", self.user_id.id), ("event_id", "in", ids + removed)]
        )
        by_event = {link.event_id: link for link in links}
        # Graph also reports events written outside the window as removed: ask before
        # treating one of ours as deleted in Outlook; one still there is routed as it is now.
        present, _gone = delta_completion.confirm_removed(
            client,
            [rid for rid in removed if rid in by_event and by_event[rid].state != "to_delete"],
        )
        if present:
            removed = [rid for rid in removed if rid not in present]
            events = [
                ev for ev in events if not isinstance(ev, dict) or ev.get("id") not in present
            ] + list(present.values())
        ours, foreign, unknown_ours = {}, [], []
        category = self._o365_category_name()
        for event in events:
            if not isinstance(event, dict) or not event.get("id"):
                stats.error("events", f"Malformed Outlook event skipped: {str(event)[:200]}")
                continue
            link = by_event.get(event["id"])
            if link:
                ours[link.id] = event
            elif category in (event.get("categories") or []) or _our_ref(event):
                unknown_ours.append(event)
            else:
                foreign.append(event)
        refs = {}
        if unknown_ours:
            # Delta cannot $expand: fetch our extended property only for the few events that
            # carry our category but no link (reinstall, or a crash before the commit).
            client.add_extended_property(unknown_ours, EXTENDED_PROPERTY_ID)
            for event in unknown_ours:
                ref = _our_ref(event)
                if ref:
                    refs[ref] = event
                else:
                    foreign.append(event)
        if refs:
            self._o365_adopt(refs, ours, stats, client)
        by_model = {}
        for link in link_model.browse(list(ours)):
            by_model.setdefault(link.res_model, link_model.browse())
            by_model[link.res_model] |= link
        for res_model, model_links in by_model.items():
            if res_model in self.env:
                self.env[res_model]._o365_apply_remote(model_links, ours, self, stats)
        gone = link_model.browse([by_event[rid].id for rid in removed if rid in by_event])
        gone = gone.filtered(lambda ln: ln.state != "to_delete")
        for res_model, model_links in gone.grouped("res_model").items():
            if res_model in self.env:
                self.env[res_model]._o365_remote_deleted(model_links, self, stats)
        foreign_removed = [rid for rid in removed if rid not in by_event]
        if "events" in options and (foreign or foreign_removed):
            self.env["office365.inbound.event"]._o365_process(self, foreign, foreign_removed, stats)

    def _o365_adopt(self, refs, ours, stats, client=None):
        """Events carrying our identity but unknown to this database's links: re-link them.

        After a reinstall or a crash between the Graph write and the commit, the event is found
        again by its extended property instead of being created a second time.
        """
        link_model = self.env["office365.link"].sudo()
        wanted = {}
        for ref, event in refs.items():
            res_model, _sep, res_id = ref.partition(",")
            if res_id.isdigit():
                wanted[(res_model, int(res_id))] = event
        if not wanted:
            return
        candidates = link_model.search(
            [
                ("user_id", "=", self.user_id.id),
                ("event_id", "=", False),
                ("res_model", "in", list({model for model, _id in wanted})),
                ("res_id", "in", list({res_id for _model, res_id in wanted})),
            ]
        )
        for link in candidates:
            event = wanted.pop((link.res_model, link.res_id), None)
            if event:
                link.write(
                    {
                        "event_id": event["id"],
                        "ical_uid": event.get("iCalUId"),
                        "change_key": event.get("changeKey"),
                    }
                )
                ours[link.id] = event
        if wanted and client is not None:
            self._o365_drop_orphans(client, wanted, stats)

    def _o365_drop_orphans(self, client, wanted, stats):
        """Remove our events that no link will ever own: created by a run that died before its
        commit, for a record since deleted or no longer for this mailbox, or a second copy."""
        orphans = []  # (res_model, res_id, event)
        by_model = defaultdict(dict)
        for (res_model, res_id), event in wanted.items():
            by_model[res_model][res_id] = event
        links = self.env["office365.link"].sudo()
        for res_model, events in by_model.items():
            if res_model not in self.env or not hasattr(self.env[res_model], "_o365_targets"):
                continue
            records = self.env[res_model].sudo().with_context(active_test=False)
            records = records.browse(list(events)).exists()
            targets = records._o365_targets() if records else {}
            linked = {
                link.res_id: link.event_id
                for link in links.search(
                    [
                        ("user_id", "=", self.user_id.id),
                        ("res_model", "=", res_model),
                        ("res_id", "in", list(events)),
                    ]
                )
            }
            for res_id, event in events.items():
                second_copy = linked.get(res_id) and linked[res_id] != event["id"]
                if second_copy or targets.get(res_id) != self.user_id.id:
                    orphans.append((res_model, res_id, event))
        if not orphans:
            return
        results = client.batch_write(
            [
                WriteOp(f"orphan-{i}", "delete", event["id"])
                for i, (_m, _r, event) in enumerate(orphans)
            ]
        )
        for (res_model, res_id, event), result in zip(orphans, results, strict=True):
            option = self.env[res_model]._o365_option()
            if result.ok or result.not_found:
                stats.count(option, "deleted")
            else:
                stats.error(
                    option,
                    f"An Outlook event left by an interrupted run could not be removed "
                    f"({result.status} {result.error_code})",
                    res_model,
                    res_id,
                    event["id"],
                    level="warning",
                )


def delta_key(delta_link):
    """A short stable key of a delta link (the round an event we created must appear in)."""
    return hashlib.sha256(delta_link.encode()).hexdigest()[:16] if delta_link else None


def _in_window(values, low, high):
    """Whether a snapshot's start/end (normalized ISO strings) overlap [low, high)."""
    first = (values or {}).get("start")
    last = (values or {}).get("end") or first
    return bool(first) and first < high and last > low


def _our_ref(event):
    for prop in event.get("singleValueExtendedProperties") or []:
        if isinstance(prop, dict) and prop.get("id", "").lower() == EXTENDED_PROPERTY_ID.lower():
            return prop.get("value")
    return None
