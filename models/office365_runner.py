# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The sync job: which accounts are due, claiming one at a time, running it, what remains.

Any number of workers run ``_cron_sync`` at once. Each claims one due account with a row lock
(``SKIP LOCKED``: rows other workers hold are passed over), runs it (``_o365_sync``: one
:class:`~.office365_sync_run.SyncRun`) and commits, then claims the next. An account is due
when :meth:`_o365_due` says so; the claim and the count of what remains both use it.
"""

import logging
import time
from datetime import timedelta

import psycopg2.errors

from odoo import api, fields, models, modules
from odoo.tools import SQL

from ..services.constants import KIND_OPTION
from ..services.errors import ApplicationRefused, GraphError, ReconnectNeeded, ThrottledError
from ..services.runstats import RunStats
from .office365_account import CTX_CLAIM, CTX_COMMIT, Claim
from .office365_sync_run import SyncRun

# One logger for everything about a mailbox's sync, whichever file of the engine writes it.
_logger = logging.getLogger(__package__ + ".office365_account")

CRON_XMLID = "office365_calendar_sync.ir_cron_office365_sync"
# A paused account (its application's settings refused) tries again this rarely on its own:
# a settings change resumes it at once (_o365_resume_paused), this only catches fixes made in
# Microsoft Entra itself (a re-enabled application) without hammering the token endpoint.
PAUSE_RETRY_MINUTES = 60


class Office365Runner(models.Model):
    _inherit = "office365.account"

    # ------------------------------------------------------------------
    # Asking for a run (inside the user's transaction: no HTTP here)
    # ------------------------------------------------------------------
    @api.model
    def _o365_trigger_sync(self):
        """Wake the sync job once per transaction, after commit (coalesces bursts of changes)."""
        data = self.env.cr.precommit.data
        if data.get("office365_calendar_sync.triggered"):
            return
        data["office365_calendar_sync.triggered"] = True
        cron = self.env.ref(CRON_XMLID, False)
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

    # ------------------------------------------------------------------
    # Which accounts are due
    # ------------------------------------------------------------------
    @api.model
    def _o365_ready(self):
        """SQL condition on ``office365_account a``: connected, not throttled by Graph, and
        not paused (or paused and due for its rare retry)."""
        return SQL(
            """
            a.state = 'connected'
            AND (a.throttled_until IS NULL
                 OR a.throttled_until <= (statement_timestamp() at time zone 'UTC'))
            AND (a.paused_reason IS NULL
                 OR a.next_sync_at IS NULL
                 OR a.next_sync_at <= (statement_timestamp() at time zone 'UTC'))
            """
        )

    @api.model
    def _o365_due(self):
        """SQL condition on ``office365_account a``: the account needs a run now.

        Ready (see :meth:`_o365_ready`) and asked for (a sync request: a change notification,
        "sync now"), due for its periodic poll, or holding links to push.
        """
        return SQL(
            """
            %s
            AND (a.next_sync_at IS NULL
                 OR a.next_sync_at <= (statement_timestamp() at time zone 'UTC')
                 OR EXISTS (SELECT 1 FROM office365_sync_request r WHERE r.account_id = a.id)
                 OR %s)
            """,
            self._o365_ready(),
            self._o365_links_waiting(),
        )

    @api.model
    def _o365_answers_waiting(self):
        """SQL condition on ``office365_account a``: meeting answers wait to be sent."""
        return SQL(
            """
            EXISTS (SELECT 1 FROM office365_meeting_answer m
                     WHERE m.user_id = a.user_id AND m.state = 'pending')
            """
        )

    @api.model
    def _o365_links_waiting(self):
        """SQL condition on ``office365_account a``: links wait to be pushed for an option the
        user has started, or removals queued by Stop Syncing (what ``_o365_pending_for`` takes).
        A change left waiting when its option was stopped waits for Start Syncing without
        making the account due at every batch."""
        started = SQL(" OR ").join(
            SQL(
                "(l.kind IN %s AND s.%s)",
                tuple(kind for kind, opt in KIND_OPTION.items() if opt == option),
                SQL.identifier(f"o365_{option}_enabled"),
            )
            for option in sorted(set(KIND_OPTION.values()))
        )
        return SQL(
            """
            EXISTS (SELECT 1 FROM office365_link l
                     WHERE l.user_id = a.user_id
                       AND l.state IN ('pending', 'to_delete')
                       AND ((l.state = 'to_delete' AND l.removing)
                            OR EXISTS (SELECT 1 FROM res_users_settings s
                                        WHERE s.user_id = a.user_id AND (%s))))
            """,
            started,
        )

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
        self._o365_flush_due()
        # What a run with nothing to do would otherwise ask in queries of its own comes with
        # the claim (see Claim: the transaction's first query, same snapshot as the run). The
        # claim itself only filters, orders and locks: the other columns are read for the one
        # row it took (planned for one row: index look-ups, where the same subqueries beside
        # the ORDER BY were computed for every due account, and the check of our created
        # events was planned as a hash over every synced link of the database).
        self.env.cr.execute(
            SQL(
                """
                WITH claimed AS (
                    SELECT a.id, a.user_id, a.delta_link
                      FROM office365_account a
                     WHERE a.id != ALL(%s) AND %s
                     ORDER BY EXISTS (SELECT 1 FROM office365_sync_request r
                                       WHERE r.account_id = a.id) DESC,
                              a.next_sync_at NULLS FIRST, a.id
                     LIMIT 1
                     FOR NO KEY UPDATE OF a SKIP LOCKED
                )
                SELECT a.id,
                       (SELECT p.tz FROM res_users u JOIN res_partner p ON p.id = u.partner_id
                         WHERE u.id = a.user_id),
                       (SELECT max(r.id) FROM office365_sync_request r
                         WHERE r.account_id = a.id),
                       ARRAY(SELECT DISTINCT r.kind FROM office365_sync_request r
                              WHERE r.account_id = a.id ORDER BY r.kind),
                       EXISTS (SELECT 1 FROM office365_subscription s WHERE s.account_id = a.id),
                       %s,
                       %s,
                       -- events we created since the delta link was issued (SyncRun's
                       -- reconcile_created; sync_plan.delta_key in SQL)
                       EXISTS (SELECT 1 FROM office365_link l
                                WHERE l.user_id = a.user_id AND l.state = 'synced'
                                  AND l.synced_values->>'_created_after' = left(encode(
                                      sha256(convert_to(a.delta_link, 'UTF8')), 'hex'), 16))
                  FROM claimed a
                """,
                list(skip_ids),
                self._o365_due(),
                self._o365_links_waiting(),
                self._o365_answers_waiting(),
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if not row:
            return self.browse()
        account_id, tz, upto, kinds, *flags = row
        claim = Claim(account_id, tz or False, upto or 0, tuple(kinds), *flags)
        return self.browse(account_id).with_context(**{CTX_CLAIM: claim})

    @api.model
    def _o365_count_due(self, skip_ids=()):
        """How many accounts other than ``skip_ids`` the next claim could pick."""
        self._o365_flush_due()
        self.env.cr.execute(
            SQL(
                "SELECT count(*) FROM office365_account a WHERE a.id != ALL(%s) AND %s",
                list(skip_ids),
                self._o365_due(),
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
                 WHERE r.account_id = ANY(%s) AND %s
                """,
                list(account_ids),
                self._o365_ready(),
            )
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _o365_flush_due(self):
        """The due condition and the claim read these columns in SQL: write what the ORM still
        holds."""
        self.env["office365.account"].flush_model()
        self._o365_flush_waiting()

    @api.model
    def _o365_flush_waiting(self):
        """What ``_o365_links_waiting`` and ``_o365_answers_waiting`` read."""
        self.env["office365.link"].flush_model(["user_id", "state", "kind", "removing"])
        self.env["res.users.settings"].flush_model(
            [f"o365_{option}_enabled" for option in set(KIND_OPTION.values())]
        )
        self.env["office365.meeting.answer"].flush_model(["user_id", "state"])

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

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------
    @api.model
    def _o365_may_commit(self):
        """Crons commit per account, except inside Odoo tests (unless a test asks for it on its
        own cursors, to exercise concurrent workers)."""
        return bool(self.env.context.get(CTX_COMMIT) or not modules.module.current_test)

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
        claim = self._o365_claim()
        if claim:
            upto, kinds = claim.upto, set(claim.kinds)
        else:
            upto, kinds = requests._o365_pending(self)
        self._o365_fetch_for_run()
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
            self.write(
                {
                    "next_sync_at": self._o365_next_poll(),
                    "last_error": "Unexpected error, see the server log.",
                }
            )
            requests._o365_done(self, upto)
        finally:
            # Pacing slots are session advisory locks: never keep one past the run.
            self._o365_release_slots()

    def _o365_sync(self, options=None):
        """One run for this (locked) account: pull then push; never raises for Graph errors."""
        self.ensure_one()
        options = set(options or self._o365_enabled_options())
        stats = RunStats()
        start = fields.Datetime.now()
        t0 = time.monotonic()
        client = None
        try:
            client = self._o365_graph_client()
            if options:
                SyncRun(self, client, stats, options).run()
            elif self.env["office365.link"]._o365_pending_for(self, options):
                # Every option stopped, events still to remove (Stop Syncing with removal).
                SyncRun(self, client, stats, options).push()
            self.write({"last_error": False, "paused_reason": False})
        except ApplicationRefused as exc:
            stats.fatal = self._o365_pause(exc)
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
        # Every run of a started option is in the log (a run without changes too: the log
        # folds those, see office365.sync.log._o365_record), so "Last run" is the last run.
        for option in options:
            stats.touch(option)
        self.write({"last_sync_at": start, "next_sync_at": self._o365_next_poll()})
        # A run the user did not ask for tells their open pages only when it did something.
        claim = self._o365_claim()
        self.env["office365.sync.log"]._o365_record(
            self.user_id,
            stats,
            start,
            time.monotonic() - t0,
            requested=not claim or "manual" in claim.kinds,
        )
        return stats

    def _o365_next_poll(self):
        """When the periodic poll runs again: the configured interval from now (a paused
        account: :data:`PAUSE_RETRY_MINUTES` at least)."""
        minutes = self._o365_config()["interval"]
        if any(self.mapped("paused_reason")):
            minutes = max(minutes, PAUSE_RETRY_MINUTES)
        return fields.Datetime.now() + timedelta(minutes=minutes)

    # ------------------------------------------------------------------
    # The application's settings refused: pause, tell the administrators, resume
    # ------------------------------------------------------------------
    def _o365_pause(self, exc):
        """Pause this account after the identity platform refused the application's settings
        (``exc``: :class:`ApplicationRefused`). The token cache is kept as it is: the refresh
        token still works once the settings are fixed. Returns the run's message."""
        self.ensure_one()
        first = not self.sudo().search_count(
            [("paused_reason", "!=", False), ("id", "!=", self.id)]
        )
        was_paused = bool(self.paused_reason)
        self.write({"paused_reason": str(exc)[:500], "last_error": str(exc)})
        if first and not was_paused:
            self._o365_tell_admins(exc)
        return self.env._(
            "Paused: the application's settings are wrong, your administrator is told. (%s)",
            exc.message,
        )

    def _o365_tell_admins(self, exc):
        """One inbox notification to the administrators when the first account pauses."""
        admins = (
            self.env["res.users"]
            .sudo()
            .search(
                [
                    ("groups_id", "in", self.env.ref("base.group_system").id),
                    ("share", "=", False),
                    ("id", "!=", self.env.ref("base.user_root").id),
                ]
            )
        )
        if not admins:
            return
        body = self.env._(
            "The Office 365 calendar sync is paused for every user: %(error)s Fix it in "
            "Settings > Office 365 Calendar (Test connection tells which setting is wrong); "
            "the users' sign-ins are kept and the sync resumes once the settings are saved.",
            error=exc.message,
        )
        self.env["mail.thread"].sudo().message_notify(
            partner_ids=admins.partner_id.ids,
            subject=self.env._("Office 365 calendar sync paused: application settings refused"),
            body=body,
        )

    @api.model
    def _o365_resume_paused(self):
        """The application's settings changed: paused accounts run at once with their stored
        tokens (a setting still wrong pauses them again, and the administrators are told again)."""
        paused = self.sudo().search([("paused_reason", "!=", False)])
        if not paused:
            return 0
        paused.write({"paused_reason": False, "next_sync_at": fields.Datetime.now()})
        self._o365_trigger_sync()
        return len(paused)

    def _o365_after_run(self, upto, live):
        self.ensure_one()
        now = fields.Datetime.now()
        if self.throttled_until and self.throttled_until > now:
            # Keep the requests: the account is synced once Graph lets it.
            cron = self.env.ref(CRON_XMLID, False)
            if cron:
                cron.sudo()._trigger(at=self.throttled_until)
        else:
            self.env["office365.sync.request"].sudo()._o365_done(self, upto)
        if live:
            # Changes are notified: only a rare safety delta read is scheduled.
            later = now + timedelta(minutes=self._o365_config()["live_interval"])
            if not self.next_sync_at or self.next_sync_at < later:
                self.next_sync_at = later
