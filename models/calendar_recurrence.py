# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Recurring Odoo meetings as one Outlook series.

The recurrence (``calendar.recurrence``) has its own ``office365.link``: the Outlook series master,
sent with the rule as Graph's ``patternedRecurrence`` (``services/recurrence.to_graph``) and its
start and end in the rule's time zone. Each meeting of the recurrence keeps its own link, to the
Outlook occurrence on its slot: after the series is written, one ``/events/{master}/instances``
read per series (in ``$batch``) gives the occurrences, ``services/recurrence.plan_occurrences``
pairs them with the meetings by ``originalStart``, and each link takes its occurrence's id with a
snapshot of what the occurrence shows (the series' values at that slot). The ordinary push then
sends only what differs (a meeting edited in Odoo becomes that occurrence's exception) and deletes
the occurrences of meetings deleted in Odoo (event-delete.md: deleting an occurrence on the
organizer's calendar removes it and sends the attendees a cancellation). Occurrences with no Odoo
meeting are deleted the same way. The number of requests does not grow with the occurrences.

"This and following" in Odoo ends the old rule (``_stop_at``: its range is PATCHed) and starts a
new recurrence (a new series). An organizer's edit of the series in Outlook (its pattern, start or
end) goes back through Odoo's own "all events" update of the base meeting.
"""

from datetime import datetime, time, timedelta

from odoo import api, models

from ..services import mapping, mapping_activity, recurrence
from ..services.constants import CTX_INBOUND, KIND_OPTION, user_tz
from ..services.delta_completion import series_instances
from ..services.errors import GraphError
from ..services.graph_client import WriteOp
from ..services.mapping import MappingError, clean_email
from ..services.runstats import TO_ODOO, TO_OUTLOOK

RULE_FIELDS = (
    "rrule_type",
    "interval",
    "end_type",
    "count",
    "until",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "month_by",
    "day",
    "weekday",
    "byday",
)
# Keys of a series' values that its occurrences do not have.
SERIES_KEYS = ("recurrence", "time_zone")


class CalendarRecurrence(models.Model):
    _name = "calendar.recurrence"
    _inherit = ["calendar.recurrence", "office365.sync.mixin"]

    _o365_kind = "meeting"
    _o365_watched_fields = (*RULE_FIELDS, "event_tz", "base_event_id")
    _o365_inbound_fields = frozenset({"start", "end", "recurrence"})
    _o365_snapshot_outlook = True

    # ------------------------------------------------------------------
    # Targets and values
    # ------------------------------------------------------------------
    def _o365_targets(self):
        records = self.sudo().with_context(active_test=False)
        bases = records.mapped(lambda rec: rec._o365_base_event())
        event_targets = bases._o365_targets() if bases else {}
        return {
            rec.id: event_targets.get(rec._o365_base_event().id, False) or False for rec in records
        }

    def _o365_base_event(self):
        self.ensure_one()
        return self.base_event_id or self.calendar_event_ids.sorted("start")[:1]

    def _o365_week_start(self, user):
        """The organizer's language week start, the ``wkst`` Odoo expands weekly rules with."""
        lang = self.env["res.lang"]._get_data(code=user.lang or "en_US")
        return lang.week_start or "7"

    def _o365_rule(self):
        """The rule as ``services/recurrence`` reads it."""
        self.ensure_one()
        base = self._o365_base_event()
        rule = {name: self[name] for name in RULE_FIELDS}
        rule["event_tz"] = self.event_tz or user_tz(base.user_id) or "UTC"
        rule["dtstart"] = self.dtstart or base.start
        rule["allday"] = bool(base.allday)
        return rule

    def _o365_values_batch(self, account, links):
        """``{link id: (values, notes)}``: the base meeting's values with the rule and zone."""
        by_id = {rec.id: rec for rec in self}
        known = self.env["calendar.event"]._o365_known_emails(links)
        organizer_email = clean_email(account.email)
        result = {}
        for link in links:
            rec = by_id.get(link.res_id)
            base = rec._o365_base_event() if rec else None
            if not base:
                result[link.id] = (MappingError("the recurrence has no meeting"), [])
                continue
            try:
                values, notes = base._o365_meeting_values(organizer_email, known, link)
                result[link.id] = (rec._o365_series_values(values, account.user_id), notes)
            except ValueError as exc:  # a MappingError, or a date Python refuses
                result[link.id] = (exc, [])
        return result

    def _o365_series_values(self, values, user):
        """The series master: ``values`` of the base meeting at the rule's first slot."""
        self.ensure_one()
        rule = self._o365_rule()
        events = self.calendar_event_ids.filtered("active").sorted("start")
        through = events[-1:].start if events else None
        if rule["allday"] and events:
            through = events[-1:].start_date
        values = dict(values)
        values["recurrence"] = recurrence.to_graph(rule, self._o365_week_start(user), through)
        first = recurrence.odoo_slots(rule, self._o365_week_start(user))[:1]
        if not first:
            raise MappingError("the recurrence has no occurrence")
        if not rule["allday"]:
            base = self._o365_base_event()
            duration = base.stop - base.start
            start = first[0].replace(tzinfo=None)
            values["start"] = mapping.utc_iso(start)
            values["end"] = mapping.utc_iso(start + duration)
            values["time_zone"] = recurrence._zone(rule["event_tz"]) and rule["event_tz"]
        return values

    def _o365_pushed(self, pairs):
        """The series' Teams join link is every meeting's of the recurrence."""
        rows = []
        for rec, event in pairs:
            rows += [(meeting, event) for meeting in rec.calendar_event_ids]
        self.env["calendar.event"]._o365_pushed(rows)

    # ------------------------------------------------------------------
    # Push: the series first, then their occurrences' links
    # ------------------------------------------------------------------
    @api.model
    def _o365_push_series(self, account, client, stats, links):
        """Write the pending series of ``links``, pair the occurrences with their meetings;
        return the links the ordinary push sends (never a meeting of a series not in Outlook)."""
        link_model = self.env["office365.link"].sudo()
        event_links = links.filtered(lambda ln: ln.res_model == "calendar.event")
        events = (
            self.env["calendar.event"]
            .sudo()
            .with_context(active_test=False)
            .browse(event_links.mapped("res_id"))
            .exists()
        )
        recurrences = events.recurrence_id | self.sudo().browse(
            links.filtered(lambda ln: ln.res_model == self._name).mapped("res_id")
        )
        recurrences = recurrences.exists()
        if not recurrences and not links.filtered(lambda ln: ln.res_model == self._name):
            return links
        user_id = account.user_id.id

        def series_of(recs):
            return link_model.search(
                [
                    ("user_id", "=", user_id),
                    ("res_model", "=", self._name),
                    ("res_id", "in", recs.ids),
                ]
            )

        # A meeting queued before its recurrence was (Start Syncing queues meetings): the
        # recurrence is queued now and sent first.
        unlinked = recurrences - self.browse(series_of(recurrences).mapped("res_id"))
        if unlinked:
            unlinked._o365_touch()
        series_links = links.filtered(lambda ln: ln.res_model == self._name) | series_of(
            recurrences
        ).filtered(lambda ln: ln.state in ("pending", "to_delete"))
        written = link_model.browse()
        if series_links:
            planned = series_links._o365_plan(account, stats)
            if planned:
                if any(op.action == "create" for _link, op, _snap in planned):
                    account._o365_ensure_category(client, stats)
                results = client.batch_write([op for _link, op, _snap in planned])
                link_model._o365_apply_results(planned, results, stats, account)
                written = link_model.browse(
                    [
                        link.id
                        for (link, op, _snap), result in zip(planned, results, strict=True)
                        if result.ok and op.action != "delete"
                    ]
                ).exists()
        all_series = series_of(recurrences)
        series_by_rec = {link.res_id: link for link in all_series}
        held = link_model.browse()
        to_pair = {}
        for rec in recurrences:
            series = series_by_rec.get(rec.id)
            rec_links = event_links.filtered(
                lambda ln, ids=set(rec.calendar_event_ids.ids): ln.res_id in ids
            )
            if not series or not series.event_id or series.state == "detached":
                if series and series.state in ("pending", "error"):
                    # Never as single events: they wait for their series.
                    held |= rec_links.filtered(lambda ln: ln.state == "pending")
                continue
            needs = series in written or any(
                ln.state == "pending"
                and (not ln.event_id or (ln.synced_values or {}).get("_series") != series.event_id)
                for ln in rec_links
            )
            if needs:
                to_pair[rec] = series
        if to_pair:
            self._o365_pair_occurrences(account, client, stats, to_pair, written)
        return (links - series_links - held).exists()

    @api.model
    def _o365_pair_occurrences(self, account, client, stats, to_pair, written):
        """Read each series' occurrences (one ``$batch``) and link its meetings to them."""
        link_model = self.env["office365.link"].sudo()
        windows, rules = {}, {}
        week_start = self._o365_week_start(account.user_id)
        for rec, series in to_pair.items():
            rule = rec._o365_rule()
            rules[rec] = rule
            slots = recurrence.odoo_slots(rule, week_start)
            events = rec.calendar_event_ids.filtered("active")
            starts = [*events.mapped("start"), *events.mapped("stop")]
            low = min([_naive(s) for s in slots] + starts)
            high = max([_naive(s) for s in slots] + starts)
            windows[series.event_id] = (low, high)
        try:
            found = _series_instances(client, windows)
        except GraphError as exc:
            stats.error(
                KIND_OPTION["meeting"],
                f"The occurrences of a recurring meeting could not be read ({exc}); the next "
                "run tries again.",
                level="warning",
            )
            return
        ops, op_links = [], []
        event_links = link_model.search(
            [
                ("user_id", "=", account.user_id.id),
                ("res_model", "=", "calendar.event"),
                ("res_id", "in", [ev.id for rec in to_pair for ev in rec.calendar_event_ids]),
            ]
        )
        link_of = {link.res_id: link for link in event_links}
        for rec, series in to_pair.items():
            instances = found.get(series.event_id)
            if instances is None:
                continue  # the series is gone in Outlook: the next pull detaches it
            events = rec.calendar_event_ids.filtered("active")
            rule = rules[rec]
            plan = recurrence.plan_occurrences(
                rule, [_event_row(ev, rule["allday"]) for ev in events], instances, week_start
            )
            by_id = {inst["id"]: inst for inst in instances}
            snapshot = {
                key: value
                for key, value in (series.synced_values or {}).items()
                if key not in SERIES_KEYS and not key.startswith("_")
            }
            reset = series in written
            paired = set()
            for step in plan.patch + plan.unchanged:
                if step.event_id is None:
                    continue
                link = link_of.get(step.event_id)
                if link is None:
                    continue
                paired.add(step.instance_id)
                if link.event_id == step.instance_id and not reset:
                    continue
                instance = by_id[step.instance_id]
                try:
                    times = mapping.graph_to_values(instance)
                except MappingError:
                    continue
                link.write(
                    {
                        "event_id": step.instance_id,
                        "ical_uid": instance.get("iCalUId") or False,
                        "change_key": instance.get("changeKey") or False,
                        "state": "pending" if link.state != "to_delete" else "to_delete",
                        "error": False,
                        "synced_values": {
                            **snapshot,
                            "start": times["start"],
                            "end": times["end"],
                            "all_day": times["all_day"],
                            "_series": series.event_id,
                        },
                    }
                )
            # Links of meetings no longer in the recurrence (a rewritten series) that still
            # point at one of its occurrences are forgotten, never deleted there.
            event_links.filtered(
                lambda ln, ids=set(by_id), mine=set(events.ids), done=paired: (
                    ln.event_id in ids
                    and ln.res_id not in mine
                    and ln.event_id not in done
                    and ln.state != "to_delete"
                )
            ).unlink()
            for step in plan.cancel:
                ops.append(WriteOp(f"occ-{len(ops)}", "delete", step.instance_id))
                op_links.append(series)
            for step in plan.missing:
                link = link_of.get(step.event_id)
                if link and not link.event_id:
                    link.synced_values = {"_series": series.event_id}
        if ops:
            results = client.batch_write(ops)
            for _link, result, op in zip(op_links, results, ops, strict=True):
                if result.ok or result.not_found:
                    stats.item(
                        KIND_OPTION["meeting"],
                        "deleted",
                        TO_OUTLOOK,
                        res_model=self._name,
                        res_id=_link.res_id,
                        event_id=op.event_id,
                        reason="an occurrence the Odoo recurrence no longer has",
                    )
                else:
                    stats.error(
                        KIND_OPTION["meeting"],
                        f"An occurrence without Odoo meeting could not be removed "
                        f"({result.status} {result.error_code})",
                        self._name,
                        _link.res_id,
                        _link.event_id,
                        level="warning",
                    )

    # ------------------------------------------------------------------
    # Inbound: the organizer edited the series in Outlook
    # ------------------------------------------------------------------
    @api.model
    def _o365_apply_remote(self, links, events, account, stats):
        """A new pattern, start or end of the series comes back through Odoo's own update of
        every meeting of the recurrence; other edits of the master follow the meetings' rules
        (Odoo's values are sent again)."""
        week_start = self._o365_week_start(account.user_id)
        option = KIND_OPTION["meeting"]
        for link in links:
            event = events[link.id]
            if event.get("changeKey") and event.get("changeKey") == link.change_key:
                continue
            rec = self.sudo().browse(link.res_id).exists()
            if not rec or not event.get("recurrence"):
                link.write({"change_key": event.get("changeKey") or link.change_key})
                continue
            try:
                theirs = mapping.graph_to_values(event)
                rule = recurrence.from_graph(
                    event["recurrence"], event["start"], week_start, rec.event_tz
                )
            except MappingError as exc:
                self._o365_not_applied(link, event, exc, stats)
                continue
            snapshot = link.synced_values or {}
            vals = {
                key: value
                for key, value in rule.items()
                if key in RULE_FIELDS and rec[key] != value
            }
            if "until" in vals and str(rec.until or "") == str(rule.get("until") or ""):
                vals.pop("until")
            base = rec._o365_base_event()
            moved = (theirs["start"], theirs["end"]) != (snapshot.get("start"), snapshot.get("end"))
            if moved:
                vals.update(mapping_activity.odoo_meeting_times(theirs))
            if not vals:
                link.write({"change_key": event.get("changeKey") or link.change_key})
                continue
            ref = {
                "res_model": self._name,
                "res_id": rec.id,
                "event_id": link.event_id,
                "subject": event.get("subject"),
            }
            if not account._o365_prevented().allows("odoo", "update"):
                stats.item(
                    option,
                    "skipped",
                    TO_ODOO,
                    **ref,
                    reason="The series changed in Outlook; updating Odoo is prevented by the "
                    "one-way settings",
                )
                continue
            self._o365_rewrite_from_outlook(link, rec, base, vals, event, account)
            stats.item(option, "updated", TO_ODOO, **ref, reason="The series changed in Outlook")

    def _o365_rewrite_from_outlook(self, link, rec, base, vals, event, account):
        """Odoo's "all events" update of the base meeting, then the series link follows the
        recurrence Odoo made (the old one is deleted by that update)."""
        old_events = rec.calendar_event_ids
        # Odoo deletes the old recurrence (its link is then queued for deletion) and makes a new
        # one: the link, and so the Outlook series, moves to it.
        base.with_context(**{CTX_INBOUND: True}).write({**vals, "recurrence_update": "all_events"})
        new_rec = base.recurrence_id or rec.exists()
        link.write(
            {
                "res_id": new_rec.id,
                "state": "pending",
                "change_key": event.get("changeKey") or link.change_key,
            }
        )
        values = new_rec._o365_values_batch(account, link)[link.id][0]
        if not isinstance(values, ValueError):
            link.write({"synced_values": values, "state": "pending"})
        # The meetings Odoo made for the new rule get their links; the old meetings' links are
        # forgotten (Outlook re-planned the series itself).
        stale = (old_events - new_rec.calendar_event_ids).ids
        if stale:
            self.env["office365.link"].sudo().search(
                [("res_model", "=", "calendar.event"), ("res_id", "in", stale)]
            ).unlink()
        new_rec.calendar_event_ids._o365_touch()


def _naive(value):
    """Naive UTC datetime of a slot key (aware datetime, or date of an all-day series)."""
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):
        return (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else recurrence._as_utc(value).replace(tzinfo=None)
        )
    return datetime.combine(value, time())


def _event_row(event, allday):
    if allday:
        return {"id": event.id, "start": event.start_date, "stop": event.stop_date}
    return {"id": event.id, "start": event.start, "stop": event.stop}


def _series_instances(client, windows):
    """``{master id: instances}`` of each series over its window, a day of margin each side."""
    return series_instances(
        client,
        {
            master: (low - timedelta(days=1), high + timedelta(days=1))
            for master, (low, high) in windows.items()
        },
    )
