# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The outbox: one row per Odoo record pushed to one user's Outlook calendar.

A change in Odoo only marks the record's link (:meth:`Office365Link._o365_mark`, in the user's
transaction, no HTTP). The sync run of the mailbox then pushes the pending links
(:meth:`Office365Link._o365_push`):

1. each kind (``mail.activity``, ``calendar.event``, ``hr.leave``) gives its records' values
   in one call, ``_o365_values_batch(account, links)``;
2. ``services/sync_plan.plan_push`` compares them with what Outlook last showed and decides:
   create, update (the changed fields only) or nothing;
3. this model turns each decision into a Graph write (``services/mapping.values_to_graph``,
   our extended property and a deterministic ``transactionId`` for a create), sends them all
   with ``client.batch_write`` (``$batch``) and records each result on its link.

The link also owns its own state changes: detached (deleted in Outlook), created again.
"""

import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.tools.sql import create_index

from ..services import mapping, sync_plan
from ..services.constants import KIND_OPTION
from ..services.graph_client import (
    EXTENDED_PROPERTY_ID,
    RETRY_STATUSES,
    WriteOp,
    transaction_id_for,
)
from ..services.runstats import TO_OUTLOOK

_logger = logging.getLogger(__name__)

PUSH_STATES = ("pending", "to_delete")
# Why a pending record was not written to Outlook, as the sync log lists it.
SKIP_REASONS = {
    sync_plan.UNCHANGED: "already up to date in Outlook",
    sync_plan.CREATE_PREVENTED: "creating Outlook events is prevented by the one-way settings",
    sync_plan.UPDATE_PREVENTED: "updating Outlook events is prevented by the one-way settings",
}
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
    # Stop Syncing with removal: the event leaves Outlook even though the option is stopped.
    removing = fields.Boolean("Removed by Stop Syncing", copy=False)
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

    def init(self):
        # The sync job asks, for every connected account at each claim, whether links wait to
        # be pushed (office365.account._o365_links_waiting): a few rows per user, found here
        # instead of intersecting the user's links with every waiting link of the database.
        create_index(
            self.env.cr,
            "office365_link_waiting_user_id_index",
            self._table,
            ["user_id"],
            where="state IN ('pending', 'to_delete')",
        )

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
        to_push.write({"state": "pending", "error": False, "removing": False})
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
    @api.model
    def _o365_pending_for(self, account, options):
        """The user's links to push for the started ``options``, and the removals queued by
        Stop Syncing whatever the options."""
        kinds = [kind for kind, option in KIND_OPTION.items() if option in options]
        return self.sudo().search(
            [
                ("user_id", "=", account.user_id.id),
                ("state", "in", PUSH_STATES),
                "|",
                ("kind", "in", kinds),
                "&",
                ("state", "=", "to_delete"),
                ("removing", "=", True),
            ],
            limit=PUSH_BATCH,
        )

    @api.model
    def _o365_push(self, account, client, stats, options):
        """Push the user's pending links: plan every write, send them in $batch, apply results."""
        links = self._o365_pending_for(account, options)
        if not links:
            return False
        removals = {link.id: KIND_OPTION[link.kind] for link in links if link.removing}
        # Recurring meetings: their series first, then their occurrences' links (see
        # models/calendar_recurrence.py); what is left goes out as usual.
        links = self.env["calendar.recurrence"]._o365_push_series(account, client, stats, links)
        planned = links._o365_plan(account, stats)
        if planned:
            if any(op.action == "create" for _link, op, _snapshot in planned):
                account._o365_ensure_category(client, stats)
            results = client.batch_write([op for _link, op, _snapshot in planned])
            self._o365_apply_results(planned, results, stats, account)
        if removals:
            self._o365_log_removals(account, removals, stats)
        return True

    # ------------------------------------------------------------------
    # Stop Syncing with removal
    # ------------------------------------------------------------------
    @api.model
    def _o365_queue_removal(self, user, option):
        """Queue the deletion of the events ``option`` put in ``user``'s Outlook (sent by the
        sync job in $batch requests, even though the option is stopped); returns how many."""
        kinds = [kind for kind, opt in KIND_OPTION.items() if opt == option]
        links = self.sudo().search(
            [("user_id", "=", user.id), ("kind", "in", kinds), ("state", "!=", "detached")]
        )
        in_outlook = links.filtered("event_id")
        in_outlook.write({"state": "to_delete", "removing": True, "error": False})
        (links - in_outlook).unlink()
        if in_outlook:
            user._o365_account()._o365_request_sync()
        return len(in_outlook)

    @api.model
    def _o365_log_removals(self, account, removals, stats):
        """One sync log line per option: events removed by this run, events left to remove.

        ``removals``: ``{link id: option}`` of the removal links this run took; a removed
        event's link is gone, one Outlook refused stays in error (logged on its own line).
        """
        remaining = self.sudo().search(
            [("user_id", "=", account.user_id.id), ("removing", "=", True)]
        )
        still = set(remaining.ids)
        left = defaultdict(int)
        for link in remaining.filtered(lambda ln: ln.state == "to_delete"):
            left[KIND_OPTION[link.kind]] += 1
        removed = defaultdict(int)
        for link_id, option in removals.items():
            removed[option] += link_id not in still
        for option in sorted(set(removals.values())):
            stats.error(
                option,
                f"Stop Syncing: {removed[option]} event(s) removed from Outlook, "
                f"{left[option]} left to remove.",
                level="info",
            )

    def _o365_plan(self, account, stats):
        """``[(link, WriteOp, snapshot)]``: the writes these links need in Outlook."""
        settings = account._o365_push_settings()
        planned = []
        for res_model, links in self.grouped("res_model").items():
            records = self.env[res_model].sudo().with_context(active_test=False)
            records = records.browse(links.mapped("res_id")).exists()
            gone = links.filtered(
                lambda ln, ids=set(records.ids): ln.state == "to_delete" or ln.res_id not in ids
            )
            planned += gone._o365_plan_deletes(settings.prevented, stats)
            pending = (links - gone).filtered(lambda ln: ln.state == "pending")
            if pending:
                mine = records.browse(pending.mapped("res_id"))
                mapped = mine._o365_values_batch(account, pending)
                planned += pending._o365_plan_writes(mapped, settings, stats)
        return planned

    def _o365_plan_deletes(self, prevented, stats):
        """Links whose record left this mailbox's Outlook (deleted, or not for it any more)."""
        planned, forget = [], self.browse()
        for link in self:
            if link.event_id and prevented.allows("outlook", "delete"):
                planned.append((link, WriteOp(str(link.id), "delete", link.event_id), None))
                continue
            if link.event_id:
                stats.item(
                    KIND_OPTION[link.kind],
                    "skipped",
                    TO_OUTLOOK,
                    **link._o365_item_ref(),
                    reason="Removed in Odoo; deleting Outlook events is prevented by the "
                    "one-way settings",
                )
            forget |= link
        forget.unlink()
        return planned

    def _o365_plan_writes(self, mapped, settings, stats):
        """The creates and updates of these pending links, from their records' values
        ``mapped`` (``{link id: (values, notes)}``, see ``_o365_values_batch``)."""
        planned, unchanged, kept, noted = [], self.browse(), self.browse(), set()
        for link in self:
            values, notes = mapped[link.id]
            op = None
            if isinstance(values, ValueError):
                link._o365_unmappable(values, stats)
            else:
                plan = sync_plan.plan_push(
                    values,
                    link.synced_values,
                    bool(link.event_id),
                    settings.prevented,
                    settings.category,
                )
                op = link._o365_write_op(plan, settings)
                if op:
                    planned.append((link, op, plan.snapshot))
                else:
                    stats.item(
                        KIND_OPTION[link.kind],
                        "skipped",
                        TO_OUTLOOK,
                        **link._o365_item_ref(values.get("subject")),
                        reason=SKIP_REASONS.get(plan.action, plan.action),
                    )
                    if plan.action == sync_plan.UNCHANGED:
                        unchanged |= link
                    elif plan.action == sync_plan.UPDATE_PREVENTED:
                        kept |= link
            link._o365_log_notes(notes, op, stats, noted)
        unchanged.write({"state": "synced", "error": False})
        kept.write({"state": "synced"})
        return planned

    def _o365_write_op(self, plan, settings):
        """The Graph write of a :class:`~..services.sync_plan.PushPlan` (None: nothing to send).

        A create carries our extended property (the record's identity, to find the event again
        after a reinstall or a crash) and a ``transactionId`` derived from the link, so that a
        create sent again after a crash cannot make a second event.
        """
        self.ensure_one()
        if plan.action == sync_plan.CREATE:
            payload = mapping.values_to_graph(
                plan.values, self._o365_ref(), EXTENDED_PROPERTY_ID, settings.time_zone
            )
            return WriteOp(
                str(self.id),
                "create",
                payload=payload,
                transaction_id=self._o365_transaction_id(),
                calendar_id=settings.calendar_id,
            )
        if plan.action == sync_plan.UPDATE:
            payload = mapping.values_to_graph(plan.values, time_zone=settings.time_zone)
            return WriteOp(str(self.id), "update", self.event_id, payload)
        return None

    def _o365_unmappable(self, error, stats):
        """The record cannot be shown in Outlook (``error`` says why): the link waits in error
        until the record changes or the user retries it."""
        message = f"Cannot build the Outlook event: {error}"
        self.write({"state": "error", "error": message})
        stats.error(
            KIND_OPTION[self.kind],
            message,
            self.res_model,
            self.res_id,
            self.event_id or "",
            direction=TO_OUTLOOK,
        )

    def _o365_log_notes(self, notes, op, stats, noted):
        """Log the mapping ``notes`` of this link's record that concern the write ``op`` (a
        create sends every field); a note about another record (a leave type) once a push."""
        self.ensure_one()
        for note in notes:
            if note.field is None:
                key = (note.res_model, note.res_id, note.message)
                if key in noted:
                    continue
                noted.add(key)
            elif not op or (op.action != "create" and note.field not in op.payload):
                continue
            stats.error(
                KIND_OPTION[self.kind],
                note.message,
                note.res_model or self.res_model,
                note.res_id or self.res_id,
                "" if note.res_model else (self.event_id or ""),
                note.level,
            )

    def _o365_item_ref(self, subject=None):
        """The keys of ``RunStats.item`` naming this link's record and event."""
        self.ensure_one()
        return {
            "res_model": self.res_model,
            "res_id": self.res_id,
            "event_id": self.event_id or "",
            "subject": subject or (self.synced_values or {}).get("subject") or "",
        }

    def _o365_transaction_id(self):
        self.ensure_one()
        db_uuid = self.env["ir.config_parameter"].sudo()._o365_params().get("database.uuid") or ""
        return transaction_id_for(db_uuid, self.res_model, self.id, self.generation)

    def _o365_ref(self):
        """The record's identity in our extended property (``"mail.activity,7"``)."""
        return f"{self.res_model},{self.res_id}"

    @api.model
    def _o365_apply_results(self, planned, results, stats, account=None):
        now = fields.Datetime.now()
        created_after = account and sync_plan.delta_key(account.sudo().delta_link)
        done_delete = self.browse()
        grouped_writes = defaultdict(lambda: self.browse())
        pushed = defaultdict(list)
        for (link, op, values), result in zip(planned, results, strict=True):
            option = KIND_OPTION[link.kind]
            if op.action == "delete":
                if result.ok or result.not_found:
                    done_delete |= link
                    stats.item(
                        option,
                        "deleted",
                        TO_OUTLOOK,
                        **link._o365_item_ref(),
                        reason="" if result.ok else "already deleted in Outlook",
                    )
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
                stats.item(
                    option,
                    "created" if op.action == "create" else "updated",
                    TO_OUTLOOK,
                    **link._o365_item_ref(event.get("subject") or values.get("subject")),
                )
                if event:
                    pushed[link.res_model].append((link.res_id, event))
            elif result.not_found and op.action == "update":
                # Deleted in Outlook since our last read: handled as an Outlook deletion by the
                # record's kind (default: the Odoo record stays, the link is dropped, logged).
                grouped_writes[link.res_model] |= link
            else:
                self._o365_fail(link, option, result, stats)
        for res_model, gone in grouped_writes.items():
            self.env[res_model]._o365_remote_deleted(gone, account, stats)
        for res_model, rows in pushed.items():
            records = self.env[res_model].sudo().with_context(active_test=False)
            records._o365_pushed([(records.browse(res_id), event) for res_id, event in rows])
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
        stats.error(
            option,
            message,
            link.res_model,
            link.res_id,
            link.event_id or "",
            direction=TO_OUTLOOK,
            subject=(link.synced_values or {}).get("subject") or "",
        )

    # ------------------------------------------------------------------
    # The link's own state changes
    # ------------------------------------------------------------------
    def _o365_detach(self):
        """Stop syncing these records: the event was deleted in Outlook, or stays there on its
        own (update wins over an Odoo deletion). An Odoo edit does not push them again."""
        self.write({"state": "detached", "event_id": False, "change_key": False})

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
