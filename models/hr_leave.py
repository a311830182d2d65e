# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sync holidays: an approved leave is an *Out of office* event in its employee's Outlook.

- Final approval (state ``validate``, after one or two steps) puts the leave in the mailbox of
  the employee's user, if that user started "Sync holidays".
- Refused, cancelled, reset to "To Approve" or deleted: the event is deleted. New dates: it moves.
- Outlook never changes a leave: Outlook-side edits are put back on the next sync (and logged), an
  event deleted in Outlook is created again.
- One leave, one Outlook event. Odoo may also create its own ``calendar.event`` for a leave
  (leave types with "Display Time Off in Calendar"); that meeting belongs to the leave, and the
  meetings sync must never push it: see :meth:`HrLeave._o365_leave_meeting_ids`.
"""

import logging
from collections import defaultdict
from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models

from ..services import mapping
from ..services.constants import user_tz
from ..services.mapping_leave import leave_values, pick_translation
from ..services.sync_plan import Note

_logger = logging.getLogger(__name__)

FINAL_STATE = "validate"


class HrLeave(models.Model):
    _name = "hr.leave"
    _inherit = ["hr.leave", "office365.sync.mixin"]

    _o365_kind = "leave"
    _o365_watched_fields = (
        "state",
        "employee_id",
        "holiday_status_id",
        "name",
        "private_name",
        "request_date_from",
        "request_date_to",
        "request_date_from_period",
        "request_unit_half",
        "request_unit_hours",
        "request_hour_from",
        "request_hour_to",
        "date_from",
        "date_to",
    )
    # Outlook never changes a leave; Outlook-side edits are restored from Odoo.
    _o365_inbound_fields = frozenset()
    _o365_restore_outlook = True

    # ------------------------------------------------------------------
    # One leave, one Outlook event
    # ------------------------------------------------------------------
    @api.model
    def _o365_leave_meeting_ids(self, events):
        """Ids of the ``calendar.event`` records among ``events`` that are a leave's own meeting.

        When a leave type has "Display Time Off in Calendar", approving the leave makes Odoo
        create a ``calendar.event`` (``hr.leave._validate_leave_request``): created with
        ``res_model = 'hr.leave'`` (any meeting attached to that model counts), then stored on
        ``hr.leave.meeting_id``. The leave sync already shows the leave in Outlook, so the
        meetings sync must treat these events as never to push: its ``_o365_targets()`` maps
        every id returned here to ``False`` (which also removes an event pushed before). Both
        marks are checked because ``meeting_id`` is only written after the meeting is created.
        """
        events = events.sudo().exists()
        if not events:
            return set()
        own = {event.id for event in events if event.res_model == self._name}
        others = [event_id for event_id in events.ids if event_id not in own]
        if others:
            leaves = self.sudo().search([("meeting_id", "in", others)])
            own.update(leaves.meeting_id.ids)
        return own

    # ------------------------------------------------------------------
    # What goes where
    # ------------------------------------------------------------------
    def _o365_targets(self):
        """Leave id -> the user whose mailbox shows it, or False to remove it from Outlook.

        Only approved leaves of users who started "Sync holidays" are shown, unless ticked
        "Do not sync". A leave whose mailbox owner stopped the option is left out (no traffic
        at all): Start puts it right.
        """
        syncing = self.env["res.users"]._o365_syncing(self._o365_option())
        links = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids)])
        )
        linked = defaultdict(set)
        for link in links:
            linked[link.res_id].add(link.user_id.id)
        targets = {}
        for leave in self.sudo():
            user_id = leave.user_id.id
            approved = leave.state == FINAL_STATE and not leave.o365_do_not_sync
            if approved and not user_id and syncing:
                _logger.warning(
                    "Leave %s is approved but employee %s has no user: no Outlook calendar to "
                    "show it in.",
                    leave.id,
                    leave.employee_id.id,
                )
            wanted = user_id if approved and user_id in syncing else False
            if wanted or linked[leave.id] & syncing:
                targets[leave.id] = wanted
        return targets

    @api.model
    def _o365_backfill(self, users):
        """Start: queue the approved current and future leaves of ``users`` in their window.

        Leaves already linked to these users are queued again too, so what changed while the
        option was stopped (a refusal, new dates) reaches Outlook.
        """
        leaves = self.sudo().browse()
        now = fields.Datetime.now()
        for user in users:
            _start, end = user._o365_account()._o365_window()
            leaves |= self.sudo().search(
                [
                    ("user_id", "=", user.id),
                    ("state", "=", FINAL_STATE),
                    ("date_to", ">=", now),
                    ("date_from", "<", datetime.combine(end + timedelta(days=1), time.min)),
                ]
            )
        links = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", self._name), ("user_id", "in", users.ids)])
        )
        leaves |= self.sudo().browse(links.mapped("res_id")).exists()
        if leaves:
            self.env["office365.link"]._o365_mark(
                self._o365_kind, self._name, leaves._o365_targets()
            )

    # ------------------------------------------------------------------
    # The event
    # ------------------------------------------------------------------
    def _o365_type_name(self, lang):
        """(name of the leave type in ``lang`` or a fallback language, language used)."""
        self.ensure_one()
        leave_type = self.sudo().holiday_status_id
        translations = leave_type._fields["name"]._get_stored_translations(leave_type)
        name, used = pick_translation(translations, lang or "en_US")
        if not name:
            name = self.env._("Time Off")
        return name, used

    def _o365_values_batch(self, account, links):
        """``{link id: (values, notes)}`` of these leaves in their employee's calendar.

        A leave type without a name in the user's language is shown in another one: its note
        is logged once per push, on the leave type.
        """
        type_notes = self._o365_language_notes(
            self.sudo().holiday_status_id, account.user_id.lang or "en_US"
        )
        by_id = {leave.id: leave for leave in self}
        result = {}
        for link in links:
            leave = by_id[link.res_id]
            notes = type_notes.get(leave.sudo().holiday_status_id.id, [])
            try:
                result[link.id] = (leave._o365_leave_values(account), notes)
            except ValueError as exc:  # a MappingError: the leave cannot be shown
                result[link.id] = (exc, notes)
        return result

    @api.model
    def _o365_language_notes(self, leave_types, lang):
        """{leave type id: [note]}: the sync log's note for each of ``leave_types`` that has no
        name in ``lang`` (another language is shown)."""
        notes = {}
        for leave_type in leave_types:
            translations = leave_type._fields["name"]._get_stored_translations(leave_type)
            name, used = pick_translation(translations, lang)
            if used == lang:
                continue
            message = f"Leave type {leave_type.id} has no name in {lang}; " + (
                f"its {used} name {name!r} is shown." if used else "'Time Off' is shown."
            )
            notes[leave_type.id] = [
                Note(message, level="info", res_model=leave_type._name, res_id=leave_type.id)
            ]
        return notes

    def _o365_leave_values(self, account):
        self.ensure_one()
        leave = self.sudo()
        user = account.user_id
        if leave.company_id and leave.company_id not in user.company_ids:
            raise mapping.MappingError(
                f"the leave belongs to company {leave.company_id.name!r}, which user "
                f"{user.login!r} has no access to"
            )
        if not leave.holiday_status_id:
            raise mapping.MappingError("the leave has no leave type")
        type_name, _lang = leave._o365_type_name(user.lang)
        all_day = not (leave.request_unit_half or leave.request_unit_hours)
        day_from, day_to = leave.request_date_from, leave.request_date_to
        if all_day and leave.date_from and leave.date_to and not (day_from and day_to):
            local = pytz.timezone(user_tz(leave))
            day_from = pytz.utc.localize(leave.date_from).astimezone(local).date()
            day_to = pytz.utc.localize(leave.date_to).astimezone(local).date()
        return leave_values(
            type_name,
            leave.private_name,
            all_day=all_day,
            category=account._o365_category_name(),
            day_from=day_from,
            day_to=day_to,
            date_from=leave.date_from,
            date_to=leave.date_to,
        )

    def _o365_write_inbound(self, link, changes, theirs, stats):
        """Outlook never changes a leave (no inbound fields): nothing to write."""
        return False

    @api.model
    def _o365_remote_deleted(self, links, account, stats):
        """The leave's event was deleted in Outlook: create it again while the leave stands.

        The next push creates a new event; the link's ``generation`` gives the creation a new
        ``transactionId`` (Graph would otherwise answer with the deleted event). Links of leaves
        no longer shown (not approved, option stopped) are simply dropped.
        """
        leaves = self.sudo().browse(links.mapped("res_id")).exists()
        targets = leaves._o365_targets() if leaves else {}
        recreate = links.filtered(lambda ln: targets.get(ln.res_id) == ln.user_id.id)
        if recreate and account and not account._o365_prevented().allows("outlook", "create"):
            # The user forbids creating events in Outlook: the leave stays out of it.
            for link in recreate:
                stats.error(
                    self._o365_option(),
                    "The leave's event was deleted in Outlook and creating events in Outlook is "
                    "prevented: it is no longer shown there.",
                    link.res_model,
                    link.res_id,
                    link.event_id or "",
                    level="warning",
                )
            recreate._o365_detach()
            links -= recreate
            recreate = recreate.browse()
        for link in recreate:
            stats.error(
                self._o365_option(),
                "The leave's event was deleted in Outlook; it is created again from Odoo "
                "(change or cancel the leave in Odoo instead).",
                link.res_model,
                link.res_id,
                link.event_id or "",
                level="info",
            )
        recreate._o365_recreate()
        (links - recreate).unlink()
