# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Requests to sync one mailbox soon, written by the notification endpoint.

An append-only queue, so that marking an account never waits for the worker that is syncing it:

- a notification only INSERTs rows (no unique key to wait on; the foreign key takes a
  ``KEY SHARE`` lock on the account, which never conflicts with the ``NO KEY UPDATE`` lock the
  sync worker holds while it runs);
- the worker reads the highest row id when it claims the account and, once the run is done,
  deletes the rows up to that id only; requests that arrived during the run stay, so the account
  is synced once more (the run may have read the calendar before that change).

Any number of rows for one account make one sync: the claim picks the account once. Only the
first request of an account wakes the cron (a burst makes one trigger); a request that arrives
while the worker deletes the served ones, in the milliseconds between its check and its commit,
may wait for the account's next poll, like a notification Graph failed to deliver.
"""

from odoo import api, fields, models
from odoo.tools import SQL

KINDS = [
    ("manual", "Asked by the user"),  # Sync Now, Start Syncing: the page waits for the result
    ("change", "Change notification"),
    ("missed", "Missed notifications"),
    ("renew", "Subscription needs renewal"),
    ("recreate", "Subscription removed"),
]


class Office365SyncRequest(models.Model):
    _name = "office365.sync.request"
    _description = "Office 365 sync request"
    _order = "id"
    _log_access = False

    account_id = fields.Many2one("office365.account", required=True, index=True, ondelete="cascade")
    kind = fields.Selection(KINDS, required=True, default="change")
    requested_at = fields.Datetime(required=True, default=fields.Datetime.now)

    @api.model
    def _o365_add(self, kinds_by_account):
        """Queue ``{account id: set of kinds}``; returns the ids of accounts that had nothing
        queued before (those need the sync job to be woken up)."""
        account_ids = sorted(kinds_by_account)
        if not account_ids:
            return []
        self.env.cr.execute(
            SQL(
                "SELECT DISTINCT account_id FROM office365_sync_request WHERE account_id = ANY(%s)",
                account_ids,
            )
        )
        queued = {row[0] for row in self.env.cr.fetchall()}
        rows = [
            (account_id, kind)
            for account_id in account_ids
            for kind in sorted(kinds_by_account[account_id])
        ]
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO office365_sync_request (account_id, kind, requested_at)
                SELECT r.account_id, r.kind, statement_timestamp() at time zone 'UTC'
                  FROM unnest(%s::int[], %s::varchar[]) AS r(account_id, kind)
                """,
                [row[0] for row in rows],
                [row[1] for row in rows],
            )
        )
        return [account_id for account_id in account_ids if account_id not in queued]

    @api.model
    def _o365_pending(self, account):
        """(highest request id, set of kinds) queued for ``account``; (0, set()) when none."""
        self.env.cr.execute(
            SQL(
                "SELECT id, kind FROM office365_sync_request WHERE account_id = %s",
                account.id,
            )
        )
        rows = self.env.cr.fetchall()
        return max((row[0] for row in rows), default=0), {row[1] for row in rows}

    @api.model
    def _o365_done(self, account, upto):
        """Forget the requests of ``account`` that the run just finished has served."""
        if upto:
            self.env.cr.execute(
                SQL(
                    "DELETE FROM office365_sync_request WHERE account_id = %s AND id <= %s",
                    account.id,
                    upto,
                )
            )
