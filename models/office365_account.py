# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One Office 365 mailbox connection per user: its settings, tokens and Graph client.

The sync job that picks the accounts to run is in ``office365_runner.py``; what one run does
(pull, route, reconcile, adopt, push) is in ``office365_sync_run.py``.
"""

import hashlib
import logging
import os
import threading
import weakref
from collections import namedtuple
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL, config

from ..services import decisions, sync_plan
from ..services.auth import TokenProvider
from ..services.constants import CATEGORY_NAME, DEFAULT_TZ, OPTIONS, PARAM, user_tz
from ..services.errors import GraphError, ReconnectNeeded
from ..services.graph_client import GraphClient, shared_session
from ..services.pacing import MailboxPacer, throttle_delay
from ..services.tokenkeys import (
    TokenBox,
    TokenKeyMissing,
    legacy_fernet,
    server_fernet,
    split_keys,
)

_logger = logging.getLogger(__name__)

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
# A Retry-After longer than this stops the run for the mailbox (throttled_until) instead of
# keeping the worker asleep: the other mailboxes go on.
MAX_WAIT_IN_RUN = 30.0
# Context key: the sync job commits per account even inside a test (tests of concurrent workers
# run it on their own cursors); see office365_runner.py.
CTX_COMMIT = "office365_calendar_sync_commit"
# Context key set by the sync job's claim (a :class:`Claim`, see office365_runner.py).
CTX_CLAIM = "office365_calendar_sync_claim"
# What the sync job's claim query reads with the account, in the transaction's first snapshot
# (Odoo's cursors are REPEATABLE READ: later reads of the run see the same rows), so that a run
# with nothing to do does not ask again: the user's time zone, the highest queued request id and
# the queued request kinds, whether a subscription row exists, whether links wait to be pushed,
# whether meeting answers wait to be sent and whether events we created wait for the delta
# round of the account's delta link (SyncRun.reconcile_created).
Claim = namedtuple(
    "Claim",
    "account_id tz upto kinds subscribed pending_links pending_answers created_in_round",
)
CATEGORY_COLOR = "preset9"
CATEGORY_CHECK_SECONDS = 3600
# cursor -> pacing slots (session advisory locks) it holds: the job unlocks only when some are.
_HELD_SLOTS = weakref.WeakKeyDictionary()
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
    next_sync_at = fields.Datetime(copy=False, index=True)
    last_sync_at = fields.Datetime(copy=False)
    last_error = fields.Text(copy=False)
    # The identity platform refused the application's settings (client id, secret, tenant):
    # the user's grant is intact, runs wait for the administrator (see office365_runner.py).
    # When our Outlook category was last found or created in the mailbox, and for which
    # mailbox and Graph endpoint: every server process and restart shares it (one check per
    # mailbox and hour, not one per process).
    category_checked_at = fields.Datetime(copy=False)
    category_checked_for = fields.Char(copy=False)
    paused_reason = fields.Char(
        "Paused",
        copy=False,
        help="Why the sync of this account waits for the administrator: the application's "
        "settings were refused. The stored sign-in is kept; the sync resumes once the settings "
        "are fixed.",
    )
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
        get = self.env["ir.config_parameter"].sudo()._o365_params().get
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

    def _o365_push_settings(self):
        """What the push plans with (see ``office365.link._o365_plan``)."""
        self.ensure_one()
        return sync_plan.PushSettings(
            prevented=self._o365_prevented(),
            time_zone=self._o365_time_zone(),
            category=self._o365_category_name(),
            # The Outlook calendar the user picked (the one the pull reads).
            calendar_id=self._o365_setting("o365_calendar_id") or None,
        )

    def _o365_claim(self):
        """The sync job's :class:`Claim` of this account, or None outside a claimed run."""
        claim = self.env.context.get(CTX_CLAIM)
        return claim if claim and claim.account_id == self.id else None

    def _o365_time_zone(self):
        """The synced user's IANA time zone (given by the claim of the sync job, which reads
        it in the same query as the account)."""
        self.ensure_one()
        claim = self._o365_claim()
        if claim:
            return claim.tz or DEFAULT_TZ
        return user_tz(self.user_id)

    def _o365_fetch_for_run(self):
        """Read what a run needs in two queries: the account's columns with the token cache and
        the delta link (both unprefetched: they are large and only runs need them), and the
        user's settings."""
        names = [
            name
            for name, field in self._fields.items()
            if field.store
            and field.column_type
            and (field.prefetch is True or name in ("token_cache", "delta_link"))
        ]
        self.sudo().fetch(names)
        # The user's settings: found and read in one query (the run reads many of them).
        settings_model = self.env["res.users.settings"].sudo()
        settings = settings_model.search_fetch(
            [("user_id", "=", self.user_id.id)],
            [
                name
                for name, field in settings_model._fields.items()
                if field.store and field.column_type and field.prefetch is True
            ],
        )
        if settings:
            user = self.user_id
            self.env.cache.insert_missing(
                user, user._fields["res_users_settings_ids"], [tuple(settings.ids)]
            )

    def _o365_category_name(self):
        return CATEGORY_NAME

    def _o365_ensure_category(self, client, stats):
        """Create our Outlook category (with its colour) in the mailbox if it is missing.

        Checked at most once per mailbox and hour, whichever server process runs it: every
        created event names it.
        """
        self.ensure_one()
        key = f"{self.email}|{client.base_url}"
        now = fields.Datetime.now()
        checked = self.category_checked_at
        if (
            self.category_checked_for == key
            and checked
            and timedelta(0) <= now - checked < timedelta(seconds=CATEGORY_CHECK_SECONDS)
        ):
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
        self.write({"category_checked_at": now, "category_checked_for": key})

    def _o365_enabled_options(self):
        self.ensure_one()
        settings = self.env["res.users.settings"].sudo()._find_or_create_for_user(self.user_id)
        return {option for option in OPTIONS if settings[f"o365_{option}_enabled"]}

    def _o365_window(self):
        """The dates the user syncs: ``o365_past_days`` before today to ``o365_future_days``
        after (admin maximums applied)."""
        # The user's today (not the cron's): the window is the user's calendar.
        today = fields.Date.context_today(self.with_context(tz=self._o365_time_zone()))
        past = self._o365_setting("o365_past_days")
        future = self._o365_setting("o365_future_days")
        return today - timedelta(days=past), today + timedelta(days=future)

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
            session=shared_session(config["verify"]),
            page_size=config["page_size"],
        )
        return self._o365_pace(client)

    def _o365_pace(self, client):
        """Hook per-mailbox pacing into ``client``: at most 4 concurrent requests per mailbox
        across all workers (session advisory locks), and a 429, for a whole request or for
        items of a ``$batch``, marks this mailbox only as throttled (``throttled_until``,
        honoured by the claim).

        The client sends its write chains from threads while this run's thread waits for them;
        the hooks below are their only use of the run's cursor, one at a time. A ``$batch``
        write keeps its slots from one wave of chains to the next and gives them back in one
        query at its end (``MailboxPacer.holding``).
        """
        self.ensure_one()
        cr = self.env.cr
        cursor_lock = threading.RLock()

        def try_lock(key):
            with cursor_lock:
                cr.execute(SQL("SELECT pg_try_advisory_lock(%s, %s)", *key))
                locked = cr.fetchone()[0]
                if locked:
                    _HELD_SLOTS[cr] = _HELD_SLOTS.get(cr, 0) + 1
                return locked

        def unlock(key):
            with cursor_lock:
                cr.execute(SQL("SELECT pg_advisory_unlock(%s, %s)", *key))
                _HELD_SLOTS[cr] = _HELD_SLOTS.get(cr, 1) - 1

        def unlock_many(keys):
            with cursor_lock:
                cr.execute(
                    SQL(
                        "SELECT count(pg_advisory_unlock(n, k)) FROM unnest(%s, %s) AS s(n, k)",
                        [key[0] for key in keys],
                        [key[1] for key in keys],
                    )
                )
                _HELD_SLOTS[cr] = _HELD_SLOTS.get(cr, len(keys)) - len(keys)

        pacer = MailboxPacer(
            self.email or f"account-{self.id}",
            try_lock,
            unlock,
            unlock_many=unlock_many,
            timeout=self._o365_pacing_timeout,
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
        client.hold_slots = pacer.holding
        client.on_throttle = on_throttle
        client.max_retry_after = min(client.max_retry_after, MAX_WAIT_IN_RUN)
        return client

    @api.model
    def _o365_release_slots(self):
        """Release every pacing slot this cursor's session still holds (a run that crashed
        between a request and its release); no query when none is held."""
        cr = self.env.cr
        if _HELD_SLOTS.pop(cr, 0):
            cr.execute("SELECT pg_advisory_unlock_all()")

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
