# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Outlook meetings logged as Meeting activities on the contacts who attend ("Sync Office 365
events").

One record per meeting occurrence (iCalUId + original start), whatever the number of internal
attendees' mailboxes it is read from (``mailbox_ids`` keeps each mailbox's event id).

Who sees it: each syncing user concerned (the organizer's mailbox, or the mailbox standing in
for an organizer who does not sync, and every other internal attendee whose mailbox syncs) gets
ONE Meeting activity per meeting, whatever the number of contacts, in their "My Activities".
All of them are on one partner, ``activity_partner_id``: the contacts' company when several
all belong to it, else the first contact in Outlook's order, kept while it attends. Every other
contact's timeline gets a note once ("Meeting ... with ..., to-dos on <that partner>"), and a
done entry when the daily cron closes the meeting's activities once it has ended.

This file holds the record: its fields and who may read it. Its jobs each extend the same
model from a file named after the job (``_inherit`` of one model rather than abstract helper
models: every job works on the meetings themselves, and the entry points other code calls,
``_o365_process``, ``_o365_push``, ``_o365_queue_push``, ``_cron_close_ended``, stay on
``office365.inbound.event``):

- ``office365_inbound_event_log.py``: log one delta page (decided by ``services.inbound_plan``);
- ``office365_inbound_event_activities.py``: keep the activities in step with their meeting;
- ``office365_inbound_event_push.py``: send the organizer's edits made in Odoo to Outlook;
- ``office365_inbound_event_close.py``: the daily close of ended meetings.
"""

from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import html_sanitize

from ..services import inbound, mapping

# The option of "Sync Office 365 events" in the run's counts and log.
OPTION = "events"


class Office365InboundEvent(models.Model):
    """An Outlook meeting logged in Odoo (one per iCalUId and occurrence)."""

    _name = "office365.inbound.event"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Outlook meeting logged in Odoo"
    _order = "start desc, id desc"

    name = fields.Char("Subject")
    ical_uid = fields.Char("iCalUId", required=True, index=True)
    occurrence_key = fields.Char(
        default="",
        required=True,
        help="Original start of the occurrence for recurring meetings; empty for single ones.",
    )
    state = fields.Selection(
        [
            (inbound.LOGGED, "Logged"),
            (inbound.PRIVATE, "Private (not logged)"),
            (inbound.CANCELLED, "Cancelled"),
        ],
        default=inbound.LOGGED,
        required=True,
        index=True,
    )
    start = fields.Datetime(index=True)
    stop = fields.Datetime(index=True)
    allday = fields.Boolean("All day")
    location = fields.Char()
    join_url = fields.Char("Join link", help="The Teams meeting's join link, as Outlook has it.")
    # Sanitized once, by create and write below, for every caller (the sync, RPC, the form):
    # the ORM's own sanitizing of an Html field runs twice per create or write (once for the
    # cache, once for the column), the most expensive step of logging a meeting.
    description = fields.Html(sanitize=False)
    body_truncated = fields.Boolean("Description truncated")
    organizer_email = fields.Char()
    organizer_key = fields.Char(
        compute="_compute_organizer_key",
        store=True,
        readonly=False,
        index=True,
        help="The organizer's address when the meeting was first logged: a copy of the same "
        "iCalUId naming another organizer is another meeting.",
    )
    organizer_name = fields.Char()
    attendee_emails = fields.Json(
        help="Every address of the meeting: the organizer, then the attendees in Outlook's order."
    )
    categories = fields.Char()
    is_private = fields.Boolean("Private in Outlook")
    user_id = fields.Many2one("res.users", "Assigned to", index=True, ondelete="set null")
    internal_user_ids = fields.Many2many(
        "res.users",
        "office365_inbound_event_internal_user_rel",
        "inbound_event_id",
        "user_id",
        string="Internal attendees",
    )
    partner_ids = fields.Many2many(
        "res.partner",
        "office365_inbound_event_partner_rel",
        "inbound_event_id",
        "partner_id",
        string="External attendees",
    )
    company_partner_id = fields.Many2one("res.partner", "Attendees' company", ondelete="set null")
    activity_partner_id = fields.Many2one(
        "res.partner",
        "To-dos on",
        ondelete="set null",
        help="The contact or company whose timeline holds the meeting's activities, one per "
        "user: the attendees' company when several contacts all belong to it, else the first "
        "contact in Outlook's order (kept while that contact attends; a single contact holds "
        "them).",
    )
    noted_partner_ids = fields.Many2many(
        "res.partner",
        "office365_inbound_event_noted_partner_rel",
        "inbound_event_id",
        "partner_id",
        string="Timelines with a note",
        help="Contacts whose timeline shows the meeting by a note linking to the partner that "
        "holds its activities (each is told once, and again when the meeting is done).",
    )
    mailbox_ids = fields.One2many("office365.inbound.event.mailbox", "inbound_event_id")
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        precompute=True,  # set by the insert itself, not by an update after it
        index=True,
        help="The company of the first user whose mailbox logged the meeting: only its users "
        "see it through its contacts (see o365_readable).",
    )
    # Who may read this logged meeting (record rules of this model and of its mailbox copies).
    o365_readable = fields.Boolean(
        "Readable", compute="_compute_o365_readable", search="_search_o365_readable"
    )
    logged_activity_ids = fields.One2many(
        "mail.activity", "o365_inbound_event_id", string="Logged activities"
    )
    activity_note = fields.Text(help="Last note written on the activities (details + body).")
    odoo_owned = fields.Char(
        help='Activity fields kept as edited in Odoo ("<activity id>:time|note|summary", '
        "comma-separated): Outlook updates leave them alone."
    )
    push_values = fields.Json(help="Edits waiting to be sent to the organizer's Outlook event.")

    _sql_constraints = [
        (
            "occurrence_unique",
            "unique(ical_uid, occurrence_key, organizer_key)",
            "An Outlook meeting occurrence is logged once.",
        ),
    ]

    @api.depends("organizer_email")
    def _compute_organizer_key(self):
        for meeting in self:
            meeting.organizer_key = meeting.organizer_key or (
                mapping.clean_email(meeting.organizer_email) or ""
            )

    @api.model
    def _o365_clean_description(self, value):
        """``value`` as the ``description`` field stores it: sanitized as a default ``Html``
        field would be (see the field)."""
        if value is None or value is False:
            return value
        return html_sanitize(value, silent=True)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "description" in vals:
                vals["description"] = self._o365_clean_description(vals["description"])
        return super().create(vals_list)

    def write(self, vals):
        if "description" in vals:
            vals = {**vals, "description": self._o365_clean_description(vals["description"])}
        return super().write(vals)

    @api.depends("mailbox_ids.user_id.company_id")
    def _compute_company_id(self):
        for meeting in self:
            first = meeting.mailbox_ids.sorted("id")[:1]
            meeting.company_id = first.user_id.company_id or meeting.company_id

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_o365_readable(self):
        readable = set(
            self.browse()._search([("id", "in", self.ids), ("o365_readable", "=", True)])
        )
        for meeting in self:
            meeting.o365_readable = meeting.id in readable

    def _search_o365_readable(self, operator, value):
        """Meetings the current user may read: those their mailbox logged, those whose activities
        they are assigned, and, in their allowed companies, those of a contact whose activities
        they may read. Odoo lets a user read a contact's activities when they may post on the
        contact (``_mail_post_access``: write by default), so the meeting's body, note and
        attendees reach no one its activities do not reach.

        Evaluated for the real user even inside a record rule (which searches as superuser).
        """
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(f"o365_readable {operator} {value!r}")
        env = self.env(su=False)
        uid = env.uid
        partner_model = env["res.partner"].with_context(active_test=False)
        access = getattr(partner_model, "_mail_post_access", "read")
        if env["ir.model.access"].check("res.partner", access, raise_exception=False):
            rule = env["ir.rule"]._compute_domain("res.partner", access) or []
            partners = partner_model._search(rule)
        else:
            partners = []
        domain = [
            "|",
            "|",
            "|",
            ("mailbox_ids.user_id", "=", uid),
            ("user_id", "=", uid),
            ("logged_activity_ids.user_id", "=", uid),
            "&",
            ("company_id", "in", [*env.companies.ids, False]),
            ("partner_ids", "in", partners),
        ]
        if (operator == "=") == value:
            return domain
        return ["!", *expression.normalize_domain(domain)]
