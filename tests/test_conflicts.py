# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Items changed on both sides between two syncs, through the real engine and the emulator:
field-level merge, the same-field rule, delete versus update, and prevented operations."""

from datetime import timedelta

from odoo import Command, fields
from odoo.tests import tagged

from .common import Office365Case


@tagged("post_install", "-at_install")
class TestConflicts(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user, cls.mailbox = cls._o365_user("conflict_ann", options=("activities",))
        cls.contact = cls.env["res.partner"].create(
            {"name": "Carl Contact", "email": "carl@customer.example.org"}
        )

    # ------------------------------------------------------------------
    def _meeting(self, location="Room A"):
        """A meeting organized by the user, pushed to Outlook; returns (meeting, Outlook id)."""
        start = fields.Datetime.now().replace(microsecond=0, second=0, minute=0) + timedelta(days=2)
        meeting = (
            self.env["calendar.event"]
            .with_user(self.user)
            .create(
                {
                    "name": "Budget review",
                    "start": start,
                    "stop": start + timedelta(hours=1),
                    "user_id": self.user.id,
                    "location": location,
                    "partner_ids": [Command.set([self.user.partner_id.id, self.contact.id])],
                }
            )
        )
        self._sync()
        link = self._link(meeting)
        self.assertEqual(link.state, "synced")
        self.assertTrue(link.event_id)
        return meeting.sudo(), link.event_id

    def _link(self, record):
        return (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", record._name), ("res_id", "=", record.id)])
        )

    def _sync(self):
        stats = self.o365_sync(self.user)
        self.assertFalse(stats.fatal)
        return stats

    def _outlook(self, event_id):
        return self.mailbox.events[event_id]

    def _outlook_edit(self, event_id, patch):
        """A user edit in Outlook (new changeKey, lastModifiedDateTime now)."""
        self.mailbox.update_event(event_id, patch)

    def _set_rules(self, **values):
        self.user._o365_settings().write(values)

    def _set_odoo_edit_time(self, meeting, minutes):
        """When Odoo's edit happened, relative to now (Outlook's edit is now); in tests write
        dates are the transaction's start, so they are set explicitly."""
        moment = fields.Datetime.now() + timedelta(minutes=minutes)
        self.env.cr.execute(
            "UPDATE calendar_event SET write_date = %s WHERE id = %s", (moment, meeting.id)
        )
        meeting.invalidate_recordset(["write_date"])

    @staticmethod
    def _outlook_start(event):
        return event["start"]["dateTime"][:16]

    # ------------------------------------------------------------------
    def test_edits_to_different_fields_both_survive(self):
        meeting, event_id = self._meeting()
        moved = meeting.start + timedelta(hours=3)
        self._outlook_edit(event_id, {"location": {"displayName": "Outlook room"}})
        meeting.with_user(self.user).write({"start": moved, "stop": moved + timedelta(hours=1)})
        self._sync()
        self.assertEqual(meeting.location, "Outlook room")  # Outlook's edit came in
        self.assertEqual(meeting.start, moved)  # Odoo's edit stayed
        event = self._outlook(event_id)
        self.assertEqual(event["location"]["displayName"], "Outlook room")
        self.assertEqual(self._outlook_start(event), moved.isoformat()[:16])  # and went out
        self.assertEqual(self._link(meeting).state, "synced")

    def _same_field_conflict(self, rule, odoo_newer=False):
        self._set_rules(o365_same_field_rule=rule)
        meeting, event_id = self._meeting()
        self._outlook_edit(event_id, {"location": {"displayName": "Outlook room"}})
        meeting.with_user(self.user).write({"location": "Odoo room"})
        # The link's last sync is now: an older Odoo edit is not newer than Outlook's.
        self._set_odoo_edit_time(meeting, 5 if odoo_newer else -5)
        self._sync()
        self._sync()  # a second run changes nothing more
        return meeting, self._outlook(event_id)

    def test_same_field_odoo_wins(self):
        meeting, event = self._same_field_conflict("odoo")
        self.assertEqual(meeting.location, "Odoo room")
        self.assertEqual(event["location"]["displayName"], "Odoo room")

    def test_same_field_outlook_wins(self):
        meeting, event = self._same_field_conflict("outlook", odoo_newer=True)
        self.assertEqual(meeting.location, "Outlook room")
        self.assertEqual(event["location"]["displayName"], "Outlook room")

    def test_same_field_newest_wins_outlook_newer(self):
        meeting, event = self._same_field_conflict("newest")
        self.assertEqual(meeting.location, "Outlook room")
        self.assertEqual(event["location"]["displayName"], "Outlook room")

    def test_same_field_newest_wins_odoo_newer(self):
        meeting, event = self._same_field_conflict("newest", odoo_newer=True)
        self.assertEqual(meeting.location, "Odoo room")
        self.assertEqual(event["location"]["displayName"], "Odoo room")

    def test_outlook_delete_vs_odoo_update_update_wins(self):
        self._set_rules(o365_delete_rule="update")
        meeting, event_id = self._meeting()
        self.mailbox.delete_event(event_id)
        meeting.with_user(self.user).write({"location": "Moved to room B"})
        self._sync()  # the update finds the event gone: created again (at the next push)
        self._sync()
        link = self._link(meeting)
        self.assertTrue(meeting.exists())
        self.assertEqual(link.state, "synced")
        self.assertNotEqual(link.event_id, event_id)  # created again
        self.assertEqual(self._outlook(link.event_id)["location"]["displayName"], "Moved to room B")

    def test_outlook_delete_vs_odoo_update_delete_wins(self):
        self._set_rules(o365_delete_rule="delete")
        meeting, event_id = self._meeting()
        self.mailbox.delete_event(event_id)
        meeting.with_user(self.user).write({"location": "Moved to room B"})
        self._sync()
        link = self._link(meeting)
        # The deletion stands: nothing is created again in Outlook.
        self.assertNotIn(event_id, self.mailbox.events)
        self.assertFalse(link.event_id)
        self.assertFalse(
            [ev for ev in self.o365_events(self.mailbox) if ev.get("subject") == "Budget review"]
        )

    def test_odoo_delete_vs_outlook_update_update_wins(self):
        self._set_rules(o365_delete_rule="update")
        meeting, event_id = self._meeting()
        self._outlook_edit(event_id, {"location": {"displayName": "Outlook room"}})
        meeting.with_user(self.user).unlink()
        self._sync()
        self.assertIn(event_id, self.mailbox.events)  # the updated Outlook event stays
        self.assertEqual(self._outlook(event_id)["location"]["displayName"], "Outlook room")

    def test_odoo_delete_vs_outlook_update_delete_wins(self):
        self._set_rules(o365_delete_rule="delete")
        meeting, event_id = self._meeting()
        self._outlook_edit(event_id, {"location": {"displayName": "Outlook room"}})
        meeting.with_user(self.user).unlink()
        self._sync()
        self.assertNotIn(event_id, self.mailbox.events)

    def test_prevent_outlook_operations_makes_odoo_read_only_source(self):
        """Outlook -> Odoo only: nothing is created, updated or deleted in Outlook."""
        meeting, event_id = self._meeting()
        self._set_rules(
            o365_prevent_outlook_create=True,
            o365_prevent_outlook_update=True,
            o365_prevent_outlook_delete=True,
        )
        meeting.with_user(self.user).write({"location": "Odoo only"})
        self._outlook_edit(
            event_id,
            {
                "start": {
                    "dateTime": self._outlook_start(self._outlook(event_id)),
                    "timeZone": "UTC",
                }
            },
        )
        self._outlook_edit(event_id, {"location": {"displayName": "Outlook room"}})
        self._sync()
        self.assertEqual(self._outlook(event_id)["location"]["displayName"], "Outlook room")
        new_meeting = (
            self.env["calendar.event"]
            .with_user(self.user)
            .create(
                {
                    "name": "Not for Outlook",
                    "start": meeting.start + timedelta(days=1),
                    "stop": meeting.stop + timedelta(days=1),
                    "user_id": self.user.id,
                }
            )
        )
        meeting.with_user(self.user).unlink()
        self._sync()
        self.assertIn(event_id, self.mailbox.events)  # not deleted in Outlook
        self.assertFalse(self._link(new_meeting).event_id)  # not created in Outlook
        self.assertFalse(
            [ev for ev in self.o365_events(self.mailbox) if ev.get("subject") == "Not for Outlook"]
        )

    def test_prevent_odoo_update_makes_outlook_changes_stay_out(self):
        """Odoo -> Outlook only: Outlook's edits never change Odoo."""
        meeting, event_id = self._meeting()
        self._set_rules(o365_prevent_odoo_update=True)
        self._outlook_edit(event_id, {"location": {"displayName": "Outlook room"}})
        stats = self._sync()
        self.assertEqual(meeting.location, "Room A")
        self.assertGreaterEqual(stats.counts["activities"]["skipped"], 1)
