# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sync Office 365 events: Outlook meetings logged as Meeting activities on contact timelines."""

import logging
import re
from datetime import datetime, timedelta, timezone

from odoo import fields, sql_db
from odoo.addons.office365_calendar_sync.services.runstats import RunStats
from odoo.tests import tagged
from odoo.tools import html2plaintext, mute_logger

from .common import Office365Case

_logger = logging.getLogger(__name__)
PARAM = "office365_calendar_sync."


def _dt(value):
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _links_to(message, record):
    """Whether ``message``'s body links to ``record`` (Odoo's chatter record link)."""
    pattern = r"data-oe-model=[\"']%s[\"'] data-oe-id=[\"']%d[\"']" % (record._name, record.id)
    return bool(re.search(pattern, str(message.body)))


def _who(*emails):
    return [{"emailAddress": {"address": email, "name": email.split("@")[0]}} for email in emails]


@tagged("post_install", "-at_install")
class TestInboundEvents(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "internal_domains", "example.com")
        params.set_param(PARAM + "create_contacts", "0")
        cls.alice, cls.alice_box = cls._o365_user("alice", options=("events",))
        cls.bob, cls.bob_box = cls._o365_user("bob", options=("events",))
        cls.carol, _carol_box = cls._o365_user("carol")
        partners = cls.env["res.partner"]
        cls.client_co = partners.create({"name": "Client Co", "is_company": True})
        cls.dan = partners.create(
            {"name": "Dan", "email": "dan@client.com", "parent_id": cls.client_co.id}
        )
        cls.eve = partners.create(
            {"name": "Eve", "email": "Eve <EVE@client.com>", "parent_id": cls.client_co.id}
        )
        cls.zed = partners.create({"name": "Zed", "email": "zed@other.org"})
        cls.meeting_type = cls.env.ref("mail.mail_activity_data_meeting")
        cls.start = (fields.Datetime.now() + timedelta(days=2)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )

    def setUp(self):
        super().setUp()
        # The emulator lives for the class; the database rolls back after each test.
        for box in (self.alice_box, self.bob_box):
            box.events.clear()
            box.transactions.clear()
            box.sync_states.clear()
        self.emulator.faults.clear()

    # ------------------------------------------------------------------
    def _create(self, box, attendees=("dan@client.com",), organizer=None, **kw):
        payload = {
            "subject": kw.pop("subject", "Quarterly review"),
            "start": _dt(kw.pop("start", self.start)),
            "end": _dt(kw.pop("end", self.start + timedelta(hours=1))),
            "attendees": _who(*attendees),
            "body": {"contentType": "html", "content": kw.pop("body", "<p>Agenda</p>")},
            "location": {"displayName": kw.pop("location", "Room 1")},
            **kw,
        }
        if organizer:
            payload["organizer"] = {"emailAddress": {"address": organizer, "name": organizer}}
        return box.create_event(payload)

    def _logged_by_both(self, *contacts, **kwargs):
        """A meeting of alice's with ``contacts`` and bob, in both mailboxes, synced by alice
        then bob; returns (alice's event, bob's copy)."""
        event = self._create(self.alice_box, attendees=(*contacts, "bob@example.com"), **kwargs)
        copy = self._invite(self.bob_box, event)
        self.o365_sync(self.alice)
        self.o365_sync(self.bob)
        return event, copy

    def _invite(self, box, event):
        """The same meeting as received in another mailbox (same iCalUId): the copy the
        emulator delivered to an attendee of the tenant, else one made like it."""
        for item in box.events.values():
            if item["iCalUId"] == event["iCalUId"] and not item.get("seriesMasterId"):
                return box.render(item)
        copy = self._create(
            box,
            attendees=[a["emailAddress"]["address"] for a in event["attendees"]],
            organizer=event["organizer"]["emailAddress"]["address"],
            subject=event["subject"],
            start=datetime.fromisoformat(event["start"]["dateTime"][:19]),
            end=datetime.fromisoformat(event["end"]["dateTime"][:19]),
            recurrence=event.get("recurrence"),
        )
        box.events[copy["id"]]["iCalUId"] = event["iCalUId"]
        return copy

    def _activities(self, partner):
        return self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )

    def _meetings(self):
        return self.env["office365.inbound.event"].search([])

    def _timeline_notes(self, partner, done=False):
        """The meeting notes on ``partner``'s timeline (not its activities' done messages)."""
        start = "<p>Meeting done:" if done else "<p>Meeting <a"
        return partner.message_ids.filtered(lambda m: str(m.body).startswith(start))

    # ------------------------------------------------------------------
    def test_teams_meeting_shows_its_join_link_on_the_timeline(self):
        event = self._create(
            self.alice_box,
            subject="Teams review",
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
        )
        url = (event.get("onlineMeeting") or {}).get("joinUrl")
        self.assertTrue(url and url.startswith("https://"), "the emulator gives Teams links")
        self.o365_sync(self.alice)
        meeting = self._meetings()
        self.assertEqual(meeting.join_url, url)
        note = str(self._activities(self.dan).note)
        self.assertIn(f'<a href="{url}"', note)
        self.assertIn("Join the Teams meeting", note)
        # Private since it was logged: nothing more is copied, and the link goes too.
        self.alice_box.update_event(event["id"], {"sensitivity": "private"})
        self.o365_sync(self.alice)
        self.assertFalse(meeting.join_url)
        self.assertNotIn(url, str(self._activities(self.dan).note))

    def test_meeting_with_two_contacts_of_one_company_is_one_activity_on_it(self):
        self._create(
            self.alice_box,
            attendees=("dan@client.com", "eve@client.com", "bob@example.com", "carol@example.com"),
            subject="Réunion 🚀 اجتماع",
        )
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["events"]["created"], 1)
        meeting = self._meetings()
        self.assertEqual(len(meeting), 1)
        self.assertEqual(meeting.partner_ids, self.dan | self.eve)
        self.assertEqual(meeting.company_partner_id, self.client_co)
        self.assertEqual(meeting.internal_user_ids, self.alice | self.bob | self.carol)
        self.assertEqual(
            (meeting.start, meeting.stop), (self.start, self.start + timedelta(hours=1))
        )
        # Both contacts belong to Client Co: ONE Meeting activity, on the company (not one
        # per contact, which gave the organizer a to-do per contact).
        self.assertEqual(meeting.activity_partner_id, self.client_co)
        self.assertFalse(self._activities(self.dan) | self._activities(self.eve))
        for partner in (self.client_co,):
            activity = self._activities(partner)
            self.assertEqual(len(activity), 1)
            self.assertEqual(activity.activity_type_id, self.meeting_type)
            self.assertEqual(activity.user_id, self.alice)
            self.assertEqual(activity.summary, "Réunion 🚀 اجتماع")
            self.assertEqual(activity.o365_inbound_event_id, meeting)
            note = str(activity.note)
            for text in ("alice", "bob", "carol", "Dan", "Eve", "Client Co", "Room 1", "Agenda"):
                self.assertIn(text, note)
            self.assertIn("<li><b>Location:</b> Room 1</li>", note)
            # Each contact once, by name (not "Client Co, Dan": the company has its own line).
            self.assertIn("<li><b>External attendees:</b> Dan, Eve</li>", note)
            self.assertIn("<p>Agenda</p>", note)
            self.assertEqual(activity.date_deadline, self.start.date())
        # each contact's timeline shows the meeting, linking to the company
        for partner in (self.dan, self.eve):
            note = self._timeline_notes(partner)
            self.assertEqual(len(note), 1)
            self.assertTrue(_links_to(note, self.client_co), note.body)
            self.assertIn("Réunion 🚀 اجتماع", html2plaintext(str(note.body)))
        # a second run with nothing new changes nothing
        stats = self.o365_sync(self.alice)
        self.assertFalse(stats.counts["events"]["created"])
        self.assertEqual(len(self._activities(self.client_co)), 1)
        self.assertEqual(len(self._timeline_notes(self.dan)), 1)

    def test_same_meeting_in_several_mailboxes_is_logged_once(self):
        event = self._create(self.alice_box, attendees=("dan@client.com", "bob@example.com"))
        self._invite(self.bob_box, event)
        self.o365_sync(self.bob)  # the attendee syncs first: the activity goes to bob
        activity = self._activities(self.dan)
        self.assertEqual(activity.user_id, self.bob)
        self.o365_sync(self.alice)  # the organizer syncs: she gets hers, bob keeps his
        self.o365_sync(self.bob)
        meeting = self._meetings()
        self.assertEqual(len(meeting), 1)
        self.assertEqual(len(meeting.mailbox_ids), 2)
        self.assertEqual(meeting.user_id, self.alice)
        activities = self._activities(self.dan)
        self.assertEqual(activities.user_id, self.alice | self.bob)
        self.assertEqual(activities.activity_type_id, self.meeting_type)
        self.assertEqual(meeting.logged_activity_ids, activities)
        # both see it once in their own activities
        for user in (self.alice, self.bob):
            mine = self.env["mail.activity"].with_user(user).search([("user_id", "=", user.id)])
            self.assertEqual(len(mine), 1)

    def test_contacts_matched_by_email_unknown_and_internal(self):
        self._create(self.alice_box, attendees=(" DAN@Client.COM ",), subject="Matched")
        self._create(self.alice_box, attendees=("nobody@unknown.net",), subject="Unknown")
        self._create(self.alice_box, attendees=("bob@example.com",), subject="Internal")
        stats = self.o365_sync(self.alice)
        self.assertEqual(self._meetings().mapped("name"), ["Matched"])
        self.assertEqual(stats.counts["events"]["skipped"], 2)
        self.assertFalse(self.env["res.partner"].search([("email", "=", "nobody@unknown.net")]))
        # the admin allows creating contacts
        self.env["ir.config_parameter"].sudo().set_param(PARAM + "create_contacts", "1")
        self._create(self.alice_box, attendees=("new@unknown.net",), subject="New contact")
        self._create(
            self.alice_box,
            attendees=("dan@client.com", "Newer <NEWER@unknown.net>"),
            subject="Mixed",
        )
        self.o365_sync(self.alice)
        partner = self.env["res.partner"].search([("email", "=", "new@unknown.net")])
        self.assertEqual(len(partner), 1)
        self.assertEqual(self._activities(partner).summary, "New contact")
        newer = self.env["res.partner"].search([("email_normalized", "=", "newer@unknown.net")])
        # two companies: on the first contact in Outlook's order, a note on the other one
        mixed = self._meetings().filtered(lambda m: m.name == "Mixed")
        self.assertEqual(mixed.activity_partner_id, self.dan)
        self.assertFalse(self._activities(newer))
        self.assertIn("Mixed", str(self._timeline_notes(newer).body))
        # an internal-only meeting is still never logged
        self.assertNotIn("Internal", self._meetings().mapped("name"))

    def test_a_shared_address_goes_to_the_first_active_contact(self):
        """Duplicates sharing an address (a CRM has them): the meeting goes to the contact of
        lowest id among the active ones, whatever their number; an archived one never gets it.
        An archived colleague's address is not a colleague's."""
        partners = self.env["res.partner"]
        archived = partners.create({"name": "Old Fay", "email": "fay@client.com", "active": False})
        first = partners.create({"name": "Fay", "email": "FAY@client.com"})
        partners.create([{"name": f"Fay {n}", "email": "fay@client.com"} for n in range(3)])
        self.assertLess(archived.id, first.id)
        gone = self.env["res.users"].create(
            {"login": "gone", "name": "Gone", "email": "gone@client.com"}
        )
        gone.active = False
        self._create(self.alice_box, attendees=("fay@client.com", "gone@client.com"), subject="Fay")
        self.o365_sync(self.alice)
        meeting = self._meetings()
        self.assertEqual(meeting.mapped("name"), ["Fay"])
        fays = meeting.partner_ids.filtered(lambda p: p.email_normalized == "fay@client.com")
        self.assertEqual(fays, first)
        self.assertEqual(meeting.activity_partner_id, first)
        self.assertNotIn(gone, meeting.internal_user_ids)
        self.assertFalse(self._activities(archived.with_context(active_test=False)))

    def test_invited_by_a_contact_and_default_internal_domains(self):
        self.env["ir.config_parameter"].sudo().set_param(PARAM + "internal_domains", "")
        # a contact invites alice: logged on the contact's timeline
        self._create(
            self.alice_box,
            attendees=("alice@example.com",),
            organizer="dan@client.com",
            subject="Invited by Dan",
        )
        # default internal domains (company's and users'): alice + bob is internal
        self._create(self.alice_box, attendees=("bob@example.com",), subject="Internal")
        self.o365_sync(self.alice)
        self.assertEqual(self._meetings().mapped("name"), ["Invited by Dan"])
        activity = self._activities(self.dan)
        self.assertEqual(activity.user_id, self.alice)
        self.assertIn("dan@client.com", str(activity.note))
        # alice removes the invitation from her calendar: gone, with a note on Dan
        invited = next(ev for ev in self.o365_events(self.alice_box) if "Dan" in ev["subject"])
        self.alice_box.delete_event(invited["id"])
        self.o365_sync(self.alice)
        self.assertFalse(self._activities(self.dan))
        notes = self.dan.message_ids.filtered(lambda m: "removed from Outlook" in str(m.body))
        self.assertEqual(len(notes), 1)

    def test_meeting_created_meanwhile_elsewhere_is_joined(self):
        self._create(self.alice_box, subject="Raced\x00 meeting")
        self.o365_sync(self.alice)
        meeting = self._meetings()
        self.assertEqual(meeting.name, "Raced meeting")
        stats = RunStats()
        row = {"user_id": self.bob.id, "outlook_event_id": "bob-copy", "change_key": "k"}
        vals = [
            {
                "name": "Raced meeting",
                "ical_uid": meeting.ical_uid,
                "occurrence_key": "",
                "organizer_key": meeting.organizer_key,
                "mailbox_ids": [(0, 0, row)],
            },
            {
                "name": "Other",
                "ical_uid": "other",
                "mailbox_ids": [(0, 0, {**row, "outlook_event_id": "x"})],
            },
        ]
        with mute_logger("odoo.sql_db"):
            created = self.env["office365.inbound.event"]._o365_create_meetings(vals, stats)
        self.assertEqual(len(created), 2)
        self.assertIn(meeting, created)
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.bob)

    def test_private_events(self):
        private = self._create(self.alice_box, sensitivity="private", subject="Private")
        public = self._create(self.alice_box, subject="Public")
        self.o365_sync(self.alice)
        self.assertEqual(self._activities(self.dan).mapped("summary"), ["Public"])
        blocked = self._meetings().filtered(lambda m: m.state == "private")
        self.assertEqual(len(blocked), 1)
        self.assertFalse(blocked.name or blocked.description or blocked.partner_ids)
        # private -> public: still not logged
        self.alice_box.update_event(private["id"], {"sensitivity": "normal"})
        # public -> private: the activity stays, but nothing more of it is copied (see
        # TestInboundAccess for the body and the other fields)
        self.alice_box.update_event(
            public["id"], {"sensitivity": "private", "subject": "Public now private"}
        )
        self.o365_sync(self.alice)
        self.assertEqual(self._activities(self.dan).mapped("summary"), ["Public"])
        # a user who includes private events gets them logged
        self.bob._o365_settings().o365_include_private = True
        self._create(self.bob_box, sensitivity="private", subject="Bob private")
        self.o365_sync(self.bob)
        self.assertIn("Bob private", self._activities(self.dan).mapped("summary"))

    def test_category_semantics(self):
        self.alice._o365_settings().o365_exclude_categories = "Personal, Holiday"
        event = self._create(self.alice_box, categories=["personal"])
        self.o365_sync(self.alice)
        self.assertFalse(self._activities(self.dan))
        # excluded -> synced category: logged
        self.alice_box.update_event(event["id"], {"categories": ["Clients"]})
        self.o365_sync(self.alice)
        self.assertEqual(len(self._activities(self.dan)), 1)
        # logged -> excluded category: not removed, still updated
        self.alice_box.update_event(event["id"], {"categories": ["Holiday"], "subject": "Moved"})
        self.o365_sync(self.alice)
        self.assertEqual(self._activities(self.dan).summary, "Moved")
        # include list: only its categories are logged
        self.bob._o365_settings().o365_include_categories = "Clients"
        self._create(self.bob_box, subject="Other", categories=["Misc"])
        self._create(self.bob_box, subject="Client work", categories=["clients"])
        self.o365_sync(self.bob)
        self.assertEqual(
            sorted(self._activities(self.dan).mapped("summary")), ["Client work", "Moved"]
        )

    def test_events_created_by_odoo_are_never_logged(self):
        self._create(self.alice_box, categories=["Odoo"])
        stats = self.o365_sync(self.alice)
        self.assertFalse(self._meetings())
        self.assertEqual(stats.counts["events"]["skipped"], 1)

    def test_invitations_for_odoo_meetings_are_not_logged(self):
        event = self._create(self.alice_box, attendees=("dan@client.com", "bob@example.com"))
        # the organizer's event was pushed by Odoo (its link knows the iCalUId)
        self.env["office365.link"].sudo().create(
            {
                "user_id": self.alice.id,
                "kind": "meeting",
                "res_model": "calendar.event",
                "res_id": 1,
                "event_id": "pushed-by-odoo",
                "ical_uid": event["iCalUId"],
                "state": "synced",
            }
        )
        self._invite(self.bob_box, event)
        stats = self.o365_sync(self.bob)
        self.assertFalse(self._meetings())
        self.assertEqual(stats.counts["events"]["skipped"], 1)

    def test_updates_and_cancellation(self):
        event = self._create(self.alice_box, attendees=("dan@client.com", "eve@client.com"))
        self.o365_sync(self.alice)
        later = self.start + timedelta(days=1, hours=2)
        self.alice_box.update_event(
            event["id"],
            {
                "start": _dt(later),
                "end": _dt(later + timedelta(hours=2)),
                "location": {"displayName": "Room 2"},
                "subject": "Review (moved)",
                "body": {"contentType": "html", "content": "<p>New agenda</p>"},
                "attendees": _who("dan@client.com", "zed@other.org"),
            },
        )
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["events"]["updated"], 1)
        activity = self._activities(self.dan)
        self.assertEqual(activity.summary, "Review (moved)")
        self.assertEqual(activity.date_deadline, later.date())
        self.assertIn("Room 2", str(activity.note))
        self.assertIn("New agenda", str(activity.note))
        self.assertFalse(self._activities(self.eve))  # no longer invited
        # two companies now: the activity left the company for the first contact, Dan; Zed's
        # timeline shows the meeting by a note
        self.assertFalse(self._meetings().company_partner_id)
        self.assertFalse(self._activities(self.client_co))
        self.assertEqual(len(self._activities(self.dan)), 1)
        self.assertFalse(self._activities(self.zed))
        self.assertEqual(len(self._timeline_notes(self.zed)), 1)
        # cancelled by the organizer: open activities removed, a note on the contacts
        self.alice_box.cancel_event(event["id"])
        stats = self.o365_sync(self.alice)
        self.assertEqual(stats.counts["events"]["deleted"], 1)
        self.assertFalse(self._activities(self.dan) | self._activities(self.zed))
        note = self.dan.message_ids.filtered(lambda m: "cancelled in Outlook" in str(m.body))
        self.assertEqual(len(note), 1)
        self.assertIn("Review (moved)", str(note.body))
        self.assertEqual(self._meetings().state, "cancelled")

    def test_attendee_copy_cancelled_and_removed(self):
        event, copy = self._logged_by_both("dan@client.com")
        meeting = self._meetings()
        self.assertEqual(len(meeting.logged_activity_ids), 2)  # alice's and bob's, on dan
        # bob declines (his copy leaves his calendar): the meeting still exists for alice,
        # bob's activity goes
        self.bob_box.api_respond(copy["id"], "declined")
        self.assertNotIn(copy["id"], self.bob_box.events)
        self.o365_sync(self.bob)
        self.assertEqual(meeting.state, "logged")
        self.assertEqual(meeting.logged_activity_ids.mapped("res_model"), ["res.partner"])
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice)
        # while the organizer syncs, an attendee's copy marked cancelled only takes that
        # attendee out
        copy = self._invite(self.bob_box, event)
        self.o365_sync(self.bob)
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice | self.bob)
        self.bob_box.cancel_event(copy["id"])
        self.o365_sync(self.bob)
        self.assertEqual(meeting.state, "logged")
        self.assertEqual(meeting.mailbox_ids.user_id, self.alice)
        self.assertEqual(len(self._activities(self.dan)), 1)
        # the organizer's cancellation cancels it
        self.alice_box.cancel_event(event["id"])
        self.o365_sync(self.alice)
        self.assertEqual(meeting.state, "cancelled")
        self.assertFalse(self._activities(self.dan))

    def test_all_day_and_recurring(self):
        day = (self.start + timedelta(days=1)).date()
        self._create(
            self.alice_box,
            subject="Offsite",
            isAllDay=True,
            start=datetime.combine(day, datetime.min.time()),
            end=datetime.combine(day + timedelta(days=1), datetime.min.time()),
        )
        series = self._create(
            self.alice_box,
            subject="Weekly",
            attendees=("eve@client.com",),
            recurrence={
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [self.start.strftime("%A").lower()],
                },
                "range": {
                    "type": "numbered",
                    "startDate": self.start.date().isoformat(),
                    "numberOfOccurrences": 3,
                },
            },
        )
        self.o365_sync(self.alice)
        offsite = self._activities(self.dan)
        self.assertEqual((offsite.summary, offsite.date_deadline), ("Offsite", day))
        self.assertIn("(all day)", str(offsite.note))
        weekly = self._activities(self.eve)
        self.assertEqual(len(weekly), 3)
        self.assertEqual(
            sorted(weekly.mapped("date_deadline")),
            [self.start.date() + timedelta(weeks=n) for n in range(3)],
        )
        # one occurrence changed: only its own activity follows
        occurrences = sorted(
            (ev for ev in self.o365_events(self.alice_box) if ev.get("seriesMasterId")),
            key=lambda ev: ev["start"]["dateTime"],
        )
        occurrences = occurrences or sorted(
            self.alice_box.series_instances(
                self.alice_box.events[series["id"]],
                self.start.replace(tzinfo=timezone.utc) - timedelta(days=1),
                self.start.replace(tzinfo=timezone.utc) + timedelta(weeks=4),
            ),
            key=lambda ev: ev["start"]["dateTime"],
        )
        self.alice_box.update_event(occurrences[1]["id"], {"subject": "Weekly (special)"})
        self.o365_sync(self.alice)
        self.assertEqual(
            sorted(self._activities(self.eve).mapped("summary")),
            ["Weekly", "Weekly", "Weekly (special)"],
        )
        # deleting the series removes the (future) occurrences
        self.alice_box.delete_event(series["id"])
        self.o365_sync(self.alice)
        self.assertFalse(self._activities(self.eve))
        self.assertEqual(len(self._activities(self.dan)), 1)

    def test_deleted_series_keeps_the_past_occurrences(self):
        first = self.start - timedelta(weeks=2)
        series = self._create(
            self.alice_box,
            subject="Standup",
            start=first,
            end=first + timedelta(minutes=15),
            recurrence={
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [first.strftime("%A").lower()],
                },
                "range": {
                    "type": "numbered",
                    "startDate": first.date().isoformat(),
                    "numberOfOccurrences": 3,
                },
            },
        )
        self.o365_sync(self.alice)
        self.assertEqual(len(self._activities(self.dan)), 3)
        self.alice_box.delete_event(series["id"])
        self.o365_sync(self.alice)
        # the two occurrences already held stay (the daily job closes them as done)
        kept = self._activities(self.dan)
        self.assertEqual(
            sorted(kept.mapped("date_deadline")),
            [first.date(), (first + timedelta(weeks=1)).date()],
        )
        self.assertEqual(self.env["office365.inbound.event"]._cron_close_ended(), 2)
        self.assertFalse(self._activities(self.dan))

    def test_delta_reset_resyncs_without_duplicates(self):
        for n in range(3):
            self._create(self.alice_box, subject=f"Meeting {n}")
        self.o365_sync(self.alice)
        self.assertEqual(len(self._activities(self.dan)), 3)
        self.emulator.faults.add("expire_delta", mailbox="alice@example.com")
        self._create(self.alice_box, subject="Meeting 3")
        with self.assertLogs("odoo.addons.office365_calendar_sync", level="WARNING"):
            stats = self.o365_sync(self.alice)
        self.assertFalse(stats.fatal)
        self.assertEqual(len(self._activities(self.dan)), 4)
        self.assertEqual(len(self._meetings()), 4)

    def test_bad_input_is_reported_and_the_rest_syncs(self):
        base = {
            "type": "singleInstance",
            "start": _dt(self.start),
            "end": _dt(self.start + timedelta(hours=1)),
            "organizer": {"emailAddress": {"address": "alice@example.com"}},
            "attendees": _who("dan@client.com"),
        }
        many = _who(*[f"guest{n}@crowd.org" for n in range(497)], "eve@client.com")
        many += [{"emailAddress": {"name": "No address"}}, {"emailAddress": None}]
        huge = "<p>" + "x" * 300000 + "</p>"
        events = [
            {
                **base,
                "id": "tz",
                "iCalUId": "u1",
                "subject": "Bad zone",
                "start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "Mars Standard Time"},
            },
            {**base, "id": "noend", "iCalUId": "u2", "subject": "No end", "end": None},
            {
                **base,
                "id": "back",
                "iCalUId": "u3",
                "subject": "Backwards",
                "end": _dt(self.start - timedelta(hours=1)),
            },
            {**base, "id": "crowd", "iCalUId": "u4", "subject": "Crowd", "attendees": many},
            {
                **base,
                "id": "rtl",
                "iCalUId": "u5",
                "subject": "مرحبا 👋 שלום",
                "body": {"contentType": "html", "content": huge},
            },
        ]
        stats = RunStats()
        model = self.env["office365.inbound.event"]
        account = self.alice._o365_account()
        model._o365_process(account, events, [], stats)
        messages = " | ".join(item.message for item in stats.items)
        self.assertEqual(stats.counts["events"]["failed"], 3)
        self.assertIn("Unknown time zone 'Mars Standard Time'", messages)
        self.assertIn("missing start or end", messages)
        self.assertIn("before start", messages)
        self.assertEqual(stats.counts["events"]["created"], 2)
        crowd = model.search([("ical_uid", "=", "u4")])
        self.assertEqual(crowd.partner_ids, self.eve)
        rtl = self._activities(self.dan)
        self.assertEqual(rtl.summary, "مرحبا 👋 שלום")
        self.assertIn("Description truncated", str(rtl.note))
        self.assertLess(len(str(rtl.note)), 30000)

    def test_edits_in_odoo(self):
        event, _copy = self._logged_by_both("dan@client.com")
        activity = self._activities(self.dan).filtered(lambda a: a.user_id == self.alice)
        new_day = self.start.date() + timedelta(days=3)
        self.emulator.reset_counters()
        # the organizer moves the meeting in Odoo: queued, no HTTP in her transaction
        activity.with_user(self.alice).write({"date_deadline": new_day})
        self.assertFalse(self.emulator.counters["total"])
        meeting = self._meetings()
        self.assertTrue(meeting.push_values)
        todo = meeting.logged_activity_ids.filtered(lambda a: a.user_id == self.bob)
        self.assertEqual(todo.date_deadline, new_day)
        self.o365_sync(self.alice)
        moved = self.alice_box.events[event["id"]]
        self.assertEqual(moved["start"]["dateTime"][:10], new_day.isoformat())
        self.assertEqual(moved["start"]["dateTime"][11:16], self.start.strftime("%H:%M"))
        self.assertFalse(meeting.push_values)
        # the organizer rewrites the description in the activity (details block kept)
        activity.invalidate_recordset()
        activity.with_user(self.alice).write(
            {"note": str(activity.note).replace("Agenda", "Agenda v2")}
        )
        self.o365_sync(self.alice)
        body = self.alice_box.events[event["id"]]["body"]["content"]
        self.assertIn("Agenda v2", body)
        self.assertNotIn("External attendees", body)
        self.assertIn("Agenda v2", str(todo.note))
        # the organizer changes the location on the meeting record
        meeting.with_user(self.alice).sudo().write({"location": "Board room"})
        self.o365_sync(self.alice)
        self.assertEqual(
            self.alice_box.events[event["id"]]["location"]["displayName"], "Board room"
        )
        self.assertIn("Board room", str(activity.note))
        # an attendee's edit stays in Odoo only, and is not overwritten by Outlook
        todo.with_user(self.bob).write({"note": "<p>Bob's own notes</p>"})
        self.assertFalse(meeting.push_values)
        self.alice_box.update_event(
            event["id"], {"body": {"contentType": "html", "content": "<p>Changed</p>"}}
        )
        self.o365_sync(self.alice)
        self.assertIn("Bob's own notes", str(todo.note))
        self.assertNotIn("Changed", str(todo.note))
        self.assertIn("Changed", str(activity.note))  # the others still follow Outlook
        # a subject edited in Odoo (even by the organizer) stays in Odoo only
        activity.with_user(self.alice).write({"summary": "Our own title"})
        self.alice_box.update_event(event["id"], {"subject": "Outlook title"})
        self.o365_sync(self.alice)
        self.assertEqual(activity.summary, "Our own title")
        self.assertEqual(todo.summary, "Outlook title")
        self.assertEqual(self.alice_box.events[event["id"]]["subject"], "Outlook title")
        self.assertNotIn("Bob", self.alice_box.events[event["id"]]["body"]["content"])

    def test_cron_closes_ended_meetings(self):
        past = fields.Datetime.now() - timedelta(days=1)
        self._create(
            self.alice_box, subject="Done meeting", start=past, end=past + timedelta(hours=1)
        )
        self._create(self.alice_box, subject="Future meeting")
        self.o365_sync(self.alice)
        self.assertEqual(len(self._activities(self.dan)), 2)
        model = self.env["office365.inbound.event"]
        self.assertEqual(model._cron_close_ended(), 1)
        self.assertEqual(self._activities(self.dan).summary, "Future meeting")
        done = self.dan.message_ids.filtered(lambda m: "Done meeting" in str(m.body))
        self.assertEqual(len(done), 1)
        text = html2plaintext(str(done.body))
        self.assertIn("Meeting done", text)
        self.assertIn("Room 1", text)
        self.assertEqual(done.mail_activity_type_id, self.meeting_type)
        self.assertEqual(model._cron_close_ended(), 0)  # idempotent

    def test_done_message_reads_like_core(self):
        """The close's "done" message is core's template, as core renders it."""
        past = fields.Datetime.now() - timedelta(days=1)
        self._create(
            self.alice_box, subject="Done meeting", start=past, end=past + timedelta(hours=1)
        )
        self.o365_sync(self.alice)
        activity = self._activities(self.dan)
        self.assertEqual(len(activity), 1)
        core = self.env["ir.qweb"]._render(
            "mail.message_activity_done",
            # As core renders it when someone other than the assignee marks it done.
            {"activity": activity, "feedback": False, "display_assignee": True},
            minimal_qcontext=True,
        )
        self.assertEqual(self.env["office365.inbound.event"]._cron_close_ended(), 1)
        done = self.dan.message_ids.filtered(lambda m: m.mail_activity_type_id == self.meeting_type)
        self.assertEqual(len(done), 1)

        self.assertIn("Done meeting", html2plaintext(str(core)))
        self.assertIn("Room 1", html2plaintext(str(core)))
        # Posted the way core's _action_done posts it (the body is sanitized on the way in).
        by_core = self.dan.message_post(
            body=core, message_type="notification", subtype_xmlid="mail.mt_activities"
        )
        self.assertEqual(str(done.body), str(by_core.body))

    def test_cron_closes_ten_thousand_quickly(self):
        cr = self.env.cr
        past = fields.Datetime.now() - timedelta(hours=2)
        cr.execute(
            """
            INSERT INTO office365_inbound_event
                   (name, ical_uid, occurrence_key, state, start, stop, create_date, write_date)
            SELECT 'Bulk ' || n, 'bulk-' || n, '', 'logged', %s, %s, now(), now()
              FROM generate_series(1, 10000) n RETURNING id
            """,
            (past, past + timedelta(hours=1)),
        )
        meeting_ids = [row[0] for row in cr.fetchall()]
        cr.execute(
            """
            INSERT INTO mail_activity (res_model_id, res_model, res_id, activity_type_id,
                   summary, note, date_deadline, user_id, o365_inbound_event_id, active,
                   create_date, write_date)
            SELECT %s, 'res.partner', %s, %s, 'Bulk', '<p>details</p>', %s, %s, m, true,
                   now(), now()
              FROM unnest(%s) m
            """,
            (
                self.env["ir.model"]._get_id("res.partner"),
                self.dan.id,
                self.meeting_type.id,
                past.date(),
                self.alice.id,
                meeting_ids,
            ),
        )
        self.env.invalidate_all()
        # Batched work, not a query per activity (the time it takes is make bench's business).
        queries = sql_db.sql_counter
        closed = self.env["office365.inbound.event"]._cron_close_ended()
        queries = sql_db.sql_counter - queries
        _logger.info("Closing 10,000 ended meetings' activities took %d queries", queries)
        self.assertEqual(closed, 10000)
        self.assertLess(queries, 2000, "closing 10,000 activities took %d queries" % queries)
        self.assertFalse(self._activities(self.dan))
        self.assertEqual(self.env["office365.inbound.event"]._cron_close_ended(), 0)

    def test_bulk_requests_and_queries(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "page_size", "1000")

        def run(count, tag):
            for n in range(count):
                self._create(
                    self.alice_box,
                    subject=f"{tag} {n}",
                    start=self.start + timedelta(hours=n),
                    end=self.start + timedelta(hours=n, minutes=30),
                    attendees=("dan@client.com", "eve@client.com") if n % 2 else ("zed@other.org",),
                )
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            self.o365_sync(self.alice)
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

        self.o365_sync(self.alice)  # warm-up: settings, tokens and caches of a first run
        queries_20 = run(20, "Small")
        queries_200 = run(200, "Large")
        _logger.info("Inbound sync queries: 20 events %d, 200 events %d", queries_20, queries_200)
        self.assertLessEqual(queries_200, queries_20 + 10, (queries_20, queries_200))
        # 2,000 new events: at most 2000 / page size + 2 Graph requests
        params.set_param(PARAM + "page_size", "100")
        for n in range(2000):
            start = self.start + timedelta(minutes=n)
            self._create(
                self.alice_box, subject=f"Bulk {n}", start=start, end=start + timedelta(minutes=5)
            )
        self.emulator.reset_counters()
        stats = self.o365_sync(self.alice)
        graph = [r for r in self.emulator.requests if r.path.startswith("/v1.0")]
        _logger.info("2,000 new Outlook events: %d Graph requests", len(graph))
        self.assertLessEqual(len(graph), 2000 // 100 + 2, [r.path for r in graph[:5]])
        self.assertEqual(stats.counts["events"]["created"], 2000)
        self.assertEqual(len(self._meetings()), 2220)

    # ------------------------------------------------------------------
    # One meeting, one to-do per user
    # ------------------------------------------------------------------
    def _mine(self, user, meeting):
        return meeting.logged_activity_ids.filtered(lambda a: a.user_id == user)

    def test_organizer_and_attendee_each_have_one_activity_on_the_company(self):
        self._logged_by_both("dan@client.com", "eve@client.com")
        self.o365_sync(self.alice)
        meeting = self._meetings()
        for user in (self.alice, self.bob):
            mine = self.env["mail.activity"].with_user(user).search([("user_id", "=", user.id)])
            self.assertEqual(len(mine), 1, user.login)
            self.assertEqual((mine.res_model, mine.res_id), ("res.partner", self.client_co.id))
            self.assertEqual(mine.o365_inbound_event_id, meeting)
            # the assignee follows the partner holding the activity, as for any activity
            self.assertIn(user.partner_id, self.client_co.message_partner_ids)
        for partner in (self.dan, self.eve):
            self.assertFalse(self._activities(partner))
            notes = self._timeline_notes(partner)
            self.assertEqual(len(notes), 1, "one note per contact, whatever the mailboxes")
            self.assertTrue(_links_to(notes, self.client_co))
            self.assertTrue(_links_to(notes, meeting))
            self.assertIn("with Dan, Eve, see Client Co", html2plaintext(str(notes.body)))
            # an internal note that notifies nobody
            self.assertEqual(notes.subtype_id, self.env.ref("mail.mt_note"))
            self.assertFalse(notes.notification_ids)

    def test_two_companies_first_contact_holds_the_activity(self):
        self._create(self.alice_box, attendees=("zed@other.org", "dan@client.com"))
        self.o365_sync(self.alice)
        meeting = self._meetings()
        self.assertFalse(meeting.company_partner_id)
        # Outlook's order: Zed is listed first
        self.assertEqual(meeting.activity_partner_id, self.zed)
        self.assertEqual(self._activities(self.zed).user_id, self.alice)
        self.assertFalse(self._activities(self.dan))
        # Two companies: each contact says theirs.
        self.assertIn(
            "<li><b>External attendees:</b> Dan (Client Co), Zed</li>",
            str(self._activities(self.zed).note),
        )
        note = self._timeline_notes(self.dan)
        self.assertEqual(len(note), 1)
        self.assertTrue(_links_to(note, self.zed))
        self.assertIn("Quarterly review", html2plaintext(str(note.body)))
        self.assertFalse(self._timeline_notes(self.zed))

    def test_contacts_join_and_the_anchor_leaves(self):
        event, _copy = self._logged_by_both("dan@client.com", "zed@other.org")
        meeting = self._meetings()
        self.assertEqual(meeting.activity_partner_id, self.dan)
        bobs = self._mine(self.bob, meeting)
        bobs.with_user(self.bob).write({"note": "<p>Bob's own notes</p>"})
        # a contact joins ahead of Dan in the list: the activities stay on Dan, the newcomer's
        # timeline gets the note
        newcomer = self.env["res.partner"].create({"name": "Nia", "email": "nia@third.org"})
        self.alice_box.update_event(
            event["id"],
            {
                "attendees": _who(
                    "nia@third.org", "dan@client.com", "zed@other.org", "bob@example.com"
                )
            },
        )
        self.o365_sync(self.alice)
        self.assertEqual(meeting.activity_partner_id, self.dan)
        self.assertEqual(len(self._timeline_notes(newcomer)), 1)
        self.assertEqual(len(self._timeline_notes(self.zed)), 1, "told once")
        self.assertEqual(self._activities(self.dan).user_id, self.alice | self.bob)
        # Dan leaves: the activities move to the first contact left (Nia), Bob's note with his
        # activity; nobody has two
        alices = self._mine(self.alice, meeting)
        self.alice_box.update_event(
            event["id"], {"attendees": _who("nia@third.org", "zed@other.org", "bob@example.com")}
        )
        self.o365_sync(self.alice)
        self.o365_sync(self.bob)
        self.assertEqual(meeting.activity_partner_id, newcomer)
        self.assertFalse(self._activities(self.dan))
        self.assertEqual(self._activities(newcomer), alices | bobs, "moved, not re-created")
        self.assertIn("Bob's own notes", str(bobs.note))
        self.assertEqual(len(self._timeline_notes(newcomer)), 1)
        self.assertEqual(len(self._timeline_notes(self.zed)), 1)

    def test_daily_close_marks_the_one_activity_done_and_tells_the_others(self):
        past = fields.Datetime.now() - timedelta(days=1)
        self._logged_by_both(
            "dan@client.com",
            "zed@other.org",
            subject="Done meeting",
            start=past,
            end=past + timedelta(hours=1),
        )
        meeting = self._meetings()
        self.assertEqual(len(self._activities(self.dan)), 2)  # alice's and bob's
        model = self.env["office365.inbound.event"]
        # one activity per batch: the meeting's two fall in two batches, one entry still
        self.assertEqual(model._cron_close_ended(batch_size=1), 2)
        self.assertFalse(meeting.logged_activity_ids)
        done = self.dan.message_ids.filtered(lambda m: m.mail_activity_type_id == self.meeting_type)
        self.assertEqual(len(done), 2, "core's done message for each user's activity")
        entry = self._timeline_notes(self.zed, done=True)
        self.assertEqual(len(entry), 1)
        self.assertTrue(_links_to(entry, self.dan))
        self.assertIn("Done meeting", html2plaintext(str(entry.body)))
        self.assertFalse(self._timeline_notes(self.dan, done=True))
        self.assertEqual(model._cron_close_ended(), 0)
        self.assertEqual(len(self._timeline_notes(self.zed, done=True)), 1)

    def test_activities_logged_per_contact_converge_to_one_per_user(self):
        """Meetings logged when each contact got the organizer's activity and each other
        attendee a to-do on the meeting: the next run that reads the meeting keeps one per
        user, with the note a user rewrote."""
        event, _copy = self._logged_by_both("dan@client.com", "zed@other.org")
        meeting = self._meetings()
        kept_alice = self._mine(self.alice, meeting)
        kept_bob = self._mine(self.bob, meeting)
        # as it was logged before: alice's activity on each contact, bob's to-do on the meeting
        on_partner = self.env["ir.model"]._get_id("res.partner")
        inbound = {"office365_calendar_sync_inbound": True, "mail_activity_quick_update": True}
        activities = self.env["mail.activity"].sudo().with_context(**inbound)
        extra_alice = activities.create(
            {
                "res_model_id": on_partner,
                "res_id": self.zed.id,
                "user_id": self.alice.id,
                "activity_type_id": self.meeting_type.id,
                "summary": "Quarterly review",
                "note": kept_alice.note,
                "date_deadline": kept_alice.date_deadline,
                "o365_inbound_event_id": meeting.id,
            }
        )
        kept_bob.with_context(**inbound).write(
            {"res_model_id": self.env["ir.model"]._get_id(meeting._name), "res_id": meeting.id}
        )
        extra_bob = activities.create(
            {
                "res_model_id": on_partner,
                "res_id": self.dan.id,
                "user_id": self.bob.id,
                "activity_type_id": self.meeting_type.id,
                "summary": "Quarterly review",
                "date_deadline": kept_alice.date_deadline,
                "o365_inbound_event_id": meeting.id,
            }
        )
        kept_bob.with_user(self.bob).write({"note": "<p>Bob's own notes</p>"})
        self.env.cr.execute(
            "DELETE FROM office365_inbound_event_noted_partner_rel WHERE inbound_event_id = %s",
            [meeting.id],
        )
        meeting.invalidate_recordset()
        meeting.sudo().with_context(**inbound).activity_partner_id = False
        self.zed.message_ids.unlink()
        # the organizer changes the subject: the run reads the meeting again
        self.alice_box.update_event(event["id"], {"subject": "Quarterly review (v2)"})
        self.o365_sync(self.alice)
        self.assertEqual(meeting.logged_activity_ids, kept_alice | kept_bob)
        self.assertFalse((extra_alice | extra_bob).exists())
        self.assertEqual(meeting.activity_partner_id, self.dan)
        self.assertEqual(self._activities(self.dan), kept_alice | kept_bob)
        self.assertIn("Bob's own notes", str(kept_bob.note), "the edited note is kept")
        self.assertEqual(kept_bob.summary, "Quarterly review (v2)")
        self.assertEqual(len(self._timeline_notes(self.zed)), 1)
        # and it stays so
        self.o365_sync(self.alice)
        self.o365_sync(self.bob)
        self.assertEqual(meeting.logged_activity_ids, kept_alice | kept_bob)
        self.assertEqual(len(self._timeline_notes(self.zed)), 1)

    def test_timeline_notes_are_batched(self):
        """The notes of a page cost a few queries, not one per meeting or contact."""

        def run(count, tag):
            for n in range(count):
                start = self.start + timedelta(hours=n)
                self._create(
                    self.alice_box,
                    subject=f"{tag} {n}",
                    start=start,
                    end=start + timedelta(minutes=30),
                    attendees=("zed@other.org", "dan@client.com", "eve@client.com"),
                )
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            self.o365_sync(self.alice)
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

        self.o365_sync(self.alice)
        small, large = run(5, "Small"), run(50, "Large")
        _logger.info(
            "Inbound sync with timeline notes: 5 meetings %d, 50 meetings %d", small, large
        )
        self.assertEqual(len(self._timeline_notes(self.eve)), 55)
        self.assertLessEqual(large, small + 10, (small, large))
