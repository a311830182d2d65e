# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Who reads a logged Outlook meeting: the users whose mailbox logged it, the assignees of its
activities, and the users of its company who may read one of its contacts; a meeting made
private in Outlook after it was logged keeps its place on the timeline and nothing more.

Every check goes through the ORM as the user, with access rights and record rules applied
(what JSON-RPC ``read``/``search_read`` do).
"""

from datetime import datetime, time, timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..models.office365_inbound_event_log import _changed
from .common import PARAM, Office365Case
from .test_inbound_events import _dt, _who

MEETING_FIELDS = ["name", "description", "activity_note", "attendee_emails", "location"]
OWN_MODELS = (
    "office365.account",
    "office365.link",
    "office365.sync.log",
    "office365.sync.log.line",
    "office365.inbound.event",
    "office365.inbound.event.mailbox",
    "office365.subscription",
    "office365.sync.request",
    "office365.calendar",
)


@tagged("post_install", "-at_install")
class TestInboundAccess(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "internal_domains", "example.com")
        params.set_param(PARAM + "create_contacts", "0")
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.alice, cls.alice_box = cls._o365_user("acc_alice", options=("events",))
        cls.bob, cls.bob_box = cls._o365_user("acc_bob", options=("events",))
        # Colleagues of company A who attend nothing and sync nothing: Carol manages the
        # contacts (Odoo shows her their activities), Dave only reads them.
        cls.carol = new_test_user(
            cls.env,
            login="acc_carol",
            email="carol@example.com",
            groups="base.group_user,base.group_partner_manager",
        )
        cls.dave = new_test_user(
            cls.env, login="acc_dave", email="dave@example.com", groups="base.group_user"
        )
        cls.user_b = new_test_user(
            cls.env,
            login="acc_user_b",
            email="user.b@example.com",
            groups="base.group_user",
            company_id=cls.company_b.id,
            company_ids=[(6, 0, cls.company_b.ids)],
        )
        cls.portal = new_test_user(
            cls.env, login="acc_portal", email="portal@client.com", groups="base.group_portal"
        )
        partners = cls.env["res.partner"]
        # Dan is a contact of company A only; Sam is shared by every company.
        cls.dan = partners.create(
            {"name": "Dan", "email": "dan@client.com", "company_id": cls.company_a.id}
        )
        cls.sam = partners.create({"name": "Sam", "email": "sam@shared.org"})
        today = fields.Date.today()
        monday = today + timedelta(days=7 - today.weekday())
        cls.start = datetime.combine(monday, time(9))

    def setUp(self):
        super().setUp()
        for box in (self.alice_box, self.bob_box):
            box.events.clear()
            box.transactions.clear()
            box.sync_states.clear()

    def _create(self, box, attendees, **kw):
        return box.create_event(
            {
                "subject": kw.pop("subject", "Pricing review"),
                "start": _dt(self.start),
                "end": _dt(self.start + timedelta(hours=1)),
                "attendees": _who(*attendees),
                "body": {"contentType": "html", "content": kw.pop("body", "<p>Price list</p>")},
                "location": {"displayName": "Room 1"},
                **kw,
            }
        )

    def _meeting(self, subject="Pricing review"):
        return self.env["office365.inbound.event"].search([("name", "=", subject)])

    def _activities(self, meeting):
        return self.env["mail.activity"].search([("o365_inbound_event_id", "=", meeting.id)])

    def _readers(self, meeting):
        """The users among ours who can read ``meeting`` (search and read, as each user)."""
        found = set()
        for user in (self.alice, self.bob, self.carol, self.dave, self.user_b):
            model = self.env["office365.inbound.event"].with_user(user)
            listed = model.search_read([("id", "=", meeting.id)], MEETING_FIELDS)
            try:
                model.browse(meeting.id).read(MEETING_FIELDS)
                readable = True
            except AccessError:
                readable = False
            self.assertEqual(bool(listed), readable, user.login)
            if readable:
                found.add(user.login)
        return found

    # ------------------------------------------------------------------
    def test_readers_of_a_company_contacts_meeting(self):
        self._create(self.alice_box, ["dan@client.com"])
        self.o365_sync(self.alice)
        meeting = self._meeting()
        self.assertEqual(meeting.company_id, self.company_a)
        # Alice (her mailbox logged it) and Carol (she reads Dan's activities, same company);
        # not Bob nor Dave (they read Dan but not his activities), nor the user of company B.
        self.assertEqual(self._readers(meeting), {"acc_alice", "acc_carol"})
        self.dan.with_user(self.dave).read(["name"])
        with self.assertRaises(AccessError):
            self._activities(meeting).with_user(self.dave).read(["note"])
        self._activities(meeting).with_user(self.carol).read(["note"])
        rows = self.env["office365.inbound.event.mailbox"]
        with self.assertRaises(AccessError):
            self.env["office365.inbound.event"].with_user(self.user_b).browse(
                meeting.id
            ).check_access("read")
        self.assertFalse(rows.with_user(self.user_b).search([]))
        self.assertEqual(rows.with_user(self.carol).search([]), meeting.mailbox_ids)
        self.assertFalse(rows.with_user(self.dave).search([]))
        with self.assertRaises(AccessError):
            rows.with_user(self.user_b).browse(meeting.mailbox_ids.ids).read(["outlook_event_id"])
        # Company B cannot read Dan, nor his timeline's activity, nor the meeting's fields.
        with self.assertRaises(AccessError):
            self.dan.with_user(self.user_b).read(["name"])
        with self.assertRaises(AccessError):
            self._activities(meeting).with_user(self.user_b).read(["note"])

    def test_shared_contact_does_not_open_another_companys_meetings(self):
        self._create(self.alice_box, ["sam@shared.org"], subject="Shared contact meeting")
        self.o365_sync(self.alice)
        meeting = self._meeting("Shared contact meeting")
        self.assertTrue(meeting)
        self.user_b.groups_id += self.env.ref("base.group_partner_manager")
        self.sam.with_user(self.user_b).read(["name"])  # company B reads the contact ...
        readers = self._readers(meeting)  # ... but not company A's meeting with him
        self.assertIn("acc_carol", readers)
        self.assertNotIn("acc_user_b", readers)

    def test_mailbox_and_assignee_read_without_the_contact(self):
        """Dan moves to company B: company A users other than the attendees lose the meeting;
        the attendee whose mailbox logged it and the assignee keep it."""
        # Bob is invited, but his mailbox did not log it (his copy is not synced yet).
        self._create(self.alice_box, ["dan@client.com", "acc_bob@example.com"])
        self.o365_sync(self.alice)
        meeting = self._meeting()
        self.dan.company_id = self.company_b
        self.assertEqual(self._readers(meeting), {"acc_alice"})
        self.assertIn("Price list", str(meeting.with_user(self.alice).read(["description"])))
        # An activity reassigned in Odoo to Carol opens the meeting to her.
        self._activities(meeting)[:1].user_id = self.carol
        self.assertEqual(self._readers(meeting), {"acc_alice", "acc_carol"})

    def test_portal_refused_on_every_model(self):
        self._create(self.alice_box, ["portal@client.com", "dan@client.com"])
        self.o365_sync(self.alice)
        self.assertTrue(self._meeting())
        for model in OWN_MODELS:
            records = self.env[model].with_user(self.portal)
            with self.assertRaises(AccessError, msg=model):
                records.search([])
            ids = self.env[model].search([], limit=1).ids
            if ids:
                with self.assertRaises(AccessError, msg=model):
                    records.browse(ids).read(["id"])

    def test_meeting_made_private_after_it_was_logged(self):
        event = self._create(self.alice_box, ["dan@client.com"], body="<p>Price list</p>")
        self.o365_sync(self.alice)
        meeting = self._meeting()
        activity = self._activities(meeting)
        self.assertIn("Price list", str(activity.note))
        self.alice_box.update_event(
            event["id"],
            {
                "sensitivity": "private",
                "subject": "Secret acquisition",
                "body": {"contentType": "html", "content": "<p>Takeover terms</p>"},
                "location": {"displayName": "Lawyer's office"},
                "attendees": _who("dan@client.com", "sam@shared.org"),
            },
        )
        self.o365_sync(self.alice)
        meeting.invalidate_recordset()
        # It stays on the timeline, as it was ...
        self.assertEqual(meeting.state, "logged")
        self.assertTrue(meeting.is_private)
        self.assertEqual(activity.exists().summary, "Pricing review")
        self.assertEqual(meeting.name, "Pricing review")
        self.assertEqual(meeting.location, "Room 1")
        self.assertEqual(meeting.partner_ids, self.dan)
        self.assertNotIn("sam@shared.org", meeting.attendee_emails)
        self.assertFalse(self.env["mail.activity"].search([("res_id", "=", self.sam.id)]))
        # ... and its body is no longer readable by anyone in Odoo.
        for user in (self.carol, self.alice):
            data = meeting.with_user(user).read(MEETING_FIELDS)[0]
            text = str(data)
            for secret in ("Price list", "Takeover terms", "Secret acquisition", "Lawyer"):
                self.assertNotIn(secret, text, user.login)
            notes = str(self._activities(meeting).with_user(user).read(["note"]))
            self.assertNotIn("Price list", notes)
            self.assertNotIn("Takeover", notes)
        # A second read copies nothing either; a cancellation still clears the timeline.
        stats = self.o365_sync(self.alice)
        self.assertFalse(stats.counts["events"]["updated"])
        self.alice_box.cancel_event(event["id"])
        self.o365_sync(self.alice)
        self.assertEqual(meeting.state, "cancelled")
        self.assertFalse(self._activities(meeting))

    def test_user_who_includes_private_events_keeps_copying(self):
        self.alice._o365_settings().o365_include_private = True
        event = self._create(self.alice_box, ["dan@client.com"])
        self.o365_sync(self.alice)
        self.alice_box.update_event(
            event["id"], {"sensitivity": "private", "subject": "Chosen to share"}
        )
        self.o365_sync(self.alice)
        self.assertTrue(self._meeting("Chosen to share").is_private)

    def test_description_is_sanitized_for_every_writer(self):
        """The meeting's description is sanitized once by the model, not by the ORM: an
        Outlook body, an administrator's write (as RPC makes it) and a copy all lose their
        scripts, and a body Outlook sends again unchanged is not taken for an edit."""
        hostile = '<p>Price list</p><script>alert(1)</script><img src="x" onerror="alert(2)">'
        event = self._create(self.alice_box, ["dan@client.com"], body=hostile)
        self.o365_sync(self.alice)
        meeting = self._meeting()
        for html in (meeting.description, self._activities(meeting).note):
            self.assertIn("Price list", str(html))
            self.assertNotIn("<script", str(html))
            self.assertNotIn("onerror", str(html))
        admin = self.env.ref("base.user_admin")
        meeting.with_user(admin).write({"description": "<p>Agenda</p><script>x()</script>"})
        self.assertEqual(str(meeting.description), "<p>Agenda</p>")
        copy = meeting.with_user(admin).copy({"ical_uid": "copied", "description": hostile})
        self.assertNotIn("<script", str(copy.description))
        # Outlook sends the same body again: compared sanitized, it is not a change.
        meeting.with_user(admin).write({"description": hostile})
        self.assertFalse(_changed(meeting, {"description": hostile}))
        self.assertTrue(_changed(meeting, {"description": "<p>Price list v2</p>"}))
        self.alice_box.update_event(event["id"], {"location": {"displayName": "Room 2"}})
        stats = self.o365_sync(self.alice)
        self.assertEqual(meeting.location, "Room 2")
        self.assertEqual(stats.counts["events"]["updated"], 1)
        self.assertNotIn("<script", str(meeting.description))
