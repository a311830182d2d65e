# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One sync run of one mailbox: pull Outlook's changes, route each event, push Odoo's.

The sync job (``office365_runner.py``) locks the account and builds a :class:`SyncRun` with the
account's Graph client. In order:

1. :meth:`SyncRun.pull` reads the calendar's changes since the last delta link (the whole
   window when there is none), page by page;
2. :meth:`SyncRun.route` sends each event of a page where it belongs: an event of ours (one a
   link knows) to its record's kind (``_o365_apply_remote``), an event of ours no link knows
   any more to :meth:`SyncRun.adopt`, anything else to the inbound log
   (``office365.inbound.event``);
3. at the end of a delta round, :meth:`SyncRun.reconcile_full_read` or
   :meth:`SyncRun.reconcile_created` treat as deleted our events the round should have listed;
4. :meth:`SyncRun.push` sends the queued Odoo changes: links (``office365.link``), meeting
   answers, organizer edits of logged meetings.

The decisions themselves (which events are ours, which are missing, which are orphans) are pure
functions of ``services/sync_plan.py``.
"""

import logging
from collections import defaultdict

from odoo import fields
from odoo.tools import SQL

from ..services import delta_completion, sync_plan
from ..services.errors import ResyncRequired
from ..services.graph_client import EXTENDED_PROPERTY_ID, WriteOp
from ..services.runstats import TO_OUTLOOK

# One logger for everything about a mailbox's sync, whichever file of the engine writes it.
_logger = logging.getLogger(__package__ + ".office365_account")


class SyncRun:
    """The run of one locked ``office365.account`` with its Graph ``client``, for the sync
    ``options`` the user started; what it does is counted in ``stats`` (the sync log)."""

    def __init__(self, account, client, stats, options):
        self.account = account
        self.client = client
        self.stats = stats
        self.options = options
        self.env = account.env
        self.user_id = account.user_id.id
        self.links = self.env["office365.link"].sudo()
        # What the pull needs from the account's settings, read once.
        self.window = account._o365_window()
        self.calendar_id = account._o365_setting("o365_calendar_id") or None
        self.category = account._o365_category_name()
        # Whether the pull brought anything to route (which may queue links to push).
        self.routed = False

    def run(self):
        self.pull()
        self.push()

    # ------------------------------------------------------------------
    # Pull
    # ------------------------------------------------------------------
    def pull(self):
        """Read the calendar's changes since the last delta and route each event."""
        account = self.account
        start, end = self.window
        delta_link = account.sudo().delta_link or None
        if account.delta_window_start and abs((start - account.delta_window_start).days) > 7:
            delta_link = None  # the window moved: start a new delta (no duplicates: by id)
        for attempt in range(2):
            full, seen, base = delta_link is None, set(), sync_plan.delta_key(delta_link)
            try:
                for page in self.client.iter_delta_pages(
                    start, end, delta_link=delta_link, calendar_id=self.calendar_id
                ):
                    seen.update(ev.get("id") for ev in page.events if isinstance(ev, dict))
                    self.route(page.events, page.removed)
                    if page.delta_link:
                        if full:
                            self.reconcile_full_read(seen, start, end)
                        elif self._created_in_round():
                            self.reconcile_created(base, seen, start, end)
                        account.sudo().write(
                            {"delta_link": page.delta_link, "delta_window_start": start}
                        )
                return
            except ResyncRequired:
                if attempt:
                    raise
                _logger.warning("Delta state of user %s expired: full resync", self.user_id)
                delta_link = None

    def _created_in_round(self):
        """Whether events we created wait for the round of the account's delta link (the sync
        job's claim read it in the same snapshot; a delta round always starts from that
        link: a reset reads in full)."""
        claim = self.account._o365_claim()
        return claim.created_in_round if claim else True

    def reconcile_created(self, base, seen, start, end):
        """Events we created after the delta link ``base`` was issued are new to the round that
        starts from it: one it did not list was deleted in Outlook before this read (Graph
        reports no removal of an item the client never read)."""
        self.links.flush_model(["user_id", "state", "synced_values"])
        self.env.cr.execute(
            """
            SELECT id FROM office365_link
             WHERE user_id = %s AND state = 'synced' AND event_id IS NOT NULL
               AND synced_values->>'_created_after' = %s
            """,
            [self.user_id, base],
        )
        links = self.links.browse([row[0] for row in self.env.cr.fetchall()])
        missing = sync_plan.missing_events(
            [(link.event_id, link.synced_values) for link in links],
            seen,
            start.isoformat(),
            end.isoformat(),
        )
        if missing:
            self.route([], missing, inbound=False)

    def reconcile_full_read(self, seen, start, end):
        """A full read lists every event of the window: a known event it did not list was
        deleted meanwhile. After a delta reset Graph never reports those as removed."""
        links = self.links.search(
            [
                ("user_id", "=", self.user_id),
                ("event_id", "!=", False),
                ("state", "in", ("synced", "pending", "error")),
            ]
        )
        missing = sync_plan.missing_events(
            [(link.event_id, link.synced_values) for link in links],
            seen,
            start.isoformat(),
            end.isoformat(),
        )
        if "events" in self.options:
            rows = (
                self.env["office365.inbound.event.mailbox"]
                .sudo()
                .search(
                    [
                        ("user_id", "=", self.user_id),
                        ("inbound_event_id.start", "<", fields.Datetime.to_datetime(end)),
                        ("inbound_event_id.stop", ">", fields.Datetime.to_datetime(start)),
                    ]
                )
            )
            missing += [row.outlook_event_id for row in rows if row.outlook_event_id not in seen]
        if missing:
            self.route([], missing)

    # ------------------------------------------------------------------
    # Route
    # ------------------------------------------------------------------
    def route(self, events, removed, inbound=True):
        """Route one delta page: our own events to their records, the rest to the inbound log
        (unless ``inbound`` is False: a reconciliation of our own events only)."""
        self.routed = self.routed or bool(events) or bool(removed)
        # Occurrences come as stubs: complete them from their series before any filter or key.
        events, vanished = delta_completion.complete_occurrences(self.client, events)
        removed = list(removed) + vanished
        ids = [ev.get("id") for ev in events if isinstance(ev, dict) and ev.get("id")]
        by_event = {
            link.event_id: link
            for link in self.links.search(
                [("user_id", "=", self.user_id), ("event_id", "in", ids + removed)]
            )
        }
        # Graph also reports events written outside the window as removed: ask before
        # treating one of ours as deleted in Outlook; one still there is routed as it is now.
        present, _gone = delta_completion.confirm_removed(
            self.client,
            [rid for rid in removed if rid in by_event and by_event[rid].state != "to_delete"],
        )
        if present:
            removed = [rid for rid in removed if rid not in present]
            events = [
                ev for ev in events if not isinstance(ev, dict) or ev.get("id") not in present
            ] + list(present.values())
        page = sync_plan.sort_page(events, by_event, self.category)
        for event in page.malformed:
            self.stats.error("events", f"Malformed Outlook event skipped: {str(event)[:200]}")
        ours = {by_event[event_id].id: event for event_id, event in page.linked.items()}
        foreign = page.foreign
        if page.unlinked_ours:
            # Delta cannot $expand: fetch our extended property only for the few events that
            # carry our category but no link (reinstall, or a crash before the commit).
            self.client.add_extended_property(page.unlinked_ours, EXTENDED_PROPERTY_ID)
            refs, others = sync_plan.split_by_ref(page.unlinked_ours)
            foreign = foreign + others
            if refs:
                ours.update(self.adopt(refs))
        grouped = self.links.browse(list(ours)).grouped("res_model")
        # A series before its occurrences: an organizer's edit of the series rewrites the Odoo
        # recurrence, which the occurrences' links then follow.
        applied = False
        for res_model in sorted(grouped, key=lambda name: name != "calendar.recurrence"):
            if res_model in self.env:
                links = grouped[res_model]
                # Just read or adopted; only a series applied before may have removed some.
                self.env[res_model]._o365_apply_remote(
                    links.exists() if applied else links, ours, self.account, self.stats
                )
                applied = True
        gone = self.links.browse([by_event[rid].id for rid in removed if rid in by_event])
        gone = gone.filtered(lambda ln: ln.state != "to_delete")
        for res_model, model_links in gone.grouped("res_model").items():
            if res_model in self.env:
                self.env[res_model]._o365_remote_deleted(model_links, self.account, self.stats)
        foreign_removed = [rid for rid in removed if rid not in by_event]
        if inbound and "events" in self.options and (foreign or foreign_removed):
            self.env["office365.inbound.event"]._o365_process(
                self.account, foreign, foreign_removed, self.stats
            )

    def adopt(self, refs):
        """Events carrying our identity (``{(res_model, res_id): event}``) but unknown to this
        database's links: re-link them; returns ``{link id: event}`` of the adopted ones.

        After a reinstall or a crash between the Graph write and the commit, the event is found
        again by its extended property instead of being created a second time. The others are
        orphans (:meth:`drop_orphans`).
        """
        wanted = dict(refs)
        candidates = self.links.search(
            [
                ("user_id", "=", self.user_id),
                ("event_id", "=", False),
                ("res_model", "in", list({model for model, _id in wanted})),
                ("res_id", "in", list({res_id for _model, res_id in wanted})),
            ]
        )
        adopted = {}
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
                adopted[link.id] = event
        if wanted:
            self.drop_orphans(wanted)
        return adopted

    def drop_orphans(self, wanted):
        """Remove our events that no link will ever own: created by a run that died before its
        commit, for a record since deleted or no longer for this mailbox, or a second copy."""
        orphans = self._orphans(wanted)
        if not orphans:
            return
        results = self.client.batch_write(
            [
                WriteOp(f"orphan-{i}", "delete", event["id"])
                for i, (_m, _r, event) in enumerate(orphans)
            ]
        )
        for (res_model, res_id, event), result in zip(orphans, results, strict=True):
            option = self.env[res_model]._o365_option()
            if result.ok or result.not_found:
                self.stats.item(
                    option,
                    "deleted",
                    TO_OUTLOOK,
                    res_model=res_model,
                    res_id=res_id,
                    event_id=event["id"],
                    subject=event.get("subject"),
                    reason="An Outlook event left by an interrupted run, owned by no Odoo record",
                )
            else:
                self.stats.error(
                    option,
                    f"An Outlook event left by an interrupted run could not be removed "
                    f"({result.status} {result.error_code})",
                    res_model,
                    res_id,
                    event["id"],
                    level="warning",
                )

    def _orphans(self, wanted):
        """``[(res_model, res_id, event)]`` among ``wanted`` (``{(res_model, res_id): event}``,
        our events no link adopted) that no link will own (``sync_plan.is_orphan``)."""
        by_model = defaultdict(dict)
        for (res_model, res_id), event in wanted.items():
            by_model[res_model][res_id] = event
        orphans = []
        for res_model, events in by_model.items():
            if res_model not in self.env or not hasattr(self.env[res_model], "_o365_targets"):
                continue
            records = self.env[res_model].sudo().with_context(active_test=False)
            records = records.browse(list(events)).exists()
            targets = records._o365_targets() if records else {}
            linked = {
                link.res_id: link.event_id
                for link in self.links.search(
                    [
                        ("user_id", "=", self.user_id),
                        ("res_model", "=", res_model),
                        ("res_id", "in", list(events)),
                    ]
                )
            }
            orphans += [
                (res_model, res_id, event)
                for res_id, event in events.items()
                if sync_plan.is_orphan(
                    event["id"], targets.get(res_id), linked.get(res_id), self.user_id
                )
            ]
        return orphans

    # ------------------------------------------------------------------
    # Push
    # ------------------------------------------------------------------
    def _waiting(self):
        """(links to push or delete, answers to send): whether any wait for this mailbox. The
        sync job's claim read both (same snapshot); when the pull routed events, which may
        have queued more, one query asks again. Outside the sync job: assume so."""
        claim = self.account._o365_claim()
        if not claim:
            return True, True
        if not self.routed:
            return claim.pending_links, claim.pending_answers
        # The same conditions as the claim's, asked again after the pull.
        accounts = self.env["office365.account"]
        accounts._o365_flush_waiting()
        self.env.cr.execute(
            SQL(
                "SELECT %s, %s FROM office365_account a WHERE a.id = %s",
                accounts._o365_links_waiting(),
                accounts._o365_answers_waiting(),
                self.account.id,
            )
        )
        return self.env.cr.fetchone()

    def push(self):
        """Send what Odoo queued for this mailbox, each in ``$batch`` requests."""
        account, client, stats = self.account, self.client, self.stats
        links_wait, answers_wait = self._waiting()
        if links_wait:
            self.env["office365.link"]._o365_push(account, client, stats, self.options)
        if "activities" in self.options and answers_wait:
            self.env["office365.meeting.answer"]._o365_push(account, client, stats)
        if "events" in self.options:
            self.env["office365.inbound.event"].sudo()._o365_push(account, client, stats)
