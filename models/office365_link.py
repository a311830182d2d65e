# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import uuid
from collections import defaultdict

from odoo import api, fields, models

from ..services.graph_client import (
    EXTENDED_PROPERTY_ID,
    RETRY_STATUSES,
    WriteOp,
    transaction_id_for,
)
from .office365_account import delta_key

_logger = logging.getLogger(__name__)

KIND_OPTION = {"activity": "activities", "meeting": "activities", "leave": "holidays"}
PUSH_STATES = ("pending", "to_delete")
PUSH_BATCH = 2000  # links handled per user and run; the cron re-triggers while work remains


class Office365Link(models.Model):
    """One Odoo record pushed to one user's Outlook calendar (activity, meeting or leave)."""

    _name = "office365.link"
    _description = "Odoo record linked to an Outlook event"
    _order = "id"

    user_id = fields.Many2one(
        "res.users", "Mailbox owner", required=True, index=True, ondelete="cascade"
    )
    kind = fields.Selection(
        [("activity", "Activity"), ("meeting", "Meeting"), ("leave", "Leave")], required=True
    )
    res_model = fields.Char(required=True, index=True)
    res_id = fields.Many2oneReference(required=True, index=True, model_field="res_model")
    event_id = fields.Char("Outlook event id", index=True, copy=False)
    ical_uid = fields.Char("iCalUId", index=True, copy=False)
    change_key = fields.Char(copy=False)
    generation = fields.Integer(default=0, copy=False)
    state = fields.Selection(
        [
            ("pending", "To push"),
            ("synced", "Synced"),
            ("to_delete", "To delete in Outlook"),
            ("error", "Error"),
            ("detached", "Deleted in Outlook"),
        ],
        default="pending",
        required=True,
        index=True,
    )
    synced_values = fields.Json("Last synced values", copy=False)
    error = fields.Text(copy=False)
    last_sync = fields.Datetime(copy=False)

    _sql_constraints = [
        (
            "record_user_unique",
            "unique(res_model, res_id, user_id)",
            "A record is linked at most once per mailbox.",
        ),
    ]

    # ------------------------------------------------------------------
    # Recording changes (inside the user's transaction: no HTTP here)
    # ------------------------------------------------------------------
    @api.model
    def _o365_mark(self, kind, res_model, targets):
        """Record that records of ``res_model`` must be (re)pushed or removed.

        ``targets`` maps record id -> target user id (False: the record must leave Outlook).
        Works in batches: one search, at most two writes and one create.
        """
        if not targets:
            return
        links = self.sudo().search([("res_model", "=", res_model), ("res_id", "in", list(targets))])
        # Empty sets from the sudo search: a user without access to links may change a record.
        to_push, to_delete, to_forget = links.browse(), links.browse(), links.browse()
        linked = set()
        for link in links:
            target = targets.get(link.res_id)
            if link.user_id.id == target:
                linked.add(link.res_id)
                if link.state != "detached":
                    to_push |= link
            elif link.event_id:
                to_delete |= link
            else:
                to_forget |= link
        to_push.write({"state": "pending", "error": False})
        to_delete.write({"state": "to_delete", "error": False})
        to_forget.unlink()
        new = [
            {"kind": kind, "res_model": res_model, "res_id": res_id, "user_id": user_id}
            for res_id, user_id in targets.items()
            if user_id and res_id not in linked
        ]
        self.sudo().create(new)
        if to_push or to_delete or new:
            self.env["office365.account"]._o365_trigger_sync()

    # ------------------------------------------------------------------
    # Pushing (in the sync job, per user)
    # ------------------------------------------------------------------
    def _o365_transaction_id(self):
        self.ensure_one()
        db_uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid") or ""
        return transaction_id_for(db_uuid, self.res_model, self.id, self.generation)

    def _o365_ref(self):
        return f"{self.res_model},{self.res_id}"

    @api.model
    def _o365_pending_for(self, account, options):
        kinds = [kind for kind, option in KIND_OPTION.items() if option in options]
        return self.sudo().search(
            [
                ("user_id", "=", account.user_id.id),
                ("kind", "in", kinds),
                ("state", "in", PUSH_STATES),
            ],
            limit=PUSH_BATCH,
        )

    @api.model
    def _o365_push(self, account, client, stats, options):
        """Push the user's pending links: build every write, send them in $batch, apply results."""
        links = self._o365_pending_for(account, options)
        if not links:
            return False
        prevented = account._o365_prevented()
        planned = []  # (link, WriteOp, values)
        for res_model, model_links in links.grouped("res_model").items():
            records = self.env[res_model].sudo().with_context(active_test=False)
            records = records.browse(model_links.mapped("res_id")).exists()
            by_id = {rec.id: rec for rec in records}
            for link in model_links:
                option = KIND_OPTION[link.kind]
                record = by_id.get(link.res_id)
                if link.state == "to_delete" or record is None:
                    if not link.event_id:
                        link.unlink()
                        continue
                    if not prevented.allows("outlook", "delete"):
                        stats.count(option, "skipped")
                        link.unlink()
                        continue
                    planned.append((link, WriteOp(str(link.id), "delete", link.event_id), None))
            for link, op, values in records._o365_plan_writes(
                model_links.exists().filtered(lambda ln: ln.state == "pending"),
                account,
                stats,
                prevented,
            ):
                planned.append((link, op, values))
        if not planned:
            return True
        if any(op.action == "create" for _link, op, _values in planned):
            account._o365_ensure_category(client, stats)
        results = client.batch_write([op for _link, op, _values in planned])
        self._o365_apply_results(planned, results, stats, account)
        return True

    @api.model
    def _o365_apply_results(self, planned, results, stats, account=None):
        now = fields.Datetime.now()
        created_after = account and delta_key(account.sudo().delta_link)
        done_delete = self.browse()
        grouped_writes = defaultdict(lambda: self.browse())
        for (link, op, values), result in zip(planned, results, strict=True):
            option = KIND_OPTION[link.kind]
            if op.action == "delete":
                if result.ok or result.not_found:
                    done_delete |= link
                    stats.count(option, "deleted")
                else:
                    self._o365_fail(link, option, result, stats)
                continue
            if result.ok:
                event = result.event or {}
                if op.action == "create" and created_after:
                    # The next delta round (from this link) must list it, else it was deleted.
                    values = {**values, "_created_after": created_after}
                link.write(
                    {
                        "event_id": event.get("id") or link.event_id,
                        "ical_uid": event.get("iCalUId") or link.ical_uid,
                        "change_key": event.get("changeKey") or link.change_key,
                        "synced_values": values,
                        "state": "synced",
                        "error": False,
                        "last_sync": now,
                    }
                )
                stats.count(option, "created" if op.action == "create" else "updated")
            elif result.not_found and op.action == "update":
                # Deleted in Outlook since our last read: handled as an Outlook deletion by the
                # record's kind (default: the Odoo record stays, the link is dropped, logged).
                grouped_writes[link.res_model] |= link
            else:
                self._o365_fail(link, option, result, stats)
        for res_model, gone in grouped_writes.items():
            self.env[res_model]._o365_remote_deleted(gone, account, stats)
        done_delete.unlink()

    def _o365_fail(self, link, option, result, stats):
        if result.status in RETRY_STATUSES or result.status == 0:
            # Throttled (the mailbox's throttled_until is set) or Graph unreachable: the link
            # stays queued and the next run sends it again (a create under the same
            # transactionId, so never twice).
            message = (
                f"Outlook did not take the change yet ({result.status} {result.error_code}); "
                "it is sent again on the next run"
            )
            link.write({"error": message})
            stats.error(
                option,
                message,
                link.res_model,
                link.res_id,
                link.event_id or "",
                level="warning",
            )
            return
        message = f"Outlook refused the change ({result.status} {result.error_code}): " + (
            result.error_message or "no details"
        )
        link.write({"state": "error", "error": message})
        stats.error(option, message, link.res_model, link.res_id, link.event_id or "")

    # ------------------------------------------------------------------
    # Helpers for the kinds
    # ------------------------------------------------------------------
    def _o365_recreate(self):
        """Forget the Outlook events of these links: the next push creates new ones, under a new
        transactionId (``generation``) so Graph cannot hand back the deleted event."""
        for link in self:
            link.write(
                {
                    "state": "pending",
                    "event_id": False,
                    "ical_uid": False,
                    "change_key": False,
                    "synced_values": False,
                    "error": False,
                    "generation": link.generation + 1,
                }
            )

    def _o365_create_op(self, payload):
        self.ensure_one()
        payload = dict(payload)
        payload.setdefault(
            "singleValueExtendedProperties",
            [{"id": EXTENDED_PROPERTY_ID, "value": self._o365_ref()}],
        )
        settings = self.user_id.sudo().res_users_settings_ids[:1]
        return WriteOp(
            str(self.id),
            "create",
            None,
            payload,
            transaction_id=self._o365_transaction_id(),
            # The Outlook calendar the user picked (the one the pull reads); None: default.
            calendar_id=(settings and settings._o365_effective("o365_calendar_id")) or None,
        )

    def _o365_update_op(self, payload):
        self.ensure_one()
        return WriteOp(str(self.id), "update", self.event_id, payload)

    @api.model
    def _o365_new_generation_token(self):
        return uuid.uuid4().hex
